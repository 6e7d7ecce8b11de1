// The job list as the UI shows it: running first, then queued in run order,
// then finished newest first. Live events update it; every change makes a
// new row array, and unchanged jobs keep their object identity, so a keyed
// each-block only touches the rows that changed.
import type { CremaEvent, Job, MovePosition } from '../api/types';
import { isRunning, isTerminal } from '../api/types';

function byCreatedAsc(a: Job, b: Job): number {
  return a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : a.id < b.id ? -1 : 1;
}

function finishedAt(j: Job): string {
  return j.completed_at ?? j.created_at;
}

export class JobQueue {
  private jobs = new Map<string, Job>();
  /** Run order of queued jobs (mirrors the server's after moves). */
  private order: string[] = [];
  private cached: Job[] | null = null;

  get size(): number {
    return this.jobs.size;
  }

  get(id: string): Job | undefined {
    return this.jobs.get(id);
  }

  /** Replaces everything with a fresh list from the server; keeps the known run order. */
  load(list: readonly Job[]): void {
    const prev = new Map(this.order.map((id, i) => [id, i]));
    this.jobs = new Map(list.map((j) => [j.id, j]));
    const queued = list.filter((j) => j.status === 'queued');
    const hasPos = queued.some((j) => typeof j.queue_position === 'number');
    queued.sort((a, b) => {
      if (hasPos) return (a.queue_position ?? Infinity) - (b.queue_position ?? Infinity) || byCreatedAsc(a, b);
      const pa = prev.get(a.id);
      const pb = prev.get(b.id);
      if (pa !== undefined && pb !== undefined) return pa - pb;
      if (pa !== undefined) return -1;
      if (pb !== undefined) return 1;
      return byCreatedAsc(a, b);
    });
    this.order = queued.map((j) => j.id);
    this.cached = null;
  }

  /** Adds or replaces one job (from a response or an event). Returns whether anything changed. */
  upsert(job: Job): boolean {
    const old = this.jobs.get(job.id);
    if (old === job) return false;
    // An event can arrive after a newer response: never go back to an earlier attempt.
    if (old && old.attempt > job.attempt) return false;
    // Within one attempt a finished job never becomes unfinished again: a quick
    // failure's event can arrive before the response of the POST that created
    // (or retried) the job, and that older response must not undo it.
    if (old && old.attempt === job.attempt && isTerminal(old.status) && !isTerminal(job.status)) return false;
    this.jobs.set(job.id, job);
    const inOrder = this.order.includes(job.id);
    if (job.status === 'queued' && !inOrder) {
      this.order.push(job.id);
      if (typeof job.queue_position === 'number') this.sortByPosition();
    } else if (job.status !== 'queued' && inOrder) {
      this.order = this.order.filter((id) => id !== job.id);
    }
    this.cached = null;
    return true;
  }

  private sortByPosition(): void {
    this.order.sort((a, b) => (this.jobs.get(a)?.queue_position ?? Infinity) - (this.jobs.get(b)?.queue_position ?? Infinity));
  }

  remove(id: string): boolean {
    if (!this.jobs.delete(id)) return false;
    this.order = this.order.filter((x) => x !== id);
    this.cached = null;
    return true;
  }

  /** Applies a live event. Returns whether the list changed; `lagged` returns false (the caller refetches). */
  apply(ev: CremaEvent): boolean {
    switch (ev.type) {
      case 'job.created':
      case 'job.updated':
        return this.upsert(ev.job);
      case 'job.progress': {
        const j = this.jobs.get(ev.job_id);
        if (!j || isTerminal(j.status)) return false;
        // A progress report can name a later phase than the last status event we saw.
        const status = isRunning(ev.progress.phase) ? ev.progress.phase : j.status;
        return this.upsert({ ...j, status, progress: ev.progress });
      }
      default:
        return false;
    }
  }

