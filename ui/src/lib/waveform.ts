// Waveform data as BBC audiowaveform writes it (what a job's
// `output.waveform` holds): the binary `.dat` (version 1, one channel;
// version 2, several) and the JSON form, per bbc/audiowaveform
// `doc/DataFormat.md`. Parsed here, drawn on a canvas by Waveform.svelte:
// a few dozen lines do not need the waveform-data package.

/** One waveform: for each pixel, the min and max sample of channel 0 (the mono mix). */
export interface WaveformData {
  sampleRate: number;
  samplesPerPixel: number;
  /** 8 (values -128..127) or 16 (-32768..32767). */
  bits: 8 | 16;
  channels: number;
  /** Pixels (min/max pairs per channel). */
  length: number;
  /** Channel 0's minima and maxima, one per pixel. */
  min: Int16Array;
  max: Int16Array;
}

/** Seconds of audio the waveform covers. */
export function duration(w: WaveformData): number {
  return (w.length * w.samplesPerPixel) / w.sampleRate;
}

function fail(why: string): never {
  throw new Error(`not audiowaveform data: ${why}`);
}

function build(sampleRate: number, samplesPerPixel: number, bits: number, channels: number, length: number, at: (i: number) => number): WaveformData {
  if (!(sampleRate > 0) || !(samplesPerPixel > 0)) fail('sample rate and samples per pixel must be positive');
  if (bits !== 8 && bits !== 16) fail(`bits ${bits}`);
  if (!(channels >= 1 && channels <= 24)) fail(`${channels} channels`);
  const min = new Int16Array(length);
  const max = new Int16Array(length);
  for (let x = 0; x < length; x++) {
    min[x] = at(2 * channels * x);
    max[x] = at(2 * channels * x + 1);
  }
  return { sampleRate, samplesPerPixel, bits, channels, length, min, max };
}

/**
 * The binary `.dat`: little-endian int32 version (1 or 2), uint32 flags (bit
 * 0 set: 8-bit values), int32 sample rate, int32 samples per pixel, uint32
 * length, then (version 2) int32 channels; data interleaved by channel,
 * min then max, int8 or int16.
 */
export function parseDat(buf: ArrayBuffer): WaveformData {
  const v = new DataView(buf);
  if (v.byteLength < 20) fail('shorter than the 20-byte header');
  const version = v.getInt32(0, true);
  if (version !== 1 && version !== 2) fail(`version ${version}`);
  const bits = v.getUint32(4, true) & 1 ? 8 : 16;
  const channels = version === 2 ? v.getInt32(20, true) : 1;
  const start = version === 2 ? 24 : 20;
  const length = v.getUint32(16, true);
  const size = bits / 8;
  if (v.byteLength < start + length * channels * 2 * size) fail('data shorter than the header says');
  const at = (i: number) => (bits === 8 ? v.getInt8(start + i) : v.getInt16(start + 2 * i, true));
  return build(v.getInt32(8, true), v.getInt32(12, true), bits, channels, length, at);
}

/** The JSON form: `{version, channels, sample_rate, samples_per_pixel, bits, length, data}`. */
export function parseJson(doc: unknown): WaveformData {
  if (!doc || typeof doc !== 'object') fail('not an object');
  const d = doc as Record<string, unknown>;
  const num = (k: string, dflt?: number) => {
    const x = d[k] ?? dflt;
    if (typeof x !== 'number') fail(`${k} missing`);
    return x;
  };
  const data = d.data;
  if (!Array.isArray(data)) fail('data missing');
  const channels = num('channels', 1);
  const length = num('length');
  if (data.length < length * channels * 2) fail('data shorter than length says');
  return build(num('sample_rate'), num('samples_per_pixel'), num('bits'), channels, length, (i) => Number(data[i]) | 0);
}

/**
 * `columns` (min, max) pairs, values -1..1, from the waveform scaled to that
 * many columns: each column takes the lowest min and highest max of the
 * pixels it covers (zooming out as peaks.js does).
 */
export function columns(w: WaveformData, n: number): { min: Float32Array; max: Float32Array } {
  const cols = Math.max(0, Math.floor(n));
  const min = new Float32Array(cols);
  const max = new Float32Array(cols);
  const scale = w.bits === 8 ? 128 : 32768;
  for (let c = 0; c < cols && w.length > 0; c++) {
    const from = Math.floor((c * w.length) / cols);
    const to = Math.max(from + 1, Math.floor(((c + 1) * w.length) / cols));
    let lo = Infinity;
    let hi = -Infinity;
    for (let x = from; x < to && x < w.length; x++) {
      lo = Math.min(lo, w.min[x]);
      hi = Math.max(hi, w.max[x]);
    }
    min[c] = lo === Infinity ? 0 : lo / scale;
    max[c] = hi === -Infinity ? 0 : hi / scale;
  }
  return { min, max };
}

/** The time, in seconds, at horizontal position `x` of a drawing `width` pixels wide. */
export function timeAt(w: WaveformData, x: number, width: number): number {
  if (!(width > 0)) return 0;
  return Math.min(1, Math.max(0, x / width)) * duration(w);
}

/** The minimal canvas context drawing needs (a real one, or a test double). */
export interface Ctx2D {
  fillStyle: string | CanvasGradient | CanvasPattern;
  clearRect(x: number, y: number, w: number, h: number): void;
  fillRect(x: number, y: number, w: number, h: number): void;
}

/**
 * Draws the waveform as one bar per column, centred vertically; columns
 * before `played` seconds in `playedColor`, the rest in `color`.
 */
export function draw(ctx: Ctx2D, w: WaveformData, width: number, height: number, played: number, color: string, playedColor: string): void {
  ctx.clearRect(0, 0, width, height);
  const { min, max } = columns(w, width);
  const mid = height / 2;
  const total = duration(w);
  const playedX = total > 0 ? (played / total) * width : 0;
  for (let x = 0; x < min.length; x++) {
    const top = mid - max[x] * mid;
    const bottom = mid - min[x] * mid;
    ctx.fillStyle = x < playedX ? playedColor : color;
    ctx.fillRect(x, top, 1, Math.max(1, bottom - top));
  }
}
