// The app's state and actions, shared by the components. The logic that
// deserves tests lives in plain modules (queue.ts, options.ts, format.ts);
// this file wires them to the api module and to Svelte's reactivity.
// Collections here are either private bookkeeping or replaced whole in
// `$state.raw` fields (cheap identity checks for the 500-row list), so
// Svelte's reactive Map/Set are not wanted.
/* eslint-disable svelte/prefer-svelte-reactivity */
import { tick } from 'svelte';
import { humanMessage, listAllJobs } from '../api';
import type { CremaApi, UploadHandle, UploadProgress } from '../api/api';
import type { CremaEvent, Job, MovePosition, Profile, SourceFacts, SourceSpec } from '../api/types';
import { isTerminal } from '../api/types';
import { cloneOptions, loadOptions, saveOptions, toSpec, validateOptions, type JobOptions } from './options';
import { BatchTracker, describeBatch, JobQueue } from './queue';

export interface Draft {
  key: string;
  name: string;
  bytes: number;
  file: (Blob & { name: string; type: string }) | null;
  path: string | null;
  uploadId: string | null;
  state: 'uploading' | 'probing' | 'ready' | 'failed' | 'submitting';
  progress: UploadProgress | null;
  error: string | null;
  facts: SourceFacts | null;
  thumbnail: string | null;
  /** Options pinned with "Apply to selected"; null follows the panel. */
  options: JobOptions | null;
}

export interface Toast {
  id: number;
  kind: 'error' | 'info';
  text: string;
}

let draftSeq = 0;
let toastSeq = 0;

const VIDEO_EXT = /\.(mov|mp4|m4v|mkv|mxf|avi|ts|mts|m2ts|webm|mpg|mpeg|wmv|flv|3gp|dv|y4m|r3d|braw|ogv)$/i;

/** Whether a file found inside a dropped folder looks like video (loose files are always taken). */
export function looksLikeVideo(name: string, type = ''): boolean {
  return type.startsWith('video/') || VIDEO_EXT.test(name);
}

export class Store {
  readonly api: CremaApi;
  profiles = $state.raw<Profile[]>([]);
  profileMap = $derived(new Map(this.profiles.map((p) => [p.id, p])));
  rows = $state.raw<Job[]>([]);
  counts = $state.raw({ running: 0, queued: 0, completed: 0, failed: 0, canceled: 0 });
  drafts = $state<Draft[]>([]);
  /** Selected draft keys and job IDs. */
  selected = $state.raw<ReadonlySet<string>>(new Set());
  options = $state<JobOptions>(loadOptions());
  toasts = $state<Toast[]>([]);
  connection = $state<'open' | 'reconnecting' | 'closed'>('open');
  loggedOut = $state(false);
  loaded = $state(false);
  /** Milliseconds of the list's first render (its first rows; measured for the 500-job check). */
  renderMs = $state<number | null>(null);
  /** Longest later render step while the rest of a long list is added, in milliseconds. */
  chunkMaxMs = $state(0);
  /** Rows the list has rendered so far. */
  renderedRows = $state(0);
  playing = $state.raw<Job | null>(null);

  readonly queue = new JobQueue();
  private readonly batch = new BatchTracker();
  private readonly thumbs = new Map<string, string>();
  private readonly uploads = new Map<string, UploadHandle>();
  private unsubscribe: (() => void) | null = null;
  private refreshQueued = false;
  private askedNotify = false;

  constructor(api: CremaApi) {
    this.api = api;
  }

  // ----- lifecycle -------------------------------------------------------

