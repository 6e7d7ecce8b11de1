import type { Job, WatchEvent, WatchRule } from '../src/api/types';

let n = 0;
/** A job as the server sends it, with overrides. */
export function job(over: Partial<Job> = {}): Job {
  n++;
  const base: Job = {
    id: `job_${n}`,
    status: 'queued',
    status_reason: null,
    attempt: 1,
    max_attempts: 2,
    retryable: false,
    profile: 'sophon-espresso',
    effective_profile_id: null,
    source: { type: 'upload', name: `clip${n}.mov`, bytes: 1000, sha256: 'x', duration_seconds: 2, resolution: '1280x720', frame_rate: '25' },
    progress: { stage: null, phase: 'queued', percent: 0, phase_percent: null, fps: null, eta_seconds: null, frames_done: null, frames_total: null },
    output: { state: 'pending', container: 'mp4', audio: false, target_height: null, width: null, height: null, bytes: null, sha256: null, retention_expires_at: null },
    metadata: {},
    created_at: `2026-11-21T10:00:${String(n % 60).padStart(2, '0')}Z`,
    started_at: null,
    completed_at: null,
    error: null,
    final_artifact: null,
    saved_percent: null,
  } as Job;
  return { ...base, ...over };
}

/** A watch-folder rule as the server sends it, with overrides. */
export function watchRule(over: Partial<WatchRule> = {}): WatchRule {
  return {
    id: 'wf_1',
    spec: {
      folder: '/srv/ingest',
      recursive: false,
      include: [],
      exclude: [],
      profile: 'sophon-cortado',
      output_dir: '/srv/ingest/crema-encoded',
      on_success: { action: 'leave' },
      on_failure: { action: 'leave' },
      settle_seconds: 3,
      poll_seconds: null,
      take_existing: true,
    },
    paused: false,
    created_at: '2026-11-21T10:00:00Z',
    updated_at: '2026-11-21T10:00:00Z',
    counts: { pending: 0, queued: 1, done: 2, failed: 0, duplicate: 0 },
    ...over,
  };
}

/** One decision-log entry. */
export function watchEvent(over: Partial<WatchEvent> = {}): WatchEvent {
  return {
    seq: 1,
    rule_id: 'wf_1',
    at: '2026-11-21T10:00:05Z',
    decision: 'taken',
    path: '/srv/ingest/a.mov',
    reason: null,
    job_id: 'job_1',
    output_path: null,
    ...over,
  };
}
