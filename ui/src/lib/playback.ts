// Whether and how a finished job can be played in this window: hls.js for a
// ladder (or the native player where HLS is built in), `<video>` for a file,
// or a plain explanation when the browser has no decoder for the codec
// (Chromium without HEVC, for one).
import type { Job, Profile } from '../api/types';

export interface MediaEnv {
  /** `MediaSource.isTypeSupported` (false when there is no MediaSource). */
  isTypeSupported(type: string): boolean;
  /** `HTMLVideoElement.canPlayType`. */
  canPlayType(type: string): string;
  /** `Hls.isSupported()`. */
  hlsSupported: boolean;
}

export type PlayPlan =
  | { kind: 'hls'; engine: 'hls.js' | 'native' }
  | { kind: 'file' }
  | { kind: 'unplayable'; reason: string };

/** Representative codec strings to ask the browser about. */
const HEVC_PROBES = ['hvc1.1.6.L120.90', 'hev1.1.6.L120.90'];
const HEVC10_PROBES = ['hvc1.2.4.L120.90', 'hev1.2.4.L120.90'];

function supports(env: MediaEnv, codec: string): boolean {
  const t = `video/mp4; codecs="${codec}"`;
  return env.isTypeSupported(t) || env.canPlayType(t) === 'probably' || env.canPlayType(t) === 'maybe';
}

const NO_HEVC =
  'This browser cannot decode HEVC (H.265), so the result cannot be previewed here. Download it and play it in a system player (VLC, QuickTime, your TV), or choose an H.264 HLS ladder for in-browser playback.';
const NO_HEVC_DESKTOP =
  'This window cannot decode HEVC (H.265) on this system, so the result cannot be previewed here. Open it in the system player instead.';

export function playPlan(job: Job, profiles: ReadonlyMap<string, Profile>, env: MediaEnv, desktop = false): PlayPlan {
  if (job.status !== 'completed') return { kind: 'unplayable', reason: 'The job has not finished.' };
  if (job.final_artifact === 'original') {
    return { kind: 'unplayable', reason: 'Encoding would not have saved space, so the original was kept: there is no new file to play.' };
  }
  if (job.output.expired) return { kind: 'unplayable', reason: 'The output was removed by the retention cleanup.' };
  if (job.output.state !== 'available') return { kind: 'unplayable', reason: 'The output is not written yet.' };
  const hls = job.output.hls;
  if (hls) {
    const videoCodecs = hls.renditions.map((r) => r.codecs.split(',')[0]?.trim()).filter(Boolean);
    const playable = videoCodecs.length === 0 || videoCodecs.some((c) => supports(env, c));
    if (!playable) return { kind: 'unplayable', reason: desktop ? NO_HEVC_DESKTOP : NO_HEVC };
    if (env.hlsSupported) return { kind: 'hls', engine: 'hls.js' };
    if (env.canPlayType('application/vnd.apple.mpegurl')) return { kind: 'hls', engine: 'native' };
    return { kind: 'unplayable', reason: 'This browser has no HLS support (no Media Source Extensions).' };
  }
  const p = profiles.get(job.effective_profile_id ?? job.profile);
  const codec = p?.codec ?? 'hevc';
  if (codec === 'hevc') {
    const probes = (p?.bit_depth ?? 8) >= 10 ? HEVC10_PROBES : HEVC_PROBES;
    if (!probes.some((c) => supports(env, c))) return { kind: 'unplayable', reason: desktop ? NO_HEVC_DESKTOP : NO_HEVC };
  }
  if (job.output.container === 'mkv' && !env.canPlayType('video/x-matroska') && !env.canPlayType('video/webm')) {
    return { kind: 'unplayable', reason: 'This browser does not play Matroska (MKV) files: open it in a system player.' };
  }
  return { kind: 'file' };
}

/** The real environment of this page. */
export function browserMediaEnv(hlsSupported: boolean): MediaEnv {
  const video = typeof document !== 'undefined' ? document.createElement('video') : null;
  const MS = (globalThis as { MediaSource?: { isTypeSupported(t: string): boolean } }).MediaSource;
  return {
    isTypeSupported: (t) => !!MS && MS.isTypeSupported(t),
    canPlayType: (t) => (video ? video.canPlayType(t) : ''),
    hlsSupported,
  };
}
