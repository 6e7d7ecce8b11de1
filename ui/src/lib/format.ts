// Formatting of sizes, durations, progress and source facts. Pure functions, unit tested.
import type { Job, SourceFacts } from '../api/types';

/** `1.2 GB`, `300 MB`, `512 B` (decimal units, as file managers show them). */
export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n) || n < 0) return '—';
  if (n < 1000) return `${Math.round(n)} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = -1;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  const digits = v < 10 ? 1 : 0;
  return `${v.toFixed(digits)} ${units[i]}`;
}

/** `0:02`, `2:05`, `1:02:03`. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '—';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** `12 s left`, `3 min left`, `1 h 5 min left`; '' when unknown. */
export function formatEta(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s left`;
  const min = Math.round(s / 60);
  if (min < 60) return `${min} min left`;
  const h = Math.floor(min / 60);
  const m = min % 60;
  return m ? `${h} h ${m} min left` : `${h} h left`;
}

/** Whole percent, never showing 100 before the end: `0%`, `41%`, `99%`. */
export function formatPercent(p: number | null | undefined, done = false): string {
  if (done) return '100%';
  if (p === null || p === undefined || !Number.isFinite(p)) return '';
  return `${Math.min(99, Math.max(0, Math.floor(p)))}%`;
}

/** `23.1 fps` (decoded frames per second of wall time). */
export function formatFps(fps: number | null | undefined): string {
  if (fps === null || fps === undefined || !Number.isFinite(fps) || fps <= 0) return '';
  return `${fps >= 100 ? Math.round(fps) : fps.toFixed(1)} fps`;
}

/** `"24000/1001"` → `23.976 fps`, `"25"` → `25 fps`. */
export function formatFrameRate(rate: string | null | undefined): string {
  if (!rate) return '';
  const [a, b] = rate.split('/').map(Number);
  const v = b ? a / b : a;
  if (!Number.isFinite(v) || v <= 0) return '';
  const r = Math.round(v * 1000) / 1000;
  return `${Number.isInteger(r) ? r : r.toFixed(3).replace(/0+$/, '')} fps`;
}

/** `"1920x1080"` → `1920×1080`. */
export function formatResolution(res: string | null | undefined): string {
  if (!res) return '';
  const m = /^(\d+)x(\d+)$/.exec(res);
  return m ? `${m[1]}×${m[2]}` : res;
}

/** Output size against source size. */
export function savings(sourceBytes: number | null | undefined, outputBytes: number | null | undefined): { percent: number; text: string } | null {
  if (!sourceBytes || outputBytes === null || outputBytes === undefined || sourceBytes <= 0) return null;
  const percent = (1 - outputBytes / sourceBytes) * 100;
  const rounded = Math.round(Math.abs(percent));
  const how = percent >= 0.5 ? `${rounded}% smaller` : percent <= -0.5 ? `${rounded}% larger` : 'about the same size';
  return { percent, text: `${formatBytes(sourceBytes)} → ${formatBytes(outputBytes)}, ${how}` };
}

const STAGES: Record<string, string> = {
  queued: 'Queued',
  probing: 'Reading the source',
  analyzing: 'Analyzing',
  encoding: 'Encoding',
  muxing: 'Finishing',
  measuring: 'Measuring quality',
  uploading_output: 'Saving the output',
  completed: 'Done',
  failed: 'Failed',
  canceled: 'Canceled',
};

/** A measured output's quality in one line (`output.quality`), or null when
 * the job was not measured: VMAF mean and 1% low (0..100), PSNR in dB, and
 * for a verified sophon-auto encode its target and whether it held. */
export function qualityLine(job: Pick<Job, 'output'>): string | null {
  const q = job.output.quality;
  if (!q) return null;
  const where = q.output === 'file' ? '' : ` (${q.output.replace(/^hls /, 'top rung ')})`;
  const line = `VMAF ${q.vmaf.mean.toFixed(1)}, 1% low ${q.vmaf.p1.toFixed(1)}, PSNR ${q.psnr.mean.toFixed(1)} dB${where}`;
  const v = q.verified;
  if (!v) return line;
  const n = v.chunks.length === 1 ? '1 chunk' : `${v.chunks.length} chunks`;
  const verdict = v.best_effort ? `target ${v.target_vmaf} not reached: best effort` : `target ${v.target_vmaf} verified`;
  return `${line} · ${verdict} in ${n}`;
}

/** The job's stage in words (the engine's stage while running, else its status). */
export function stageLabel(job: Pick<Job, 'status' | 'progress'>): string {
  const running = !['queued', 'completed', 'failed', 'canceled'].includes(job.status);
  const key = running && job.progress.stage ? job.progress.stage : job.status;
  return STAGES[key] ?? key;
}

/** A server error message as shown in a row: a leading absolute path (the
 * server's copy of the source) is cut to the file name. */
export function tidyError(msg: string | null | undefined): string {
  if (!msg) return '';
  return msg.replace(/(^|\s)(?:[A-Za-z]:)?[\\/](?:[^\s:]*[\\/])?([^\\/\s:]+):/g, '$1$2:');
}

/** Short facts line parts for a source: resolution, frame rate, duration, codec. */
export function factParts(f: SourceFacts | null | undefined): string[] {
  if (!f) return [];
  const parts = [formatResolution(f.resolution), formatFrameRate(f.frame_rate)];
  if (f.duration_seconds !== null && f.duration_seconds !== undefined) parts.push(formatDuration(f.duration_seconds));
  if (f.codec) parts.push(f.codec.toUpperCase());
  if (typeof f.audio_tracks === 'number') {
    parts.push(f.audio_tracks === 0 ? 'no audio' : f.audio_tracks === 1 ? '1 audio track' : `${f.audio_tracks} audio tracks`);
  }
  return parts.filter(Boolean);
}

/** Badges: `10-bit`, `HDR` (or `HDR PQ`/`HDR HLG` when the kind is known). */
export function badges(f: SourceFacts | null | undefined): string[] {
  if (!f) return [];
  const out: string[] = [];
  if (typeof f.bit_depth === 'number' && f.bit_depth >= 10) out.push(`${f.bit_depth}-bit`);
  if (f.hdr === true) out.push('HDR');
  else if (typeof f.hdr === 'string' && f.hdr) out.push(`HDR ${f.hdr.toUpperCase()}`);
  return out;
}

/** The encoders a job uses, from the `progress.encoders` extension, one entry
 * per encoder: `label` = `libx264 (software) for hls 360p, hls 240p`, `reason`
 * = why it was chosen. [] when the job does not say (older servers, before the
 * encoders are open). */
export function encoderLines(job: Pick<Job, 'progress'>): { label: string; reason: string }[] {
  const list = job.progress.encoders ?? [];
  const groups = new Map<string, { head: string; reason: string; outputs: string[] }>();
  for (const e of list) {
    const head = `${e.encoder} (${e.hardware ? 'hardware' : 'software'})`;
    const key = `${head}|${e.reason}`;
    const g = groups.get(key) ?? { head, reason: e.reason ?? '', outputs: [] };
    if (e.output) g.outputs.push(e.output);
    groups.set(key, g);
  }
  return [...groups.values()].map((g) => ({ label: `${g.head}${g.outputs.length ? ` for ${g.outputs.join(', ')}` : ''}`, reason: g.reason }));
}
