// The browser transport: `fetch` against `/v1` with the session cookie, an
// `Idempotency-Key` on every POST, server-sent events for live updates, and
// chunked resumable uploads (contract: shared/api/v1.md).
import type {
  CremaApi,
  ListQuery,
  ProbeResult,
  SourceRef,
  UploadCallbacks,
  UploadHandle,
  UploadProgress,
} from './api';
import { ApiError, errorFromResponse, uuid } from './errors';
import type {
  Job,
  JobPage,
  JobSpec,
  MovePosition,
  NodeList,
  Profile,
  Progress,
  SourceFacts,
  Upload,
  UploadCompleted,
  UploadCreated,
  WatchEvent,
  WatchRule,
  WatchRuleSpec,
} from './types';
import { WATCH_EVENTS_SHOWN } from './api';
import { parseDat, parseJson } from '../lib/waveform';

/** Sends one upload part; resolves with the HTTP status and the parsed body. */
export type PutPart = (
  url: string,
  body: Blob,
  onProgress: (loaded: number) => void,
  signal: AbortSignal,
) => Promise<{ status: number; body: unknown }>;

/** The minimal EventSource this module needs (injectable for tests). */
export interface EventSourceLike {
  readonly readyState: number;
  onopen: ((ev: Event) => unknown) | null;
  onerror: ((ev: Event) => unknown) | null;
  addEventListener(type: string, listener: (ev: MessageEvent) => void): void;
  close(): void;
}

export interface HttpDeps {
  fetch: typeof fetch;
  EventSource: new (url: string, init?: EventSourceInit) => EventSourceLike;
  /** Origin prefix of every URL; '' for the page's own server. */
  base: string;
  putPart: PutPart;
  sleep: (ms: number) => Promise<void>;
  /** How many upload parts are in flight at once. */
  parallelParts: number;
  /** Tries per part (and per retryable POST) before giving up. */
  attempts: number;
}

/** PUT with XMLHttpRequest: `fetch` reports no upload progress. */
export const xhrPutPart: PutPart = (url, body, onProgress, signal) =>
  new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', url);
    xhr.withCredentials = true;
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    xhr.upload.onprogress = (e) => onProgress(e.loaded);
    xhr.onload = () => {
      const parse = (): unknown => {
        try {
          return JSON.parse(xhr.responseText);
        } catch {
          return null;
        }
      };
      resolve({ status: xhr.status, body: parse() });
    };
    xhr.onerror = () => reject(new TypeError('network error'));
    xhr.onabort = () => reject(new DOMException('aborted', 'AbortError'));
    signal.addEventListener('abort', () => xhr.abort());
    xhr.send(body);
  });

const EVENT_NAMES = ['job.created', 'job.updated', 'job.progress', 'lagged'] as const;

/** Whether an error is worth another try with the same request (and the same Idempotency-Key). */
function transient(e: unknown): boolean {
  if (e instanceof ApiError) return e.retryable || (e.status !== null && e.status >= 500);
  return e instanceof TypeError;
}

