import { describe, expect, it } from 'vitest';
import { humanMessage } from '../src/api/errors';
import { createTauriApi, eventFromChannel, type ChannelLike, type TauriDeps } from '../src/api/tauri';
import type { CremaEvent } from '../src/api/types';
import { job, watchEvent, watchRule } from './helpers';

function fake(handlers: Record<string, (args?: Record<string, unknown>) => unknown>) {
  const calls: { cmd: string; args?: Record<string, unknown> }[] = [];
  let channel: ChannelLike<unknown> | null = null;
  class Channel<T> implements ChannelLike<T> {
    onmessage: (msg: T) => void = () => {};
    constructor() {
      channel = this as unknown as ChannelLike<unknown>;
    }
  }
  const deps: TauriDeps = {
    invoke: async <T,>(cmd: string, args?: Record<string, unknown>) => {
      calls.push({ cmd, args });
      const h = handlers[cmd];
      if (!h) throw { code: 'unknown_command', message: `no command ${cmd}` };
      return (await h(args)) as T;
    },
    Channel: Channel as unknown as TauriDeps['Channel'],
    convertFileSrc: (p) => `asset://localhost/${encodeURIComponent(p)}`,
    openDialog: async () => ['/videos/a.mov', '/videos/b.mxf'],
    onDragDrop: async (h) => {
      h(['/dropped/c.mov']);
      return () => {};
    },
  };
  return { deps, calls, channel: () => channel };
}

