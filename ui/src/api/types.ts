// UI types. Everything the server defines comes from `schema.d.ts`, which
// openapi-typescript generates from the Rust side's OpenAPI document
// (`npm run gen:types`; `npm run check:types` fails when it is stale).
// The few additions below are extension fields the UI reads when present and
// does without when absent (older servers, older jobs).
import type { components } from './schema';

type S = components['schemas'];

export type JobStatus = S['JobStatus'];
export type Progress = S['Progress'];
export type Profile = S['ProfileInfo'];
export type JobSpec = S['JobSpec'];
export type OutputSpec = S['OutputSpec'];
export type HlsSpec = S['HlsSpec'];
export type HlsCodec = S['HlsCodec'];
export type ContainerSpec = S['ContainerSpec'];
export type SourceSpec = S['SourceSpec'];
export type Upload = S['Upload'];
export type UploadSpec = S['UploadSpec'];
export type UploadCreated = S['UploadCreated'];
export type UploadCompleted = S['UploadCompleted'];
export type ErrorEnvelope = S['ErrorEnvelope'];
export type HlsRendition = S['HlsRendition'];
export type QualityInfo = S['QualityInfo'];
export type VerifiedInfo = S['VerifiedInfo'];
export type ChunkInfo = S['ChunkInfo'];
export type LoginResponse = S['LoginResponse'];
export type WatchRuleSpec = S['WatchRuleSpec'];
export type WatchRule = S['WatchRule'];
export type WatchCounts = S['WatchCounts'];
export type WatchEvent = S['WatchEvent'];
export type WatchDecision = S['WatchDecision'];
export type SuccessAction = S['SuccessAction'];
export type FailureAction = S['FailureAction'];
export type NodeInfo = S['NodeInfo'];
export type NodeList = S['NodeList'];

/** Source facts the server adds once a source is probed (extension; absent on older jobs). */
export interface SourceExtensions {
  codec?: string | null;
  bit_depth?: number | null;
  /** `true`/`false`, or the transfer (`"pq"`, `"hlg"`) where a server reports that. */
  hdr?: boolean | string | null;
  audio_tracks?: number | null;
}

export type SourceInfo = S['SourceInfo'] & SourceExtensions;
export type OutputInfo = S['OutputInfo'];
export type EncoderUse = S['EncoderUse'];
export type Job = Omit<S['Job'], 'source' | 'output'> & {
  source: SourceInfo;
  output: OutputInfo;
  /** Extension: place in the run order while queued (0 runs next). */
  queue_position?: number | null;
};
export type JobPage = Omit<S['Page'], 'jobs'> & { jobs: Job[] };

/** What the UI shows about a source before (or without) a job: from an upload's probe or the desktop's `probe_file`. */
export interface SourceFacts extends SourceExtensions {
  name?: string | null;
  bytes?: number | null;
  duration_seconds?: number | null;
  /** `"1920x1080"` */
  resolution?: string | null;
  /** `"25"`, `"24000/1001"` */
  frame_rate?: string | null;
}

/** Where a job is placed in the queue: `POST /v1/jobs/{id}/move` body's `position`. */
export type MovePosition = 'top' | 'bottom' | { before: string };

/** A live update: the SSE events (browser) or the Tauri channel's messages (desktop). */
export type CremaEvent =
  | { type: 'job.created'; job: Job }
  | { type: 'job.updated'; job: Job }
  | { type: 'job.progress'; job_id: string; progress: Progress }
  /** Events were missed (slow client, reconnect): refetch the list. */
  | { type: 'lagged' }
  /** The live connection's state. `closed`: it will not come back by itself (e.g. the session ended). */
  | { type: 'connection'; state: 'open' | 'reconnecting' | 'closed' };

export const TERMINAL: readonly JobStatus[] = ['completed', 'failed', 'canceled'];
export const RUNNING: readonly JobStatus[] = ['probing', 'encoding', 'muxing', 'uploading_output'];

export function isTerminal(s: JobStatus): boolean {
  return TERMINAL.includes(s);
}
export function isRunning(s: JobStatus): boolean {
  return RUNNING.includes(s);
}