export function createHttpApi(partial: Partial<HttpDeps> = {}): CremaApi {
  const deps: HttpDeps = {
    fetch: partial.fetch ?? ((...a: Parameters<typeof fetch>) => globalThis.fetch(...a)),
    EventSource: partial.EventSource ?? (globalThis.EventSource as unknown as HttpDeps['EventSource']),
    base: partial.base ?? '',
    putPart: partial.putPart ?? xhrPutPart,
    sleep: partial.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))),
    parallelParts: partial.parallelParts ?? 3,
    attempts: partial.attempts ?? 4,
  };
  const url = (path: string) => deps.base + path;

  async function parse(res: Response): Promise<unknown> {
    if (res.status === 204) return null;
    const text = await res.text();
    if (!text) return null;
    try {
      return JSON.parse(text);
    } catch {
      return null;
    }
  }

  async function once<T>(method: string, path: string, body?: unknown, key?: string): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (key) headers['Idempotency-Key'] = key;
    const res = await deps.fetch(url(path), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
    });
    const parsed = await parse(res);
    if (!res.ok) throw errorFromResponse(res.status, parsed, res.headers.get('X-Request-Id'));
    return parsed as T;
  }

  /** One API call. POSTs carry a fresh Idempotency-Key and are retried with
   * the same key when the failure is transient (replays are safe). */
  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    if (method !== 'POST') return once<T>(method, path, body);
    const key = uuid();
    for (let attempt = 1; ; attempt++) {
      try {
        return await once<T>(method, path, body ?? {}, key);
      } catch (e) {
        if (attempt >= deps.attempts || !transient(e)) throw e;
        await deps.sleep(300 * 2 ** (attempt - 1));
      }
    }
  }

  const enc = encodeURIComponent;

  function factsOfUpload(u: Upload): SourceFacts {
    const x = u as Upload & Record<string, unknown>;
    const w = x.source_width as number | null | undefined;
    const h = x.source_height as number | null | undefined;
    const pick = <T>(...keys: string[]): T | null => {
      for (const k of keys) if (x[k] !== undefined && x[k] !== null) return x[k] as T;
      return null;
    };
    return {
      name: u.file_name,
      bytes: (x.bytes as number | null | undefined) ?? u.file_size,
      duration_seconds: (x.source_duration_seconds as number | null | undefined) ?? null,
      resolution: w && h ? `${w}x${h}` : null,
      frame_rate: pick<string>('source_frame_rate', 'frame_rate'),
      codec: pick<string>('source_codec', 'codec'),
      bit_depth: pick<number>('source_bit_depth', 'bit_depth'),
      hdr: pick<boolean | string>('source_hdr', 'hdr'),
      audio_tracks: pick<number>('source_audio_tracks', 'audio_tracks'),
    };
  }

  function upload(file: Blob & { name: string; type: string }, cb: UploadCallbacks = {}): UploadHandle {
    const ctl = new AbortController();
    const handle: { id: string | null; done: Promise<string>; abort(): void } = {
      id: cb.resumeId ?? null,
      done: Promise.resolve(''),
      abort: () => ctl.abort(),
    };
    handle.done = (async () => {
      let chunk = 0;
      let total = 0;
      let have = new Set<number>();
      if (handle.id) {
        try {
          const u = await call<Upload>('GET', `/v1/uploads/${enc(handle.id)}`);
          if (u.status === 'completed') return handle.id;
          if (u.status === 'canceled') handle.id = null;
          else {
            chunk = u.chunk_size;
            total = u.total_chunks;
            have = new Set(u.received_chunks);
          }
        } catch (e) {
          if (!(e instanceof ApiError && e.status === 404)) throw e;
          handle.id = null;
        }
      }
      if (!handle.id) {
        const created = await call<UploadCreated>('POST', '/v1/uploads', {
          file_name: file.name,
          file_size: file.size,
          mime_type: file.type || 'application/octet-stream',
        });
        handle.id = created.id;
        chunk = created.chunk_size;
        total = created.total_chunks;
        cb.onSession?.(created.id);
      }
      const id = handle.id;
      const size = (n: number) => Math.min(chunk, file.size - n * chunk);
      const inFlight = new Map<number, number>();
      let doneBytes = 0;
      for (const n of have) doneBytes += size(n);
      const report = () => {
        let sent = doneBytes;
        for (const v of inFlight.values()) sent += v;
        const p: UploadProgress = { sentBytes: Math.min(sent, file.size), totalBytes: file.size, partsDone: have.size, totalParts: total };
        cb.onProgress?.(p);
      };
      report();
      const sendPart = async (n: number) => {
        for (let attempt = 1; ; attempt++) {
          if (ctl.signal.aborted) throw new DOMException('aborted', 'AbortError');
          inFlight.set(n, 0);
          try {
            const r = await deps.putPart(
              url(`/v1/uploads/${enc(id)}/parts/${n}`),
              file.slice(n * chunk, n * chunk + size(n)),
              (loaded) => {
                inFlight.set(n, loaded);
                report();
              },
              ctl.signal,
            );
            if (r.status < 200 || r.status >= 300) throw errorFromResponse(r.status, r.body);
            inFlight.delete(n);
            have.add(n);
            doneBytes += size(n);
            report();
            return;
          } catch (e) {
            inFlight.delete(n);
            report();
            if (attempt >= deps.attempts || !transient(e)) throw e;
            await deps.sleep(500 * 2 ** (attempt - 1));
          }
        }
      };
      const missing = () => Array.from({ length: total }, (_, i) => i).filter((i) => !have.has(i));
      for (let round = 0; round < 2; round++) {
        const queue = missing();
        const worker = async () => {
          for (let n = queue.shift(); n !== undefined; n = queue.shift()) await sendPart(n);
        };
        await Promise.all(Array.from({ length: Math.min(deps.parallelParts, queue.length) }, worker));
        try {
          await call<UploadCompleted>('POST', `/v1/uploads/${enc(id)}/complete`);
          return id;
        } catch (e) {
          // Parts the server does not have after all: ask which and send them again once.
          if (!(e instanceof ApiError && e.reason === 'upload_incomplete') || round > 0) throw e;
          const u = await call<Upload>('GET', `/v1/uploads/${enc(id)}`);
          have = new Set(u.received_chunks);
          doneBytes = 0;
          for (const n of have) doneBytes += size(n);
        }
      }
      return id;
    })();
    return handle;
  }

  const api: CremaApi = {
    caps: { kind: 'http', canPickPaths: false, canOpenFiles: false, hasServerPanel: false, canUpload: true, needsLogin: true },
    desktop: null,

    async hasSession() {
      try {
        await once('GET', '/v1/profiles');
        return true;
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) return false;
        throw e;
      }
    },
    async login(apiKey) {
      await call('POST', '/auth/login', { api_key: apiKey.trim() });
    },
    async logout() {
      await call('POST', '/auth/logout');
    },
    async listProfiles() {
      return (await call<{ profiles: Profile[] }>('GET', '/v1/profiles')).profiles;
    },
    listJobs(q: ListQuery = {}) {
      const p = new URLSearchParams();
      if (q.status) p.set('status', q.status);
      if (q.limit) p.set('limit', String(q.limit));
      if (q.cursor) p.set('cursor', q.cursor);
      const qs = p.toString();
      return call<JobPage>('GET', `/v1/jobs${qs ? `?${qs}` : ''}`);
    },
    getJob: (id) => call<Job>('GET', `/v1/jobs/${enc(id)}`),
    submitJob: (spec: JobSpec) => call<Job>('POST', '/v1/jobs', spec),
    cancelJob: (id) => call<Job>('DELETE', `/v1/jobs/${enc(id)}`),
    retryJob: (id) => call<Job>('POST', `/v1/jobs/${enc(id)}/retry`),
    async removeJob(id) {
      try {
        await call('DELETE', `/v1/jobs/${enc(id)}/record`);
      } catch (e) {
        if (e instanceof ApiError && e.status === 404 && /no such route/.test(e.message)) {
          throw new ApiError('conflict', 'This server cannot remove jobs from the list yet: update crema');
        }
        throw e;
      }
    },
    async moveJob(id, position: MovePosition) {
      try {
        await call('POST', `/v1/jobs/${enc(id)}/move`, { position });
      } catch (e) {
        if (e instanceof ApiError && e.status === 404 && /no such route/.test(e.message)) {
          throw new ApiError('conflict', 'This server cannot reorder the queue yet: update crema');
        }
        throw e;
      }
    },

    subscribe(onEvent) {
      let closed = false;
      let hadError = false;
      const es = new deps.EventSource(url('/v1/events'), { withCredentials: true });
      const data = (ev: MessageEvent): unknown => {
        try {
          return JSON.parse(String(ev.data));
        } catch {
          return null;
        }
      };
      for (const name of EVENT_NAMES) {
        es.addEventListener(name, (ev) => {
          if (closed) return;
          const d = data(ev);
          if (name === 'lagged') onEvent({ type: 'lagged' });
          else if (name === 'job.progress') {
            const p = d as { job_id?: string; progress?: Progress } | null;
            if (p?.job_id && p.progress) onEvent({ type: 'job.progress', job_id: p.job_id, progress: p.progress });
          } else if (d && typeof d === 'object' && 'id' in d) onEvent({ type: name, job: d as Job });
        });
      }
      es.onopen = () => {
        if (closed) return;
        onEvent({ type: 'connection', state: 'open' });
        // Events sent while we were away are gone: refetch.
        if (hadError) onEvent({ type: 'lagged' });
        hadError = false;
      };
      es.onerror = () => {
        if (closed) return;
        hadError = true;
        // CLOSED (2): the browser gave up (e.g. 401); CONNECTING (0): it retries by itself.
        onEvent({ type: 'connection', state: es.readyState === 2 ? 'closed' : 'reconnecting' });
      };
      return () => {
        closed = true;
        es.close();
      };
    },

    async listWatchRules() {
      return (await call<{ watch_folders: WatchRule[] }>('GET', '/v1/watch-folders')).watch_folders;
    },
    addWatchRule: (spec: WatchRuleSpec) => call<WatchRule>('POST', '/v1/watch-folders', spec),
    removeWatchRule: (id) => call<WatchRule>('DELETE', `/v1/watch-folders/${enc(id)}`),
    pauseWatchRule: (id) => call<WatchRule>('POST', `/v1/watch-folders/${enc(id)}/pause`),
    resumeWatchRule: (id) => call<WatchRule>('POST', `/v1/watch-folders/${enc(id)}/resume`),
    async watchEvents(id, limit = WATCH_EVENTS_SHOWN) {
      const r = await call<{ events: WatchEvent[] }>('GET', `/v1/watch-folders/${enc(id)}/events?limit=${limit}`);
      return r.events;
    },

    listNodes: () => call<NodeList>('GET', '/v1/nodes'),

    thumbnailUrl(ref: SourceRef) {
      if ('job' in ref) return url(`/v1/jobs/${enc(ref.job)}/thumbnail`);
      if ('upload' in ref) return url(`/v1/uploads/${enc(ref.upload)}/thumbnail`);
      return null;
    },
    async sourceFacts(ref: SourceRef): Promise<ProbeResult> {
      if ('upload' in ref) {
        const u = await call<Upload>('GET', `/v1/uploads/${enc(ref.upload)}`);
        return { facts: factsOfUpload(u), thumbnail: api.thumbnailUrl(ref) };
      }
      if ('job' in ref) {
        const j = await api.getJob(ref.job);
        return { facts: j.source, thumbnail: api.thumbnailUrl(ref) };
      }
      return { facts: null, thumbnail: null };
    },
    async playbackUrl(job: Job) {
      // `/v1/jobs/{id}/output` answers 302 to a signed URL (for HLS, the
      // package's master.m3u8 under a folder token). HEAD follows it without
      // downloading the file; `res.url` is where it landed, so relative
      // playlist URIs resolve against the token.
      const path = url(`/v1/jobs/${enc(job.id)}/output`);
      const res = await deps.fetch(path, { method: 'HEAD', redirect: 'follow', credentials: 'same-origin' });
      if (res.ok) return res.url || path;
      // HEAD answers carry no body: ask again with GET for the reason.
      const again = await deps.fetch(path, { method: 'GET', redirect: 'manual', credentials: 'same-origin' });
      throw errorFromResponse(again.status || res.status, await parse(again));
    },
    downloadUrl(job: Job) {
      return job.output.state === 'available' && !job.output.expired ? url(`/v1/jobs/${enc(job.id)}/output`) : null;
    },
    async waveform(job: Job) {
      if (!job.output.waveform || job.output.expired) return null;
      // 302 to a signed download: the .dat bytes or the JSON form.
      const res = await deps.fetch(url(`/v1/jobs/${enc(job.id)}/waveform`), { credentials: 'same-origin', redirect: 'follow' });
      if (!res.ok) throw errorFromResponse(res.status, await parse(res), res.headers.get('X-Request-Id'));
      if (job.output.waveform.format === 'json' || (res.headers.get('Content-Type') ?? '').includes('json')) {
        return parseJson(await res.json());
      }
      return parseDat(await res.arrayBuffer());
    },
    upload,
  };
  return api;
}