describe('tauri transport', () => {
  it('calls the commands with snake_case arguments and the HTTP payload shapes', async () => {
    const j = job({ source: { ...job().source, type: 'path', path: '/videos/a.mov' } });
    const { deps, calls } = fake({
      list_profiles: () => ({ profiles: [{ id: 'sophon-auto' }] }),
      list_jobs: () => ({ jobs: [j], next_cursor: null, has_more: false }),
      get_job: () => j,
      submit_job: () => j,
      cancel_job: () => ({ ...j, status: 'canceled' }),
      retry_job: () => ({ ...j, attempt: 2 }),
      remove_job: () => null,
      move_job: () => null,
    });
    const api = createTauriApi(deps);
    expect(api.caps).toMatchObject({ kind: 'tauri', canPickPaths: true, canOpenFiles: true, hasServerPanel: true, canUpload: false });
    expect((await api.listProfiles())[0].id).toBe('sophon-auto');
    await api.listJobs({ limit: 100, cursor: 'c' });
    await api.submitJob({ source: { type: 'path', path: '/videos/a.mov' }, profile: 'sophon-auto' });
    await api.cancelJob(j.id);
    await api.retryJob(j.id);
    await api.removeJob(j.id);
    await api.moveJob(j.id, { before: 'job_x' });
    expect(calls.map((c) => [c.cmd, c.args])).toEqual([
      ['list_profiles', undefined],
      ['list_jobs', { limit: 100, cursor: 'c' }],
      ['submit_job', { spec: { source: { type: 'path', path: '/videos/a.mov' }, profile: 'sophon-auto' } }],
      ['cancel_job', { id: j.id }],
      ['retry_job', { id: j.id }],
      ['remove_job', { id: j.id }],
      ['move_job', { id: j.id, position: { before: 'job_x' } }],
    ]);
  });

  it('errors come back as {code, message} and read as sentences', async () => {
    const { deps } = fake({ get_job: () => Promise.reject({ code: 'not_found', message: 'job job_1 does not exist' }) });
    const api = createTauriApi(deps);
    const e = await api.getJob('job_1').catch((x) => x);
    expect(e.code).toBe('not_found');
    expect(humanMessage(e)).toBe('Job job_1 does not exist.');
    const e2 = await createTauriApi(fake({ get_job: () => Promise.reject('plain string failure') }).deps).getJob('x').catch((x) => x);
    expect(humanMessage(e2)).toBe('Plain string failure.');
    expect(() => api.upload(new File([], 'a'))).toThrow(/by path/);
  });

  it('subscribe passes a channel as on_event and normalizes its messages', async () => {
    const f = fake({ subscribe: () => null });
    const api = createTauriApi(f.deps);
    const got: CremaEvent[] = [];
    const stop = api.subscribe((e) => got.push(e));
    expect(f.calls[0]).toMatchObject({ cmd: 'subscribe' });
    expect(f.calls[0].args?.on_event).toBe(f.channel());
    await new Promise((r) => setTimeout(r, 0));
    const j = job();
    const ch = f.channel()!;
    ch.onmessage({ type: 'job.created', ...j });
    ch.onmessage({ type: 'job.updated', job: { ...j, status: 'encoding' } });
    ch.onmessage({ type: 'job.progress', job_id: j.id, progress: j.progress });
    ch.onmessage({ type: 'something.else' });
    stop();
    ch.onmessage({ type: 'job.created', ...j });
    expect(got.map((e) => e.type)).toEqual(['connection', 'job.created', 'job.updated', 'job.progress']);
    expect((got[1] as { job: { id: string; type?: string } }).job.id).toBe(j.id);
    expect((got[1] as { job: Record<string, unknown> }).job.type).toBeUndefined();
  });

  it('eventFromChannel accepts the service event names too', () => {
    const j = job();
    expect(eventFromChannel({ type: 'job_state_changed', job: j })).toEqual({ type: 'job.updated', job: j });
    expect(eventFromChannel(null)).toBeNull();
    expect(eventFromChannel({ type: 'job.progress' })).toBeNull();
  });

  it('probe, playback URL, desktop commands', async () => {
    const { deps, calls } = fake({
      probe_file: () => ({ facts: { resolution: '3840x2160', bit_depth: 10, hdr: 'pq' }, thumbnail: 'data:image/jpeg;base64,AA' }),
      open_path: () => null,
      reveal_path: () => null,
      settings_get: () => ({ concurrent_jobs: 2, output_dir: null, encoder: 'auto', decoder: 'software' }),
      settings_set: (a) => a?.settings,
      encoders: () => ({ encoders: [{ name: 'libx265', backend: 'software', available: true }] }),
      server_status: () => ({ running: false }),
      server_start: (a) => ({ running: true, listen: a?.listen, url: 'http://192.168.1.5:8080' }),
      server_stop: () => ({ running: false }),
      keys_list: () => [{ id: 'key_1', name: 'suite' }],
      keys_create: (a) => ({ id: 'key_2', name: a?.name, key: 'crema_sk_x' }),
      keys_revoke: () => null,
      playback_url: (a) => `http://127.0.0.1:40123/v1/downloads/tok-${String(a?.id)}`,
    });
    const api = createTauriApi(deps);
    const r = await api.sourceFacts({ path: '/v/a.mov' });
    expect(r.facts?.bit_depth).toBe(10);
    expect(r.thumbnail).toMatch(/^data:image\/jpeg/);
    const done = job({ status: 'completed', output: { ...job().output, state: 'available', path: '/out/a.mp4' } });
    expect(await api.playbackUrl(done)).toBe(`http://127.0.0.1:40123/v1/downloads/tok-${done.id}`);
    expect(calls.some((c) => c.cmd === 'playback_url' && c.args?.id === done.id)).toBe(true);
    await expect(api.playbackUrl(job())).rejects.toThrow(/no output/);
    const d = api.desktop!;
    expect(await d.pickFiles()).toEqual(['/videos/a.mov', '/videos/b.mxf']);
    await d.openPath('/out/a.mp4');
    await d.revealPath('/out/a.mp4');
    expect(await d.settingsSet({ concurrent_jobs: 3 })).toEqual({ concurrent_jobs: 3 });
    expect((await d.encoders())[0].name).toBe('libx265');
    expect((await d.serverStart('0.0.0.0:8080')).url).toBe('http://192.168.1.5:8080');
    expect((await d.keysCreate('edit')).key).toBe('crema_sk_x');
    await d.keysRevoke('key_1');
    const dropped: string[][] = [];
    await d.onDrop((p) => dropped.push(p));
    expect(dropped).toEqual([['/dropped/c.mov']]);
    expect(calls.filter((c) => c.cmd === 'keys_revoke')[0].args).toEqual({ id: 'key_1' });
    expect(calls.filter((c) => c.cmd === 'server_start')[0].args).toEqual({ listen: '0.0.0.0:8080' });
  });

  it('nodes: the desktop app has no node list and sends no command for it', async () => {
    const { deps, calls } = fake({});
    const api = createTauriApi(deps);
    expect(await api.listNodes()).toBeNull();
    expect(calls).toEqual([]);
  });

  it('watch folders: the watch_* commands with snake_case arguments', async () => {
    const rule = watchRule();
    const { deps, calls } = fake({
      watch_list: () => [rule],
      watch_add: (a) => ({ ...rule, spec: { ...rule.spec, ...(a?.spec as object) } }),
      watch_remove: () => rule,
      watch_pause: () => ({ ...rule, paused: true }),
      watch_resume: () => rule,
      watch_events: () => [watchEvent({ decision: 'done', output_path: '/srv/out/a.sophon-cortado.mp4' })],
    });
    const api = createTauriApi(deps);
    expect(await api.listWatchRules()).toEqual([rule]);
    const spec = { folder: '/home/me/Ingest', profile: 'sophon-cortado', on_failure: { action: 'move' as const, dir: null } };
    expect((await api.addWatchRule(spec)).spec.folder).toBe('/home/me/Ingest');
    expect((await api.pauseWatchRule('wf_1')).paused).toBe(true);
    await api.resumeWatchRule('wf_1');
    await api.removeWatchRule('wf_1');
    expect((await api.watchEvents('wf_1'))[0].decision).toBe('done');
    await api.watchEvents('wf_1', 50);
    expect(calls.map((c) => [c.cmd, c.args])).toEqual([
      ['watch_list', undefined],
      ['watch_add', { spec }],
      ['watch_pause', { id: 'wf_1' }],
      ['watch_resume', { id: 'wf_1' }],
      ['watch_remove', { id: 'wf_1' }],
      ['watch_events', { id: 'wf_1', limit: 20 }],
      ['watch_events', { id: 'wf_1', limit: 50 }],
    ]);
  });

  it('watch folders: a refused rule rejects with the command error as a sentence', async () => {
    const { deps } = fake({ watch_add: () => Promise.reject({ code: 'validation_error', message: 'folder: /nope does not exist' }) });
    const e = await createTauriApi(deps).addWatchRule({ folder: '/nope', profile: 'sophon-auto' }).catch((x) => x);
    expect(e.code).toBe('validation_error');
    expect(humanMessage(e)).toMatch(/^Folder: \/nope does not exist/);
  });
});
