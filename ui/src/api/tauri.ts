// The desktop transport: Tauri commands (implemented in src-tauri/, same
// payload shapes as the HTTP bodies, snake_case arguments) and a channel for
// live updates. The runtime pieces are injected so that the logic is unit
// tested without a Tauri window.
import type {
  ApiKeyInfo,
  CreatedKey,
  CremaApi,
  DesktopApi,
  DesktopSettings,
  EncoderReport,
  ListQuery,
  ProbeResult,
  ServerStatus,
  SourceRef,
} from './api';
import { ApiError, errorFromInvoke } from './errors';
import { WATCH_EVENTS_SHOWN } from './api';
import { parseDat, parseJson } from '../lib/waveform';
import type { CremaEvent, Job, JobPage, JobSpec, MovePosition, Profile, Progress, SourceFacts, WatchEvent, WatchRule, WatchRuleSpec } from './types';

/** The minimal Tauri `Channel` this module needs. */
export interface ChannelLike<T> {
  onmessage: (msg: T) => void;
}

export interface TauriDeps {
  invoke: <T>(cmd: string, args?: Record<string, unknown>) => Promise<T>;
  Channel: new <T>() => ChannelLike<T>;
  /** Local path → a URL the webview can load (Tauri's asset protocol). */
  convertFileSrc: (path: string) => string;
  /** Native open dialog; returns the chosen paths (empty when dismissed). */
  openDialog: (opts: { multiple: boolean; directory: boolean; title: string }) => Promise<string[]>;
  /** Files dropped on the window. */
  onDragDrop: (handler: (paths: string[]) => void) => Promise<() => void>;
}

/** Normalizes a channel message: `{type, ...JobResponse}`, `{type, job}` or `{type, job_id, progress}`. */
export function eventFromChannel(msg: unknown): CremaEvent | null {
  if (!msg || typeof msg !== 'object') return null;
  const m = msg as Record<string, unknown>;
  const type = typeof m.type === 'string' ? m.type.replace('job_state_changed', 'job.updated').replace('job_created', 'job.created').replace('job_progress', 'job.progress') : '';
  if (type === 'job.progress') {
    if (typeof m.job_id === 'string' && m.progress && typeof m.progress === 'object') {
      return { type, job_id: m.job_id, progress: m.progress as Progress };
    }
    return null;
  }
  if (type === 'job.created' || type === 'job.updated') {
    if (m.job && typeof m.job === 'object') return { type, job: m.job as Job };
    if (typeof m.id === 'string') {
      const rest = { ...m };
      delete rest.type;
      return { type, job: rest as unknown as Job };
    }
    return null;
  }
  if (type === 'lagged') return { type: 'lagged' };
  return null;
}

