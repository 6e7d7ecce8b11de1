import { describe, expect, it } from 'vitest';
import { defaultHls, defaultOptions, loadOptions, saveOptions, summarize, toSpec, validateOptions } from '../src/lib/options';

class MemStorage {
  data = new Map<string, string>();
  getItem(k: string) {
    return this.data.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    this.data.set(k, v);
  }
}

describe('job options', () => {
  it('a single file spec', () => {
    const o = { ...defaultOptions(), profile: 'sophon-cortado', container: 'mkv' as const, targetHeight: 720 };
    expect(toSpec({ type: 'upload', upload_id: 'upl_1' }, o)).toEqual({
      source: { type: 'upload', upload_id: 'upl_1' },
      profile: 'sophon-cortado',
      output: { container: 'mkv', audio: true, waveform: true, target_height: 720 },
    });
  });
  it('an HLS ladder spec: renditions sorted and deduplicated, keep_mp4 only when it is a rung', () => {
    const o = { ...defaultOptions(), hls: { ...defaultHls(), renditions: [240, 360, 360], segmentSeconds: 1, keepMp4: 720 } };
    const spec = toSpec({ type: 'path', path: '/v/a.mov' }, o);
    expect(spec.output?.hls).toEqual({ renditions: [360, 240], codec: 'h264', segment_seconds: 1, keep_mp4: null });
  });
  it('the desktop output folder travels as output.dir', () => {
    const spec = toSpec({ type: 'path', path: '/v/a.mov' }, { ...defaultOptions(), outputDir: '/out' });
    expect((spec.output as Record<string, unknown>).dir).toBe('/out');
  });
  it('validation in words', () => {
    expect(validateOptions(defaultOptions(), ['sophon-auto'])).toEqual([]);
    expect(validateOptions({ ...defaultOptions(), profile: 'nope' }, ['sophon-auto'])[0]).toMatch(/Unknown profile/);
    expect(validateOptions({ ...defaultOptions(), hls: { ...defaultHls(), renditions: [] } })[0]).toMatch(/at least one/);
    expect(validateOptions({ ...defaultOptions(), hls: { ...defaultHls(), segmentSeconds: 0 } })[0]).toMatch(/1 to 60/);
  });
  it('summary line', () => {
    const o = { ...defaultOptions(), profile: 'sophon-espresso', hls: { ...defaultHls(), renditions: [240, 360], segmentSeconds: 1 } };
    expect(summarize(o, 'Espresso')).toBe('Espresso · HLS 360/240 H.264 1 s · audio');
    expect(summarize({ ...defaultOptions(), audio: false }, 'Auto')).toBe('Auto · MP4 · no audio');
  });
  it('remembers the last choices and survives garbage', () => {
    const s = new MemStorage();
    expect(loadOptions(s)).toEqual(defaultOptions());
    const o = { ...defaultOptions(), profile: 'sophon-americano', audio: false, hls: defaultHls() };
    saveOptions(o, s);
    expect(loadOptions(s)).toEqual(o);
    s.setItem('crema.lastOptions.v1', '{not json');
    expect(loadOptions(s)).toEqual(defaultOptions());
    s.setItem('crema.lastOptions.v1', JSON.stringify({ profile: 7, container: 'avi', hls: { renditions: 'x' } }));
    expect(loadOptions(s)).toEqual(defaultOptions());
  });
});
