import { describe, expect, it } from 'vitest';
import { ApiError, humanMessage } from '../src/api/errors';
import { createHttpApi, type EventSourceLike, type PutPart } from '../src/api/http';
import type { CremaEvent } from '../src/api/types';
import { job, watchEvent, watchRule } from './helpers';

type Call = { url: string; method: string; headers: Record<string, string>; body: unknown };

/** A fake fetch: routes by "METHOD path" to handlers returning [status, body]. */
function fakeFetch(routes: Record<string, (c: Call) => [number, unknown] | Promise<[number, unknown]>>) {
  const calls: Call[] = [];
  const f = async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = String(input);
    const method = init.method ?? 'GET';
    const headers = (init.headers ?? {}) as Record<string, string>;
    const body = typeof init.body === 'string' ? JSON.parse(init.body) : init.body;
    const c = { url, method, headers, body };
    calls.push(c);
    const path = url.replace(/^https?:\/\/[^/]+/, '').split('?')[0];
    const h = routes[`${method} ${path}`] ?? routes[`${method} *`];
    if (!h) return new Response(JSON.stringify({ error: { code: 'not_found', message: 'no such route', retryable: false } }), { status: 404 });
    const [status, b] = await h(c);
    return new Response(b === null ? null : JSON.stringify(b), { status, headers: { 'Content-Type': 'application/json', 'X-Request-Id': 'req_1' } });
  };
  return { fetch: f as typeof fetch, calls };
}

class FakeES implements EventSourceLike {
  static last: FakeES;
  readyState = 0;
  onopen: ((ev: Event) => unknown) | null = null;
  onerror: ((ev: Event) => unknown) | null = null;
  listeners = new Map<string, (ev: MessageEvent) => void>();
  closed = false;
  constructor(public url: string) {
    FakeES.last = this;
  }
  addEventListener(type: string, l: (ev: MessageEvent) => void) {
    this.listeners.set(type, l);
  }
  close() {
    this.closed = true;
  }
  emit(type: string, data: unknown) {
    this.listeners.get(type)?.({ data: JSON.stringify(data) } as MessageEvent);
  }
}

const noSleep = async () => {};

