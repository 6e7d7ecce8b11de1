import { describe, expect, it } from 'vitest';
import { actionsText, countsText, decisionText, emptyWatchForm, eventDetail, eventTime, outputText, relativePath, specFromForm } from '../src/lib/watch';
import { watchEvent, watchRule } from './helpers';

describe('watch-folder form and labels', () => {
  it('turns the add form into a rule spec', () => {
    const f = { ...emptyWatchForm('sophon-cortado'), folder: '  /srv/ingest ', recursive: true, onSuccess: 'move' as const, settleSeconds: 10 };
    expect(specFromForm(f)).toEqual({
      spec: {
        folder: '/srv/ingest',
        recursive: true,
        profile: 'sophon-cortado',
        output_dir: null,
        on_success: { action: 'move', dir: null },
        on_failure: { action: 'leave' },
        settle_seconds: 10,
      },
    });
    const g = specFromForm({ ...f, outputDir: '/srv/out', onSuccess: 'delete', onFailure: 'move' });
    expect(g).toMatchObject({ spec: { output_dir: '/srv/out', on_success: { action: 'delete' }, on_failure: { action: 'move', dir: null } } });
  });

  it('says what to fix instead of submitting a bad form', () => {
    expect(specFromForm(emptyWatchForm('sophon-auto'))).toEqual({ error: 'Choose the folder to watch.' });
    expect(specFromForm({ ...emptyWatchForm(''), folder: '/a' })).toEqual({ error: 'Choose a profile for the jobs.' });
    expect(specFromForm({ ...emptyWatchForm('p'), folder: '/a', settleSeconds: 0 })).toMatchObject({ error: expect.stringMatching(/0\.1 and 3600/) });
    expect(specFromForm({ ...emptyWatchForm('p'), folder: '/a', settleSeconds: Number.NaN })).toHaveProperty('error');
  });

  it('describes rules and decisions in words', () => {
    const r = watchRule();
    expect(countsText(r.counts)).toBe('1 encoding or queued · 2 done');
    expect(countsText({ pending: 0, queued: 0, done: 0, failed: 0, duplicate: 0 })).toBe('No files yet');
    expect(actionsText(r.spec)).toBe('Sources: left in place after success, left in place after a failure.');
    expect(actionsText({ ...r.spec, on_success: { action: 'move', dir: '/srv/done' }, on_failure: { action: 'move' } })).toBe(
      'Sources: moved to /srv/done after success, moved to crema-failed after a failure.',
    );
    expect(actionsText({ ...r.spec, on_success: { action: 'delete' } })).toMatch(/^Sources: deleted after success/);
    expect(outputText(r)).toBe('/srv/ingest/crema-encoded');
    expect(outputText(watchRule({ spec: { ...r.spec, output_dir: null } }))).toBe('/srv/ingest/crema-encoded');
    expect(relativePath(r, '/srv/ingest/day1/a.mov')).toBe('day1/a.mov');
    expect(relativePath(r, '/srv/ingest2/a.mov')).toBe('/srv/ingest2/a.mov');
    expect(decisionText(watchEvent({ decision: 'ignored' }))).toBe('Ignored');
    expect(eventDetail(watchEvent({ decision: 'ignored', reason: 'temporary name' }))).toBe('temporary name');
    expect(eventDetail(watchEvent({ decision: 'done', output_path: '/o/a.mp4' }))).toBe('→ /o/a.mp4');
    expect(eventDetail(watchEvent())).toBe('');
    expect(eventTime('not a time')).toBe('not a time');
    expect(eventTime('2026-11-21T10:00:05Z', 'en-GB')).toMatch(/21 Nov/);
  });
});
