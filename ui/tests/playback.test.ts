import { describe, expect, it } from 'vitest';
import type { Job, Profile } from '../src/api/types';
import { playPlan, type MediaEnv } from '../src/lib/playback';
import { job } from './helpers';

const chromium: MediaEnv = { isTypeSupported: (t) => t.includes('avc1'), canPlayType: () => '', hlsSupported: true };
const profiles = new Map<string, Profile>([
  ['sophon-espresso', { id: 'sophon-espresso', name: 'Espresso', description: '', group: 'standard', codec: 'hevc', bit_depth: 8, speed: 'fast', source: '' }],
]);
const done = (over: Partial<Job['output']> = {}) =>
  job({ status: 'completed', final_artifact: 'encoded', output: { ...job().output, state: 'available', path: '/o/a.mp4', ...over } });

describe('playPlan', () => {
  it('plays an H.264 ladder with hls.js', () => {
    const j = done({ hls: { master_playlist: '/o/a.hls/master.m3u8', renditions: [{ width: 640, height: 360, bandwidth: 1, codecs: 'avc1.64001e,mp4a.40.2' }] } });
    expect(playPlan(j, profiles, chromium)).toEqual({ kind: 'hls', engine: 'hls.js' });
  });
  it('says plainly when HEVC cannot play here, and offers the way out', () => {
    const p = playPlan(done(), profiles, chromium);
    expect(p.kind).toBe('unplayable');
    expect(p.kind === 'unplayable' && p.reason).toMatch(/cannot decode HEVC.*Download/);
    const hevcLadder = done({ hls: { master_playlist: 'm', renditions: [{ width: 1, height: 1, bandwidth: 1, codecs: 'hvc1.1.6.L93.90,mp4a.40.2' }] } });
    expect(playPlan(hevcLadder, profiles, chromium, true)).toMatchObject({ kind: 'unplayable', reason: expect.stringMatching(/system player/) });
  });
  it('plays a HEVC file where the browser can', () => {
    const safari: MediaEnv = { isTypeSupported: () => true, canPlayType: () => 'probably', hlsSupported: false };
    expect(playPlan(done(), profiles, safari)).toEqual({ kind: 'file' });
  });
  it('nothing to play: unfinished, or the original kept', () => {
    expect(playPlan(job(), profiles, chromium).kind).toBe('unplayable');
    const kept = job({ status: 'completed', final_artifact: 'original' });
    expect(playPlan(kept, profiles, chromium)).toMatchObject({ reason: expect.stringMatching(/original was kept/) });
  });
});