describe('http transport', () => {
  it('sends a fresh Idempotency-Key on every POST and none on GET', async () => {
    const j = job();
    const { fetch, calls } = fakeFetch({ 'POST /v1/jobs': () => [201, j], 'GET /v1/jobs': () => [200, { jobs: [j], next_cursor: null, has_more: false }] });
    const api = createHttpApi({ fetch, sleep: noSleep });
    await api.submitJob({ source: { type: 'upload', upload_id: 'upl_1' }, profile: 'sophon-auto' });
    await api.submitJob({ source: { type: 'upload', upload_id: 'upl_2' }, profile: 'sophon-auto' });
    await api.listJobs({ limit: 100, cursor: 'c1', status: 'queued' });
    const posts = calls.filter((c) => c.method === 'POST');
    expect(posts[0].headers['Idempotency-Key']).toMatch(/^[0-9a-f-]{36}$/);
    expect(posts[0].headers['Idempotency-Key']).not.toBe(posts[1].headers['Idempotency-Key']);
    expect(calls[2].headers['Idempotency-Key']).toBeUndefined();
    expect(calls[2].url).toBe('/v1/jobs?status=queued&limit=100&cursor=c1');
  });

  it('retries a transient POST failure with the same key', async () => {
    let n = 0;
    const { fetch, calls } = fakeFetch({
      'POST /v1/jobs/job_1/retry': () =>
        ++n < 2 ? [503, { error: { code: 'capacity_exceeded', message: 'busy', retryable: true } }] : [200, job({ id: 'job_1', attempt: 2 })],
    });
    const api = createHttpApi({ fetch, sleep: noSleep });
    const j = await api.retryJob('job_1');
    expect(j.attempt).toBe(2);
    expect(calls).toHaveLength(2);
    expect(calls[0].headers['Idempotency-Key']).toBe(calls[1].headers['Idempotency-Key']);
  });

  it('turns the error envelope into a human message, never JSON', async () => {
    const { fetch } = fakeFetch({
      'DELETE /v1/jobs/job_9': () => [409, { error: { code: 'job_not_cancelable', message: 'job job_9 is completed: nothing to cancel', retryable: false, request_id: 'req_x' } }],
      'GET /v1/jobs/job_8': () => [502, null],
    });
    const api = createHttpApi({ fetch, sleep: noSleep });
    const e = await api.cancelJob('job_9').catch((x) => x);
    expect(e).toBeInstanceOf(ApiError);
    expect(e.code).toBe('job_not_cancelable');
    expect(e.requestId).toBe('req_x');
    expect(humanMessage(e)).toBe('Job job_9 is completed: nothing to cancel.');
    const e2 = await api.getJob('job_8').catch((x) => x);
    expect(humanMessage(e2)).toBe('The server answered 502: a proxy could not reach the server. Try again; if it keeps happening, look at the server log.');
    expect(humanMessage(new TypeError('Failed to fetch'))).toMatch(/^Cannot reach the server/);
  });

  it('login, session check, logout', async () => {
    let session = false;
    const { fetch, calls } = fakeFetch({
      'POST /auth/login': (c) => {
        if ((c.body as { api_key: string }).api_key !== 'crema_sk_good') return [401, { error: { code: 'unauthorized', message: 'unknown API key', retryable: false } }];
        session = true;
        return [200, { key_id: 'key_1', expires_at: '2026-11-22T10:00:00Z' }];
      },
      'GET /v1/profiles': () => (session ? [200, { profiles: [] }] : [401, { error: { code: 'unauthorized', message: 'no credential', retryable: false } }]),
      'POST /auth/logout': () => {
        session = false;
        return [204, null];
      },
    });
    const api = createHttpApi({ fetch, sleep: noSleep });
    expect(await api.hasSession()).toBe(false);
    const bad = await api.login('crema_sk_bad').catch((x) => x);
    expect(humanMessage(bad)).toMatch(/^Unknown API key\. Log in again/);
    await api.login('  crema_sk_good ');
    expect(calls.find((c) => c.url === '/auth/login' && (c.body as { api_key: string }).api_key === 'crema_sk_good')).toBeTruthy();
    expect(await api.hasSession()).toBe(true);
    await api.logout();
    expect(await api.hasSession()).toBe(false);
  });

  it('remove and move use the extension routes and explain an older server', async () => {
    const { fetch, calls } = fakeFetch({ 'DELETE /v1/jobs/job_1/record': () => [200, job()], 'POST /v1/jobs/job_1/move': () => [200, job()] });
    const api = createHttpApi({ fetch, sleep: noSleep });
    await api.removeJob('job_1');
    await api.moveJob('job_1', { before: 'job_0' });
    expect(calls[1].body).toEqual({ position: { before: 'job_0' } });
    const e = await api.moveJob('job_2', 'top').catch((x) => x);
    expect(humanMessage(e)).toMatch(/cannot reorder the queue yet/);
  });

  it('events: created/updated/progress/lagged, reconnect → lagged, closed', () => {
    const api = createHttpApi({ fetch: fakeFetch({}).fetch, EventSource: FakeES, sleep: noSleep });
    const got: CremaEvent[] = [];
    const stop = api.subscribe((e) => got.push(e));
    const es = FakeES.last;
    expect(es.url).toBe('/v1/events');
    const j = job();
    es.onopen?.(new Event('open'));
    es.emit('job.created', j);
    es.emit('job.progress', { job_id: j.id, progress: j.progress });
    es.emit('job.updated', { ...j, status: 'encoding' });
    es.emit('lagged', { missed: 3 });
    es.onerror?.(new Event('error'));
    es.onopen?.(new Event('open'));
    es.readyState = 2;
    es.onerror?.(new Event('error'));
    expect(got.map((e) => e.type + ('state' in e ? `:${e.state}` : ''))).toEqual([
      'connection:open',
      'job.created',
      'job.progress',
      'job.updated',
      'lagged',
      'connection:reconnecting',
      'connection:open',
      'lagged',
      'connection:closed',
    ]);
    stop();
    expect(es.closed).toBe(true);
    es.emit('job.created', j);
    expect(got).toHaveLength(9);
  });

  it('uploads in chunks, 3 parts at a time, retries a failed part, then completes', async () => {
    const size = 10 * 100;
    const file = new File([new Uint8Array(size)], 'clip.mov', { type: 'video/quicktime' });
    const { fetch, calls } = fakeFetch({
      'POST /v1/uploads': () => [201, { id: 'upl_1', chunk_size: 100, total_chunks: 10, expires_at: 'x' }],
      'POST /v1/uploads/upl_1/complete': () => [200, { id: 'upl_1', status: 'completed', sha256: 'ab', bytes: size }],
    });
    let inFlight = 0;
    let maxInFlight = 0;
    const tries = new Map<number, number>();
    const putPart: PutPart = async (url, body, onProgress) => {
      const n = Number(url.split('/').pop());
      tries.set(n, (tries.get(n) ?? 0) + 1);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((r) => setTimeout(r, 1));
      onProgress(body.size / 2);
      inFlight--;
      if (n === 4 && tries.get(n) === 1) throw new TypeError('network error');
      if (n === 7 && tries.get(n) === 1) return { status: 500, body: { error: { code: 'internal_error', message: 'disk hiccup', retryable: true } } };
      expect(body.size).toBe(100);
      return { status: 200, body: { part_number: n, received: true } };
    };
    const progress: number[] = [];
    const api = createHttpApi({ fetch, putPart, sleep: noSleep });
    let session = '';
    const h = api.upload(file, { onProgress: (p) => progress.push(p.sentBytes), onSession: (id) => (session = id) });
    expect(await h.done).toBe('upl_1');
    expect(session).toBe('upl_1');
    expect(maxInFlight).toBe(3);
    expect(tries.get(4)).toBe(2);
    expect(tries.get(7)).toBe(2);
    expect(progress[progress.length - 1]).toBe(size);
    expect(calls.find((c) => c.method === 'POST' && c.url === '/v1/uploads')?.body).toEqual({ file_name: 'clip.mov', file_size: size, mime_type: 'video/quicktime' });
    expect(calls.some((c) => c.url === '/v1/uploads/upl_1/complete')).toBe(true);
  });

  it('resumes an upload session: sends only the missing parts', async () => {
    const file = new File([new Uint8Array(250)], 'a.mp4');
    const { fetch, calls } = fakeFetch({
      'GET /v1/uploads/upl_7': () => [200, { id: 'upl_7', status: 'uploading', file_name: 'a.mp4', total_chunks: 3, received_chunks: [0, 2], chunk_size: 100, file_size: 250, expires_at: 'x', created_at: 'x' }],
      'POST /v1/uploads/upl_7/complete': () => [200, { id: 'upl_7', status: 'completed', sha256: 'ab', bytes: 250 }],
    });
    const sent: number[] = [];
    const putPart: PutPart = async (url) => {
      sent.push(Number(url.split('/').pop()));
      return { status: 200, body: {} };
    };
    const api = createHttpApi({ fetch, putPart, sleep: noSleep });
    expect(await api.upload(file, { resumeId: 'upl_7' }).done).toBe('upl_7');
    expect(sent).toEqual([1]);
    expect(calls.some((c) => c.method === 'POST' && c.url === '/v1/uploads')).toBe(false);
  });

  it('a part refused for good fails the upload with the reason', async () => {
    const file = new File([new Uint8Array(10)], 'a.mp4');
    const { fetch } = fakeFetch({ 'POST /v1/uploads': () => [201, { id: 'upl_2', chunk_size: 100, total_chunks: 1, expires_at: 'x' }] });
    const putPart: PutPart = async () => ({
      status: 400,
      body: { error: { code: 'validation_error', reason: 'payload_too_large', message: 'part 0 is larger than the chunk size', retryable: false } },
    });
    const api = createHttpApi({ fetch, putPart, sleep: noSleep });
    const e = await api.upload(file).done.catch((x) => x);
    expect(humanMessage(e)).toBe('Part 0 is larger than the chunk size. The file is larger than this server accepts.');
  });

  it('facts of an upload and thumbnail URLs', async () => {
    const { fetch } = fakeFetch({
      'GET /v1/uploads/upl_3': () => [200, { id: 'upl_3', status: 'completed', file_name: 'c.mov', file_size: 5, bytes: 5, total_chunks: 1, received_chunks: [0], chunk_size: 5, expires_at: 'x', created_at: 'x', source_width: 1920, source_height: 1080, source_duration_seconds: 3.5, source_frame_rate: '25' }],
    });
    const api = createHttpApi({ fetch });
    const r = await api.sourceFacts({ upload: 'upl_3' });
    expect(r.facts).toMatchObject({ name: 'c.mov', bytes: 5, resolution: '1920x1080', duration_seconds: 3.5, frame_rate: '25' });
    expect(r.thumbnail).toBe('/v1/uploads/upl_3/thumbnail');
    expect(api.thumbnailUrl({ job: 'job_1' })).toBe('/v1/jobs/job_1/thumbnail');
  });

  it('watch folders: the /v1/watch-folders routes, POSTs with an Idempotency-Key', async () => {
    const rule = watchRule();
    const { fetch, calls } = fakeFetch({
      'GET /v1/watch-folders': () => [200, { watch_folders: [rule] }],
      'POST /v1/watch-folders': (c) => [201, { ...rule, spec: { ...rule.spec, ...(c.body as object) } }],
      'DELETE /v1/watch-folders/wf_1': () => [200, rule],
      'POST /v1/watch-folders/wf_1/pause': () => [200, { ...rule, paused: true }],
      'POST /v1/watch-folders/wf_1/resume': () => [200, rule],
      'GET /v1/watch-folders/wf_1/events': () => [200, { events: [watchEvent({ decision: 'ignored', reason: 'temporary name' })] }],
    });
    const api = createHttpApi({ fetch, sleep: noSleep });
    expect(await api.listWatchRules()).toEqual([rule]);
    const added = await api.addWatchRule({ folder: '/srv/ingest', profile: 'sophon-cortado', recursive: true, on_success: { action: 'delete' } });
    expect(added.spec.recursive).toBe(true);
    expect((await api.pauseWatchRule('wf_1')).paused).toBe(true);
    expect((await api.resumeWatchRule('wf_1')).paused).toBe(false);
    await api.removeWatchRule('wf_1');
    const events = await api.watchEvents('wf_1');
    expect(events[0]).toMatchObject({ decision: 'ignored', reason: 'temporary name' });
    expect(calls.map((c) => `${c.method} ${c.url}`)).toEqual([
      'GET /v1/watch-folders',
      'POST /v1/watch-folders',
      'POST /v1/watch-folders/wf_1/pause',
      'POST /v1/watch-folders/wf_1/resume',
      'DELETE /v1/watch-folders/wf_1',
      'GET /v1/watch-folders/wf_1/events?limit=20',
    ]);
    expect(calls[1].body).toEqual({ folder: '/srv/ingest', profile: 'sophon-cortado', recursive: true, on_success: { action: 'delete' } });
    const keys = calls.filter((c) => c.method === 'POST').map((c) => c.headers['Idempotency-Key']);
    expect(keys.every((k) => /^[0-9a-f-]{36}$/.test(k))).toBe(true);
    expect(new Set(keys).size).toBe(3);
    expect(calls[0].headers['Idempotency-Key']).toBeUndefined();
    await api.watchEvents('wf_1', 5);
    expect(calls.at(-1)?.url).toBe('/v1/watch-folders/wf_1/events?limit=5');
  });

  it('nodes: GET /v1/nodes as the server sends it', async () => {
    const nodes = { this_node: 'enc-1', data: [{ name: 'enc-1', version: '0.1.0', workers: 2, running_jobs: 0, encoders: ['libx265'], started_at: '2026-12-03T09:00:00Z', last_heartbeat_at: '2026-12-03T09:59:57Z', state: 'online' }] };
    const { fetch, calls } = fakeFetch({ 'GET /v1/nodes': () => [200, nodes] });
    const api = createHttpApi({ fetch, sleep: noSleep });
    expect(await api.listNodes()).toEqual(nodes);
    expect(calls.map((c) => `${c.method} ${c.url}`)).toEqual(['GET /v1/nodes']);
  });

  it('watch folders: a refused rule reads as the server says why', async () => {
    const { fetch } = fakeFetch({
      'POST /v1/watch-folders': () => [403, { error: { code: 'forbidden', message: 'folder: /home/x is outside the source roots', retryable: false } }],
      'POST /v1/watch-folders/wf_9/pause': () => [404, { error: { code: 'not_found', message: 'watch_folder wf_9 does not exist', retryable: false } }],
    });
    const api = createHttpApi({ fetch, sleep: noSleep });
    const e = await api.addWatchRule({ folder: '/home/x', profile: 'sophon-auto' }).catch((x) => x);
    expect(e).toBeInstanceOf(ApiError);
    expect(e.code).toBe('forbidden');
    expect(humanMessage(e)).toMatch(/^Folder: \/home\/x is outside the source roots/);
    const e2 = await api.pauseWatchRule('wf_9').catch((x) => x);
    expect(humanMessage(e2)).toMatch(/wf_9 does not exist/);
  });
});