  /** Mirrors a move the server accepted. */
  move(id: string, position: MovePosition): boolean {
    const i = this.order.indexOf(id);
    if (i < 0) return false;
    const rest = this.order.filter((x) => x !== id);
    let at: number;
    if (position === 'top') at = 0;
    else if (position === 'bottom') at = rest.length;
    else {
      at = rest.indexOf(position.before);
      if (at < 0) return false;
    }
    rest.splice(at, 0, id);
    if (rest.every((x, k) => x === this.order[k])) return false;
    this.order = rest;
    this.cached = null;
    return true;
  }

  /** The position that moves a queued job one place up or down; null at the end. */
  neighborMove(id: string, dir: 'up' | 'down'): MovePosition | null {
    const i = this.order.indexOf(id);
    if (i < 0) return null;
    if (dir === 'up') return i === 0 ? null : { before: this.order[i - 1] };
    if (i >= this.order.length - 1) return null;
    return i + 2 < this.order.length ? { before: this.order[i + 2] } : 'bottom';
  }

  queuedIndex(id: string): number {
    return this.order.indexOf(id);
  }

  get queuedCount(): number {
    return this.order.length;
  }

  /** Rows in display order (cached until the next change). */
  rows(): Job[] {
    if (this.cached) return this.cached;
    const running: Job[] = [];
    const done: Job[] = [];
    for (const j of this.jobs.values()) {
      if (isRunning(j.status)) running.push(j);
      else if (isTerminal(j.status)) done.push(j);
    }
    running.sort(byCreatedAsc);
    done.sort((a, b) => (finishedAt(a) < finishedAt(b) ? 1 : finishedAt(a) > finishedAt(b) ? -1 : 0));
    const queued = this.order.map((id) => this.jobs.get(id)).filter((j): j is Job => !!j);
    this.cached = [...running, ...queued, ...done];
    return this.cached;
  }

  counts(): { running: number; queued: number; completed: number; failed: number; canceled: number } {
    const c = { running: 0, queued: 0, completed: 0, failed: 0, canceled: 0 };
    for (const j of this.jobs.values()) {
      if (isRunning(j.status)) c.running++;
      else if (j.status === 'queued') c.queued++;
      else c[j.status as 'completed' | 'failed' | 'canceled']++;
    }
    return c;
  }
}

export interface BatchResult {
  total: number;
  completed: number;
  failed: number;
  canceled: number;
}

/** Tracks the jobs started together from this window; reports once when all of them have finished. */
export class BatchTracker {
  private pending = new Set<string>();
  private result: BatchResult = { total: 0, completed: 0, failed: 0, canceled: 0 };

  add(ids: readonly string[]): void {
    if (this.pending.size === 0) this.result = { total: 0, completed: 0, failed: 0, canceled: 0 };
    for (const id of ids) {
      if (!this.pending.has(id)) {
        this.pending.add(id);
        this.result.total++;
      }
    }
  }

  /** Feed every job update; returns the batch's result when its last job just finished. */
  observe(job: Pick<Job, 'id' | 'status'>): BatchResult | null {
    if (!this.pending.has(job.id) || !isTerminal(job.status)) return null;
    this.pending.delete(job.id);
    this.result[job.status as 'completed' | 'failed' | 'canceled']++;
    return this.pending.size === 0 ? { ...this.result } : null;
  }

  /** A job of the batch was retried: it is pending again. */
  reopen(id: string): void {
    if (this.pending.size > 0) this.pending.add(id);
  }

  get active(): boolean {
    return this.pending.size > 0;
  }
}

/** `3 videos done` / `2 done, 1 failed`. */
export function describeBatch(r: BatchResult): string {
  const parts: string[] = [];
  if (r.completed) parts.push(r.completed === r.total ? `${r.completed} ${r.completed === 1 ? 'video' : 'videos'} done` : `${r.completed} done`);
  if (r.failed) parts.push(`${r.failed} failed`);
  if (r.canceled) parts.push(`${r.canceled} canceled`);
  return parts.join(', ') || 'Nothing to do';
}
