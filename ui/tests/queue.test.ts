import { describe, expect, it } from 'vitest';
import { BatchTracker, describeBatch, JobQueue } from '../src/lib/queue';
import { job } from './helpers';

describe('JobQueue', () => {
  it('shows running first, then queued in run order, then finished newest first', () => {
    const q = new JobQueue();
    const a = job({ status: 'completed', completed_at: '2026-11-21T10:01:00Z' });
    const b = job({ status: 'queued' });
    const c = job({ status: 'encoding' });
    const d = job({ status: 'queued' });
    const e = job({ status: 'failed', completed_at: '2026-11-21T10:05:00Z' });
    q.load([e, d, c, b, a]); // newest first, as the server lists them
    expect(q.rows().map((j) => j.id)).toEqual([c.id, b.id, d.id, e.id, a.id]);
    expect(q.counts()).toEqual({ running: 1, queued: 2, completed: 1, failed: 1, canceled: 0 });
  });

  it('applies events; unchanged jobs keep their identity', () => {
    const q = new JobQueue();
    const a = job({ status: 'queued' });
    const b = job({ status: 'queued' });
    q.load([a, b]);
    const before = q.rows();
    expect(q.apply({ type: 'job.updated', job: { ...a, status: 'probing' } })).toBe(true);
    const after = q.rows();
    expect(after).not.toBe(before);
    expect(after.find((j) => j.id === b.id)).toBe(b);
    expect(after[0].status).toBe('probing');
    expect(q.queuedCount).toBe(1);
  });

  it('progress updates percent and moves the phase forward; ignored for unknown or finished jobs', () => {
    const q = new JobQueue();
    const a = job({ status: 'probing' });
    q.load([a]);
    const progress = { ...a.progress, phase: 'encoding' as const, stage: 'encoding', percent: 42, fps: 30, eta_seconds: 5 };
    expect(q.apply({ type: 'job.progress', job_id: a.id, progress })).toBe(true);
    expect(q.get(a.id)?.status).toBe('encoding');
    expect(q.get(a.id)?.progress.percent).toBe(42);
    expect(q.apply({ type: 'job.progress', job_id: 'job_nope', progress })).toBe(false);
    q.upsert({ ...a, status: 'completed' });
    expect(q.apply({ type: 'job.progress', job_id: a.id, progress })).toBe(false);
    expect(q.get(a.id)?.status).toBe('completed');
  });

  it('never goes back to an earlier attempt', () => {
    const q = new JobQueue();
    const a = job({ status: 'queued', attempt: 2 });
    q.load([a]);
    expect(q.upsert({ ...a, status: 'failed', attempt: 1 })).toBe(false);
    expect(q.get(a.id)?.status).toBe('queued');
  });

  it('a late response does not undo a finished state the events already brought', () => {
    const q = new JobQueue();
    const a = job({ status: 'queued' });
    q.apply({ type: 'job.updated', job: { ...a, status: 'failed' } }); // the event wins the race
    expect(q.upsert(a)).toBe(false); // the POST /v1/jobs response arrives later
    expect(q.get(a.id)?.status).toBe('failed');
    expect(q.queuedCount).toBe(0);
    // A retry is a new attempt: queued again.
    expect(q.upsert({ ...a, status: 'queued', attempt: 2 })).toBe(true);
    expect(q.queuedCount).toBe(1);
  });

  it('created jobs join the end of the line; removal drops them', () => {
    const q = new JobQueue();
    const a = job();
    q.load([a]);
    const b = job();
    q.apply({ type: 'job.created', job: b });
    expect(q.rows().map((j) => j.id)).toEqual([a.id, b.id]);
    expect(q.remove(a.id)).toBe(true);
    expect(q.rows().map((j) => j.id)).toEqual([b.id]);
    expect(q.remove(a.id)).toBe(false);
  });

  it('moves: up, down, top, bottom, and the positions sent for them', () => {
    const q = new JobQueue();
    const [a, b, c, d] = [job(), job(), job(), job()];
    q.load([d, c, b, a]);
    const ids = () => q.rows().map((j) => j.id);
    expect(ids()).toEqual([a.id, b.id, c.id, d.id]);
    expect(q.neighborMove(a.id, 'up')).toBeNull();
    expect(q.neighborMove(c.id, 'up')).toEqual({ before: b.id });
    expect(q.neighborMove(b.id, 'down')).toEqual({ before: d.id });
    expect(q.neighborMove(c.id, 'down')).toBe('bottom');
    expect(q.neighborMove(d.id, 'down')).toBeNull();
    q.move(c.id, { before: b.id });
    expect(ids()).toEqual([a.id, c.id, b.id, d.id]);
    q.move(d.id, 'top');
    expect(ids()).toEqual([d.id, a.id, c.id, b.id]);
    q.move(d.id, 'bottom');
    expect(ids()).toEqual([a.id, c.id, b.id, d.id]);
    expect(q.move(a.id, 'top')).toBe(false);
    // A refetch keeps the order the user made (the server has it too).
    q.load([a, b, c, d]);
    expect(ids()).toEqual([a.id, c.id, b.id, d.id]);
  });

  it('uses queue_position when the server sends it', () => {
    const q = new JobQueue();
    const a = job({ queue_position: 2 });
    const b = job({ queue_position: 0 });
    const c = job({ queue_position: 1 });
    q.load([a, b, c]);
    expect(q.rows().map((j) => j.id)).toEqual([b.id, c.id, a.id]);
  });

  it('handles 500 jobs and a burst of progress quickly', () => {
    const q = new JobQueue();
    const jobs = Array.from({ length: 500 }, (_, i) => job({ status: i < 2 ? 'encoding' : i < 300 ? 'queued' : 'completed' }));
    const t0 = performance.now();
    q.load(jobs);
    q.rows();
    for (let i = 0; i < 200; i++) {
      q.apply({ type: 'job.progress', job_id: jobs[i % 2].id, progress: { ...jobs[0].progress, phase: 'encoding', percent: i / 2 } });
      q.rows();
    }
    expect(performance.now() - t0).toBeLessThan(500);
    expect(q.rows()).toHaveLength(500);
  });
});

describe('BatchTracker', () => {
  it('reports once when the last job of the batch finishes', () => {
    const t = new BatchTracker();
    t.add(['a', 'b', 'c']);
    expect(t.observe({ id: 'a', status: 'completed' })).toBeNull();
    expect(t.observe({ id: 'x', status: 'completed' })).toBeNull();
    expect(t.observe({ id: 'b', status: 'encoding' })).toBeNull();
    expect(t.observe({ id: 'b', status: 'failed' })).toBeNull();
    const r = t.observe({ id: 'c', status: 'completed' });
    expect(r).toEqual({ total: 3, completed: 2, failed: 1, canceled: 0 });
    expect(describeBatch(r!)).toBe('2 done, 1 failed');
    expect(t.observe({ id: 'c', status: 'completed' })).toBeNull();
    expect(t.active).toBe(false);
  });
  it('a retried job reopens the batch', () => {
    const t = new BatchTracker();
    t.add(['a', 'b']);
    t.observe({ id: 'a', status: 'failed' });
    t.reopen('a');
    expect(t.observe({ id: 'b', status: 'completed' })).toBeNull();
    expect(t.observe({ id: 'a', status: 'completed' })).toEqual({ total: 2, completed: 2, failed: 1, canceled: 0 });
    expect(describeBatch({ total: 1, completed: 1, failed: 0, canceled: 0 })).toBe('1 video done');
  });
});