  async start(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = this.api.subscribe((e) => this.onEvent(e));
    try {
      const [profiles, jobs] = await Promise.all([this.api.listProfiles(), listAllJobs(this.api)]);
      this.profiles = profiles;
      if (!profiles.some((p) => p.id === this.options.profile) && profiles.length) {
        this.options.profile = profiles.find((p) => p.id === 'sophon-auto')?.id ?? profiles[0].id;
      }
      await tick();
      const t0 = performance.now();
      this.queue.load(jobs);
      this.flush();
      this.loaded = true;
      await tick();
      this.renderMs = performance.now() - t0;
    } catch (e) {
      this.error(e);
    }
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  async refetch(): Promise<void> {
    try {
      this.queue.load(await listAllJobs(this.api));
      this.flush();
    } catch (e) {
      this.error(e);
    }
  }

  private flush(): void {
    this.rows = this.queue.rows();
    this.counts = this.queue.counts();
  }

  /** Coalesces bursts of events into one update per frame. */
  private scheduleFlush(): void {
    if (this.refreshQueued) return;
    this.refreshQueued = true;
    const run = () => {
      this.refreshQueued = false;
      this.flush();
    };
    if (typeof requestAnimationFrame === 'function' && typeof document !== 'undefined' && !document.hidden) requestAnimationFrame(run);
    else setTimeout(run, 50);
  }

  private onEvent(e: CremaEvent): void {
    if (e.type === 'connection') {
      this.connection = e.state;
      if (e.state === 'closed') void this.checkSession();
      return;
    }
    if (e.type === 'lagged') {
      void this.refetch();
      return;
    }
    if (this.queue.apply(e)) {
      this.scheduleFlush();
      if (e.type !== 'job.progress') {
        if (this.playing?.id === e.job.id) this.playing = e.job;
        const done = this.batch.observe(e.job);
        if (done) this.notify('Crema: batch finished', describeBatch(done));
      }
    }
  }

  private async checkSession(): Promise<void> {
    try {
      if (!(await this.api.hasSession())) this.loggedOut = true;
    } catch {
      // Server unreachable: the banner already says so.
    }
  }

  // ----- messages --------------------------------------------------------

  error(e: unknown): void {
    const text = humanMessage(e);
    if (this.api.caps.needsLogin && /log in again/i.test(text)) this.loggedOut = true;
    this.toast('error', text);
  }

  toast(kind: Toast['kind'], text: string): void {
    const id = ++toastSeq;
    this.toasts = [...this.toasts.slice(-4), { id, kind, text }];
    setTimeout(() => this.dismiss(id), kind === 'error' ? 12000 : 5000);
  }

  dismiss(id: number): void {
    this.toasts = this.toasts.filter((t) => t.id !== id);
  }

  private notify(title: string, body: string): void {
    this.toast('info', `${title.replace('Crema: b', 'B')}: ${body}`);
    const N = (globalThis as { Notification?: typeof Notification }).Notification;
    if (N && N.permission === 'granted') {
      try {
        new N(title, { body });
      } catch {
        // Some webviews expose the API but refuse to construct.
      }
    }
  }

  private async askNotifyPermission(): Promise<void> {
    if (this.askedNotify) return;
    this.askedNotify = true;
    const N = (globalThis as { Notification?: typeof Notification }).Notification;
    if (N && N.permission === 'default') {
      try {
        await N.requestPermission();
      } catch {
        // Denied or unsupported: the in-page message still comes.
      }
    }
  }

  // ----- options ---------------------------------------------------------

  setOptions(o: JobOptions): void {
    this.options = o;
    saveOptions($state.snapshot(o) as JobOptions);
  }

  optionsOf(d: Draft): JobOptions {
    return d.options ?? this.options;
  }

  /** Pins the panel's options on the selected drafts (all drafts when none is selected). */
  applyToSelected(): number {
    const targets = this.drafts.filter((d) => this.selected.has(d.key));
    const list = targets.length ? targets : this.drafts;
    const snap = cloneOptions($state.snapshot(this.options) as JobOptions);
    for (const d of list) d.options = cloneOptions(snap);
    return list.length;
  }

  /** Lets the drafts follow the panel again. */
  unpin(d: Draft): void {
    d.options = null;
  }

  // ----- selection -------------------------------------------------------

  toggle(key: string, on?: boolean): void {
    const s = new Set(this.selected);
    if (on ?? !s.has(key)) s.add(key);
    else s.delete(key);
    this.selected = s;
  }

  selectAll(keys: string[], on: boolean): void {
    const s = new Set(this.selected);
    for (const k of keys) {
      if (on) s.add(k);
      else s.delete(k);
    }
    this.selected = s;
  }

  /** Delete key: removes the selected drafts and the selected finished jobs. */
  async removeSelected(): Promise<void> {
    const keys = [...this.selected];
    if (!keys.length) return;
    let skipped = 0;
    for (const k of keys) {
      const d = this.drafts.find((x) => x.key === k);
      if (d) {
        this.removeDraft(d);
        continue;
      }
      const j = this.queue.get(k);
      if (j && isTerminal(j.status)) await this.remove(j);
      else if (j) skipped++;
    }
    this.selected = new Set();
    if (skipped) this.toast('info', `${skipped} unfinished ${skipped === 1 ? 'job was' : 'jobs were'} kept: cancel ${skipped === 1 ? 'it' : 'them'} first.`);
  }

  // ----- adding sources --------------------------------------------------

  addFiles(files: (Blob & { name: string; type: string })[]): void {
    for (const file of files) {
      const d: Draft = {
        key: `draft-${++draftSeq}`,
        name: file.name,
        bytes: file.size,
        file,
        path: null,
        uploadId: null,
        state: 'uploading',
        progress: null,
        error: null,
        facts: null,
        thumbnail: null,
        options: null,
      };
      this.drafts.push(d);
      void this.runUpload(this.drafts[this.drafts.length - 1]);
    }
  }

  private async runUpload(d: Draft): Promise<void> {
    if (!d.file) return;
    d.state = 'uploading';
    d.error = null;
    const handle = this.api.upload(d.file, {
      resumeId: d.uploadId,
      onSession: (id) => (d.uploadId = id),
      onProgress: (p) => (d.progress = p),
    });
    this.uploads.set(d.key, handle);
    try {
      const id = await handle.done;
      d.uploadId = id;
      d.state = 'probing';
      await this.loadFacts(d, { upload: id });
    } catch (e) {
      if (e instanceof DOMException && e.name === 'AbortError') return;
      d.state = 'failed';
      d.error = humanMessage(e);
    } finally {
      this.uploads.delete(d.key);
    }
  }

  private async loadFacts(d: Draft, ref: { upload: string } | { path: string }): Promise<void> {
    try {
      const r = await this.api.sourceFacts(ref);
      d.facts = r.facts;
      d.thumbnail = r.thumbnail;
      d.state = 'ready';
    } catch (e) {
      // Facts are a nicety for uploads (the job probes again); for paths they tell us the file is readable.
      if ('path' in ref) {
        d.state = 'failed';
        d.error = humanMessage(e);
      } else d.state = 'ready';
    }
  }

  addPaths(paths: string[]): void {
    for (const path of paths) {
      const name = path.split(/[\\/]/).filter(Boolean).pop() ?? path;
      this.drafts.push({
        key: `draft-${++draftSeq}`,
        name,
        bytes: 0,
        file: null,
        path,
        uploadId: null,
        state: 'probing',
        progress: null,
        error: null,
        facts: null,
        thumbnail: null,
        options: null,
      });
      const d = this.drafts[this.drafts.length - 1];
      void this.loadFacts(d, { path }).then(() => {
        if (d.facts?.bytes) d.bytes = d.facts.bytes;
      });
    }
  }

  retryDraft(d: Draft): void {
    if (d.file) void this.runUpload(d);
    else if (d.path) {
      d.state = 'probing';
      d.error = null;
      void this.loadFacts(d, { path: d.path });
    }
  }

  removeDraft(d: Draft): void {
    this.uploads.get(d.key)?.abort();
    this.drafts = this.drafts.filter((x) => x.key !== d.key);
    if (this.selected.has(d.key)) this.toggle(d.key, false);
  }

  // ----- jobs ------------------------------------------------------------

  /** Submits every ready draft with its options. */
  async startAll(): Promise<void> {
    const ready = this.drafts.filter((d) => d.state === 'ready');
    if (!ready.length) return;
    const known = this.profiles.map((p) => p.id);
    for (const d of ready) {
      const problems = validateOptions(this.optionsOf(d), known.length ? known : undefined);
      if (problems.length) {
        this.toast('error', `${d.name}: ${problems.join(' ')}`);
        return;
      }
    }
    void this.askNotifyPermission();
    const ids: string[] = [];
    for (const d of ready) {
      const source: SourceSpec = d.path ? { type: 'path', path: d.path } : { type: 'upload', upload_id: d.uploadId ?? '' };
      d.state = 'submitting';
      try {
        const job = await this.api.submitJob(toSpec(source, $state.snapshot(this.optionsOf(d)) as JobOptions));
        if (d.thumbnail) this.thumbs.set(job.id, d.thumbnail);
        this.queue.upsert(job);
        ids.push(job.id);
        this.drafts = this.drafts.filter((x) => x.key !== d.key);
        if (this.selected.has(d.key)) this.toggle(d.key, false);
      } catch (e) {
        d.state = 'ready';
        const text = humanMessage(e);
        // Source errors already name the file ("Text.mov: not a video…").
        this.toast('error', text.toLowerCase().startsWith(d.name.toLowerCase()) ? text : `${d.name}: ${text}`);
      }
    }
    if (ids.length) this.batch.add(ids);
    this.flush();
  }

  thumbFor(job: Job): string | null {
    return this.thumbs.get(job.id) ?? this.api.thumbnailUrl({ job: job.id });
  }

  async cancel(job: Job): Promise<void> {
    try {
      this.queue.upsert(await this.api.cancelJob(job.id));
      this.flush();
    } catch (e) {
      this.error(e);
    }
  }

  async retry(job: Job): Promise<void> {
    try {
      const j = await this.api.retryJob(job.id);
      this.batch.reopen(j.id);
      this.queue.upsert(j);
      this.flush();
    } catch (e) {
      this.error(e);
    }
  }

  async remove(job: Job): Promise<void> {
    try {
      await this.api.removeJob(job.id);
      this.queue.remove(job.id);
      if (this.playing?.id === job.id) this.playing = null;
      this.flush();
    } catch (e) {
      this.error(e);
    }
  }

  async move(job: Job, how: 'up' | 'down' | 'top'): Promise<void> {
    const position: MovePosition | null = how === 'top' ? 'top' : this.queue.neighborMove(job.id, how);
    if (!position) return;
    try {
      await this.api.moveJob(job.id, position);
      this.queue.move(job.id, position);
      this.flush();
    } catch (e) {
      this.error(e);
    }
  }

  async open(job: Job, reveal = false): Promise<void> {
    const path = job.output.hls?.master_playlist ?? job.output.path;
    if (!this.api.desktop || !path) return;
    try {
      await (reveal ? this.api.desktop.revealPath(path) : this.api.desktop.openPath(path));
    } catch (e) {
      this.error(e);
    }
  }

  async logout(): Promise<void> {
    try {
      await this.api.logout();
    } catch (e) {
      this.error(e);
    }
    this.stop();
    this.loggedOut = true;
  }
}
