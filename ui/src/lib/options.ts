// The choices an editor makes for a job (profile and output), how they turn
// into a JobSpec, and remembering the last ones (localStorage).
import type { JobSpec, SourceSpec } from '../api/types';
import { RECOMMENDED_PROFILE } from './profiles';

export interface HlsChoice {
  renditions: number[];
  codec: 'h264' | 'hevc';
  segmentSeconds: number;
  /** Also write a progressive MP4 of this rung (one of `renditions`), or null. */
  keepMp4: number | null;
}

export interface JobOptions {
  profile: string;
  container: 'mp4' | 'mkv';
  audio: boolean;
  /** Scale down to this height; null keeps the source's. */
  targetHeight: number | null;
  /** An HLS ladder instead of the single file, or null. */
  hls: HlsChoice | null;
  /** Output folder (desktop only); null: the default. */
  outputDir: string | null;
}

export const LADDER_HEIGHTS = [2160, 1440, 1080, 720, 480, 360, 240] as const;
export const TARGET_HEIGHTS = [2160, 1440, 1080, 720, 576, 480, 360] as const;

export function defaultOptions(): JobOptions {
  return { profile: RECOMMENDED_PROFILE, container: 'mp4', audio: true, targetHeight: null, hls: null, outputDir: null };
}

export function defaultHls(): HlsChoice {
  return { renditions: [1080, 720, 480, 360], codec: 'h264', segmentSeconds: 6, keepMp4: null };
}

/** The JobSpec for a source with these options. */
export function toSpec(source: SourceSpec, o: JobOptions): JobSpec {
  const output: JobSpec['output'] & { dir?: string } = { container: o.container, audio: o.audio };
  // With audio kept, the job also makes its waveform (drawn in the player; extension).
  if (o.audio) output.waveform = true;
  if (o.targetHeight) output.target_height = o.targetHeight;
  if (o.hls) {
    const renditions = [...new Set(o.hls.renditions)].sort((a, b) => b - a);
    output.hls = {
      renditions,
      codec: o.hls.codec,
      segment_seconds: o.hls.segmentSeconds,
      keep_mp4: o.hls.keepMp4 !== null && renditions.includes(o.hls.keepMp4) ? o.hls.keepMp4 : null,
    };
  }
  // Extension read by the desktop app only; servers ignore unknown fields.
  if (o.outputDir) output.dir = o.outputDir;
  return { source, profile: o.profile, output };
}

/** Problems that would make the server refuse the options, in words; [] when fine. */
export function validateOptions(o: JobOptions, knownProfiles?: readonly string[]): string[] {
  const errs: string[] = [];
  if (knownProfiles && !knownProfiles.includes(o.profile)) errs.push(`Unknown profile “${o.profile}”: pick one from the list.`);
  if (o.targetHeight !== null && (o.targetHeight < 144 || o.targetHeight > 4320)) errs.push('Target height must be between 144 and 4320 pixels.');
  if (o.hls) {
    if (o.hls.renditions.length === 0) errs.push('Pick at least one HLS rendition.');
    if (!(o.hls.segmentSeconds >= 1 && o.hls.segmentSeconds <= 60)) errs.push('Segment length must be 1 to 60 seconds.');
  }
  return errs;
}

/** One-line summary: `Auto · MP4 · audio · HLS 720/360 H.264 6 s`. */
export function summarize(o: JobOptions, profileName?: string): string {
  const parts = [profileName ?? o.profile];
  if (o.hls) {
    parts.push(`HLS ${[...o.hls.renditions].sort((a, b) => b - a).join('/')} ${o.hls.codec === 'h264' ? 'H.264' : 'HEVC'} ${o.hls.segmentSeconds} s`);
    if (o.hls.keepMp4) parts.push(`+ ${o.hls.keepMp4}p MP4`);
  } else {
    parts.push(o.container.toUpperCase());
    if (o.targetHeight) parts.push(`${o.targetHeight}p`);
  }
  parts.push(o.audio ? 'audio' : 'no audio');
  return parts.join(' · ');
}

const KEY = 'crema.lastOptions.v1';

/** The last choices, or the defaults; anything malformed falls back field by field. */
export function loadOptions(storage: Pick<Storage, 'getItem'> | null = globalThis.localStorage ?? null): JobOptions {
  const d = defaultOptions();
  const read = (): unknown => {
    try {
      return JSON.parse(storage?.getItem(KEY) ?? 'null');
    } catch {
      return null;
    }
  };
  const raw = read();
  if (!raw || typeof raw !== 'object') return d;
  const r = raw as Partial<JobOptions>;
  const hls = r.hls && typeof r.hls === 'object' && Array.isArray(r.hls.renditions) ? { ...defaultHls(), ...r.hls } : null;
  return {
    profile: typeof r.profile === 'string' ? r.profile : d.profile,
    container: r.container === 'mkv' ? 'mkv' : 'mp4',
    audio: typeof r.audio === 'boolean' ? r.audio : d.audio,
    targetHeight: typeof r.targetHeight === 'number' ? r.targetHeight : null,
    hls,
    outputDir: typeof r.outputDir === 'string' ? r.outputDir : null,
  };
}

export function saveOptions(o: JobOptions, storage: Pick<Storage, 'setItem'> | null = globalThis.localStorage ?? null): void {
  try {
    storage?.setItem(KEY, JSON.stringify(o));
  } catch {
    // Private mode or full storage: remembering is a convenience.
  }
}

export function cloneOptions(o: JobOptions): JobOptions {
  return { ...o, hls: o.hls ? { ...o.hls, renditions: [...o.hls.renditions] } : null };
}
