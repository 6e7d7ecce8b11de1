// The plot of a verified `sophon-auto` encode (`output.quality.verified`):
// each chunk's mean VMAF over the title's time, its 1% low as a whisker,
// the chunk boundaries, the CRF each chunk got, and the target and floor
// lines. Pure geometry, so it is tested without a DOM; `QualityPlot.svelte`
// draws it as SVG.
import type { QualityInfo } from '../api/types';

/** One chunk as drawn: x from its start to its end, y of its mean and its 1% low. */
export interface ChunkBar {
  index: number;
  x0: number;
  x1: number;
  yMean: number;
  yLow: number;
  /** The chunk's CRF and mean as shown (`CRF 24.5`, `93.4`). */
  crf: string;
  mean: string;
  /** The chunk missed the floor. */
  low: boolean;
  /** Tooltip text: time span, VMAF mean and 1% low, CRF, encodes. */
  title: string;
}

/** The whole plot in pixels of a `width` × `height` box (y grows downwards). */
export interface QualityPlot {
  width: number;
  height: number;
  /** VMAF at the bottom and top of the plot area. */
  vmin: number;
  vmax: number;
  yTarget: number;
  yFloor: number;
  bars: ChunkBar[];
  /** Axis labels: VMAF ticks (y, text) and time ticks (x, text). */
  yTicks: { y: number; text: string }[];
  xTicks: { x: number; text: string }[];
  /** Plot area margins, pixels. */
  left: number;
  bottom: number;
}

const LEFT = 34;
const RIGHT = 14;
const TOP = 14;
const BOTTOM = 18;

/** Seconds as `m:ss`. */
function clock(s: number): string {
  const m = Math.floor(s / 60);
  const r = Math.floor(s % 60);
  return `${m}:${r.toString().padStart(2, '0')}`;
}

/** The plot of `q`, or null when the job was not verified chunk by chunk. */
export function qualityPlot(q: QualityInfo | null | undefined, width: number, height: number): QualityPlot | null {
  const v = q?.verified;
  if (!v || v.chunks.length === 0) return null;
  const end = Math.max(...v.chunks.map((c) => c.end_seconds), 0.001);
  const lows = v.chunks.map((c) => c.vmaf.p1);
  // Whole 5-point steps around what is drawn, never past 100.
  const vmin = Math.max(0, Math.floor(Math.min(...lows, v.chunk_floor_vmaf - 2) / 5) * 5);
  const vmax = 100;
  const x = (s: number) => LEFT + (s / end) * (width - LEFT - RIGHT);
  const y = (vmaf: number) => TOP + ((vmax - Math.max(vmin, Math.min(vmax, vmaf))) / (vmax - vmin)) * (height - TOP - BOTTOM);
  const bars = v.chunks.map((c) => ({
    index: c.index,
    x0: x(c.start_seconds),
    x1: x(c.end_seconds),
    yMean: y(c.vmaf.mean),
    yLow: y(c.vmaf.p1),
    crf: `CRF ${c.crf}`,
    mean: c.vmaf.mean.toFixed(1),
    low: c.vmaf.mean < v.chunk_floor_vmaf,
    title:
      `${clock(c.start_seconds)}–${clock(c.end_seconds)}: VMAF ${c.vmaf.mean.toFixed(1)} (1% low ${c.vmaf.p1.toFixed(1)}), ` +
      `CRF ${c.crf}, ${c.encodes === 1 ? '1 encode' : `${c.encodes} encodes`}`,
  }));
  const yTicks = [];
  for (let t = vmin; t <= vmax; t += vmax - vmin > 30 ? 10 : 5) yTicks.push({ y: y(t), text: `${t}` });
  const step = end > 600 ? 120 : end > 120 ? 30 : end > 30 ? 10 : end > 10 ? 5 : 1;
  const xTicks = [];
  for (let s = 0; s <= end + 1e-9; s += step) xTicks.push({ x: x(s), text: clock(s) });
  return {
    width,
    height,
    vmin,
    vmax,
    yTarget: y(v.target_vmaf),
    yFloor: y(v.chunk_floor_vmaf),
    bars,
    yTicks,
    xTicks,
    left: LEFT,
    bottom: height - BOTTOM,
  };
}