export function createTauriApi(deps: TauriDeps): CremaApi {
  async function cmd<T>(name: string, args?: Record<string, unknown>): Promise<T> {
    try {
      return await deps.invoke<T>(name, args);
    } catch (e) {
      throw errorFromInvoke(e);
    }
  }

  const desktop: DesktopApi = {
    async pickFiles() {
      return deps.openDialog({ multiple: true, directory: false, title: 'Add videos' });
    },
    async pickFolder() {
      const r = await deps.openDialog({ multiple: false, directory: true, title: 'Choose a folder' });
      return r[0] ?? null;
    },
    openPath: (path) => cmd('open_path', { path }),
    revealPath: (path) => cmd('reveal_path', { path }),
    settingsGet: () => cmd<DesktopSettings>('settings_get'),
    settingsSet: (settings) => cmd<DesktopSettings>('settings_set', { settings }),
    async encoders() {
      const r = await cmd<EncoderReport[] | { encoders: EncoderReport[] }>('encoders');
      return Array.isArray(r) ? r : (r?.encoders ?? []);
    },
    serverStatus: () => cmd<ServerStatus>('server_status'),
    serverStart: (listen) => cmd<ServerStatus>('server_start', { listen }),
    serverStop: () => cmd<ServerStatus>('server_stop'),
    async keysList() {
      const r = await cmd<ApiKeyInfo[] | { keys: ApiKeyInfo[] }>('keys_list');
      return Array.isArray(r) ? r : (r?.keys ?? []);
    },
    keysCreate: (name) => cmd<CreatedKey>('keys_create', { name }),
    keysRevoke: (id) => cmd<void>('keys_revoke', { id }),
    onDrop: (handler) => deps.onDragDrop(handler),
  };

  const api: CremaApi = {
    caps: { kind: 'tauri', canPickPaths: true, canOpenFiles: true, hasServerPanel: true, canUpload: false, needsLogin: false },
    desktop,
    hasSession: async () => true,
    login: async () => {},
    logout: async () => {},

    async listProfiles() {
      const r = await cmd<Profile[] | { profiles: Profile[] }>('list_profiles');
      return Array.isArray(r) ? r : r.profiles;
    },
    listJobs(q: ListQuery = {}) {
      const args: Record<string, unknown> = {};
      if (q.status) args.status = q.status;
      if (q.limit) args.limit = q.limit;
      if (q.cursor) args.cursor = q.cursor;
      return cmd<JobPage>('list_jobs', args);
    },
    getJob: (id) => cmd<Job>('get_job', { id }),
    submitJob: (spec: JobSpec) => cmd<Job>('submit_job', { spec }),
    cancelJob: (id) => cmd<Job>('cancel_job', { id }),
    retryJob: (id) => cmd<Job>('retry_job', { id }),
    async removeJob(id) {
      await cmd('remove_job', { id });
    },
    async moveJob(id, position: MovePosition) {
      await cmd('move_job', { id, position });
    },
    subscribe(onEvent) {
      let closed = false;
      const channel = new deps.Channel<unknown>();
      channel.onmessage = (msg) => {
        if (closed) return;
        const ev = eventFromChannel(msg);
        if (ev) onEvent(ev);
      };
      cmd('subscribe', { on_event: channel }).then(
        () => !closed && onEvent({ type: 'connection', state: 'open' }),
        () => !closed && onEvent({ type: 'connection', state: 'closed' }),
      );
      return () => {
        closed = true;
      };
    },
    listNodes: async () => null,
    listWatchRules: () => cmd<WatchRule[]>('watch_list'),
    addWatchRule: (spec: WatchRuleSpec) => cmd<WatchRule>('watch_add', { spec }),
    removeWatchRule: (id) => cmd<WatchRule>('watch_remove', { id }),
    pauseWatchRule: (id) => cmd<WatchRule>('watch_pause', { id }),
    resumeWatchRule: (id) => cmd<WatchRule>('watch_resume', { id }),
    watchEvents: (id, limit = WATCH_EVENTS_SHOWN) => cmd<WatchEvent[]>('watch_events', { id, limit }),
    thumbnailUrl: () => null,
    async sourceFacts(ref: SourceRef): Promise<ProbeResult> {
      if ('path' in ref) {
        const r = await cmd<{ facts: SourceFacts | null; thumbnail: string | null }>('probe_file', { path: ref.path });
        return { facts: r?.facts ?? null, thumbnail: r?.thumbnail ?? null };
      }
      if ('job' in ref) {
        const j = await api.getJob(ref.job);
        return { facts: j.source, thumbnail: null };
      }
      return { facts: null, thumbnail: null };
    },
    async playbackUrl(job: Job) {
      const path = job.output.hls?.master_playlist ?? job.output.path;
      if (job.output.state !== 'available' || job.output.expired || !path) {
        throw new ApiError('output_not_ready', 'This job has no output to play yet');
      }
      // WebKitGTK's player cannot read asset: URLs; the shell serves a signed
      // loopback URL instead (HLS: .../master.m3u8, so relative URIs resolve).
      return await cmd<string>('playback_url', { id: job.id });
    },
    downloadUrl: () => null,
    async waveform(job: Job) {
      if (!job.output.waveform || job.output.expired) return null;
      // The shell answers with the file's bytes (a raw IPC response: an ArrayBuffer).
      const bytes = await cmd<ArrayBuffer | number[]>('job_waveform', { id: job.id });
      const buf = bytes instanceof ArrayBuffer ? bytes : new Uint8Array(bytes).buffer;
      if (job.output.waveform.format === 'json') return parseJson(JSON.parse(new TextDecoder().decode(buf)));
      return parseDat(buf);
    },
    upload() {
      throw new ApiError('validation_error', 'The desktop app adds files by path, not by upload');
    },
  };
  return api;
}
