// The one interface every component talks to. Two transports implement it:
// `http.ts` (a browser served by `crema serve`: `/v1` + server-sent events)
// and `tauri.ts` (the desktop window: Tauri commands + a channel).
import type { CremaEvent, Job, JobPage, JobSpec, JobStatus, MovePosition, NodeList, Profile, SourceFacts, WatchEvent, WatchRule, WatchRuleSpec } from './types';
import type { WaveformData } from '../lib/waveform';
import type { components as ipc } from './ipc';

/** What this transport can do; the UI shows or hides controls by it. */
export interface Capabilities {
  kind: 'http' | 'tauri';
  /** Real file paths: native file dialog and dropped paths (desktop). */
  canPickPaths: boolean;
  /** Open an output with the system player / reveal it in the file manager (desktop). */
  canOpenFiles: boolean;
  /** Settings with concurrency, output folder, encoders and the LAN server (desktop). */
  hasServerPanel: boolean;
  /** Chunked uploads of dropped files (browser). */
  canUpload: boolean;
  /** An API key must be exchanged for a session first (browser). */
  needsLogin: boolean;
}

export interface ListQuery {
  status?: JobStatus;
  limit?: number;
  cursor?: string | null;
}

/** What a thumbnail or facts lookup is about. */
export type SourceRef = { upload: string } | { path: string } | { job: string };

export interface ProbeResult {
  facts: SourceFacts | null;
  /** An image URL (`data:` or http) or null when there is none. */
  thumbnail: string | null;
}

/** Progress of one upload, for the progress bar. */
export interface UploadProgress {
  sentBytes: number;
  totalBytes: number;
  partsDone: number;
  totalParts: number;
}

/** A running chunked upload. */
export interface UploadHandle {
  /** The upload session's ID once created (kept while the page lives, so a retry resumes it). */
  readonly id: string | null;
  /** Resolves with the upload ID when all parts are in and the upload is completed. */
  done: Promise<string>;
  /** Stops sending; the session stays resumable. */
  abort(): void;
}

export interface UploadCallbacks {
  onProgress?: (p: UploadProgress) => void;
  /** An existing session to resume (only its missing parts are sent). */
  resumeId?: string | null;
  /** Called with the session ID as soon as it exists. */
  onSession?: (id: string) => void;
}

// The desktop IPC's types are generated from the Rust side (src-tauri's
// ipc_schema.rs → ipc.json → ipc.d.ts, `npm run gen:types`), like the HTTP
// API's: a field renamed in Rust fails the type check here.
type I = ipc['schemas'];

/** Desktop settings (`settings_get` / `settings_set`), with `restart_required` in replies. Unknown fields are kept as they are. */
export type DesktopSettings = Partial<I['SettingsReply']> & { [key: string]: unknown };

/** One encoder back-end as detected by the desktop app (`encoders`). */
export type EncoderReport = I['EncoderInfo'];

/** The embedded LAN server (`server_status`): `url`, `local_url`, `lan_url`. */
export type ServerStatus = I['ServerStatus'];

/** An API key as `keys_list` reports it (no secret). */
export type ApiKeyInfo = I['KeyInfo'];

/** A key as `keys_create` returns it: the only time the secret is shown. */
export type CreatedKey = I['ApiKeyCreated'];

/** Commands only the desktop app has. */
export interface DesktopApi {
  pickFiles(): Promise<string[]>;
  pickFolder(): Promise<string | null>;
  openPath(path: string): Promise<void>;
  revealPath(path: string): Promise<void>;
  settingsGet(): Promise<DesktopSettings>;
  settingsSet(settings: DesktopSettings): Promise<DesktopSettings>;
  encoders(): Promise<EncoderReport[]>;
  serverStatus(): Promise<ServerStatus>;
  serverStart(listen: string): Promise<ServerStatus>;
  serverStop(): Promise<ServerStatus>;
  keysList(): Promise<ApiKeyInfo[]>;
  keysCreate(name: string): Promise<CreatedKey>;
  keysRevoke(id: string): Promise<void>;
  /** Files dropped on the window (real paths). Returns an unsubscribe function. */
  onDrop(handler: (paths: string[]) => void): Promise<() => void>;
}

export interface CremaApi {
  readonly caps: Capabilities;
  /** Whether the UI may call the API now (browser: a valid session cookie). */
  hasSession(): Promise<boolean>;
  login(apiKey: string): Promise<void>;
  logout(): Promise<void>;

  listProfiles(): Promise<Profile[]>;
  listJobs(q?: ListQuery): Promise<JobPage>;
  getJob(id: string): Promise<Job>;
  submitJob(spec: JobSpec): Promise<Job>;
  cancelJob(id: string): Promise<Job>;
  retryJob(id: string): Promise<Job>;
  /** Removes a terminal job from the list. */
  removeJob(id: string): Promise<void>;
  /** Reorders a queued job. */
  moveJob(id: string, position: MovePosition): Promise<void>;
  /** Live updates; returns the unsubscribe function. */
  subscribe(onEvent: (e: CremaEvent) => void): () => void;

  /** A poster-frame URL, or null when this transport has none for it. */
  thumbnailUrl(ref: SourceRef): string | null;
  /** Facts (and a thumbnail) of a source before it becomes a job. */
  sourceFacts(ref: SourceRef): Promise<ProbeResult>;
  /** A URL `<video>` or hls.js can load for a finished job, or null. */
  playbackUrl(job: Job): Promise<string | null>;
  /** A URL that downloads the output (browser), or null. */
  downloadUrl(job: Job): string | null;
  /** The job's waveform (`output.waveform`), parsed; null when it has none. */
  waveform(job: Job): Promise<WaveformData | null>;

  /** Watch-folder rules, oldest first, with their file counts. */
  listWatchRules(): Promise<WatchRule[]>;
  /** Adds a rule (browser: folders must be under the server's source roots). */
  addWatchRule(spec: WatchRuleSpec): Promise<WatchRule>;
  /** Removes a rule: it stops, unfinished jobs are canceled, placed outputs stay. */
  removeWatchRule(id: string): Promise<WatchRule>;
  pauseWatchRule(id: string): Promise<WatchRule>;
  resumeWatchRule(id: string): Promise<WatchRule>;
  /** A rule's latest decisions, newest first (default 20). */
  watchEvents(id: string, limit?: number): Promise<WatchEvent[]>;

  /**
   * The nodes sharing this queue (`GET /v1/nodes`, extension), or null where
   * the transport has none: the desktop app is one node on its own database.
   */
  listNodes(): Promise<NodeList | null>;

  /** Chunked, resumable upload (browser only). */
  upload(file: Blob & { name: string; type: string }, cb?: UploadCallbacks): UploadHandle;

  /** Present only in the desktop app. */
  readonly desktop: DesktopApi | null;
}

/** How many decisions the Settings panel shows per rule. */
export const WATCH_EVENTS_SHOWN = 20;

/** All jobs, page by page (100 a page, at most `maxPages`). */
export async function listAllJobs(api: CremaApi, maxPages = 50): Promise<Job[]> {
  const out: Job[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < maxPages; i++) {
    const page: JobPage = await api.listJobs({ limit: 100, cursor });
    out.push(...page.jobs);
    if (!page.has_more || !page.next_cursor) break;
    cursor = page.next_cursor;
  }
  return out;
}
