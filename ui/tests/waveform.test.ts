import { describe, expect, it } from 'vitest';
import { createHttpApi } from '../src/api/http';
import { createTauriApi, type TauriDeps } from '../src/api/tauri';
import type { Job } from '../src/api/types';
import { columns, draw, duration, parseDat, parseJson, timeAt, type Ctx2D } from '../src/lib/waveform';
import { job } from './helpers';

/** A `.dat` laid out as bbc/audiowaveform doc/DataFormat.md describes it. */
function dat(version: 1 | 2, bits: 8 | 16, rate: number, spp: number, channels: number, values: number[]): ArrayBuffer {
  const header = version === 2 ? 24 : 20;
  const size = bits / 8;
  const length = values.length / (2 * channels);
  const buf = new ArrayBuffer(header + values.length * size);
  const v = new DataView(buf);
  v.setInt32(0, version, true);
  v.setUint32(4, bits === 8 ? 1 : 0, true);
  v.setInt32(8, rate, true);
  v.setInt32(12, spp, true);
  v.setUint32(16, length, true);
  if (version === 2) v.setInt32(20, channels, true);
  values.forEach((x, i) => (bits === 8 ? v.setInt8(header + i, x) : v.setInt16(header + 2 * i, x, true)));
  return buf;
}

const withWaveform = (format: 'dat' | 'json'): Job =>
  job({
    status: 'completed',
    output: {
      ...job().output,
      state: 'available',
      audio: true,
      path: '/out/a.m4a',
      waveform: { format, bytes: 28, track: 0, sample_rate: 48000, samples_per_pixel: 256, length: 4, channels: 1, bits: 8, duration_seconds: 0.02, path: '/jobs/j/waveform.dat' },
    } as Job['output'],
  });

describe('waveform data', () => {
  it('reads .dat version 1 (8-bit and 16-bit) and version 2 (channel 0 of several)', () => {
    const w = parseDat(dat(1, 8, 44100, 441, 1, [-10, 20, -128, 127, 0, 0]));
    expect([w.sampleRate, w.samplesPerPixel, w.bits, w.channels, w.length]).toEqual([44100, 441, 8, 1, 3]);
    expect([...w.min]).toEqual([-10, -128, 0]);
    expect([...w.max]).toEqual([20, 127, 0]);
    expect(duration(w)).toBeCloseTo(0.03, 6);
    const w16 = parseDat(dat(1, 16, 48000, 256, 1, [-32768, 32767]));
    expect([w16.bits, w16.min[0], w16.max[0]]).toEqual([16, -32768, 32767]);
    // Version 2, two channels interleaved per pixel: [L min, L max, R min, R max].
    const v2 = parseDat(dat(2, 8, 48000, 256, 2, [-1, 2, -3, 4, -5, 6, -7, 8]));
    expect([v2.channels, v2.length, ...v2.min, ...v2.max]).toEqual([2, 2, -1, -5, 2, 6]);
  });

  it('refuses what is not audiowaveform data', () => {
    expect(() => parseDat(new ArrayBuffer(8))).toThrow(/20-byte header/);
    const bad = dat(1, 8, 44100, 441, 1, [0, 0]);
    new DataView(bad).setInt32(0, 3, true);
    expect(() => parseDat(bad)).toThrow(/version 3/);
    const short = dat(1, 8, 44100, 441, 1, [0, 0]);
    new DataView(short).setUint32(16, 5, true);
    expect(() => parseDat(short)).toThrow(/shorter/);
    expect(() => parseJson({ sample_rate: 1 })).toThrow();
  });

  it('reads the JSON form with the same values', () => {
    const w = parseJson({ version: 2, channels: 1, sample_rate: 48000, samples_per_pixel: 2400, bits: 8, length: 2, data: [-5, 5, -100, 90] });
    expect([w.length, ...w.min, ...w.max]).toEqual([2, -5, -100, 5, 90]);
  });

  it('scales to the canvas width keeping the peaks, and maps clicks to times', () => {
    const w = parseDat(dat(1, 8, 100, 10, 1, [-64, 64, -128, 127, 0, 32, -32, 0]));
    const c = columns(w, 2);
    expect([...c.min]).toEqual([-1, -0.25]);
    expect([...c.max]).toEqual([127 / 128, 0.25]);
    expect(duration(w)).toBeCloseTo(0.4);
    expect(timeAt(w, 50, 200)).toBeCloseTo(0.1);
    expect(timeAt(w, -5, 200)).toBe(0);
    expect(timeAt(w, 500, 200)).toBeCloseTo(0.4);
  });

  it('draws one bar per column, the played part in its own colour', () => {
    const w = parseDat(dat(1, 8, 100, 10, 1, [-64, 64, -128, 127, 0, 32, -32, 0]));
    const bars: { x: number; y: number; h: number; color: string }[] = [];
    const ctx: Ctx2D = {
      fillStyle: '',
      clearRect: () => {},
      fillRect(x, y, _w, h) {
        bars.push({ x, y, h, color: String(this.fillStyle) });
      },
    };
    draw(ctx, w, 4, 100, 0.2, 'grey', 'orange');
    expect(bars.map((b) => b.color)).toEqual(['orange', 'orange', 'grey', 'grey']);
    expect(bars[1].y).toBeCloseTo(50 - (127 / 128) * 50);
    expect(bars[1].h).toBeCloseTo(50 + (127 / 128) * 50);
  });
});

describe('waveform through the transports', () => {
  it('http: follows /v1/jobs/{id}/waveform to the signed .dat and parses it', async () => {
    const bytes = dat(1, 8, 48000, 256, 1, [-1, 1, -2, 2, -3, 3, -4, 4]);
    const calls: string[] = [];
    const fetch = (async (input: RequestInfo | URL) => {
      calls.push(String(input));
      return new Response(bytes, { status: 200, headers: { 'Content-Type': 'application/octet-stream' } });
    }) as typeof globalThis.fetch;
    const api = createHttpApi({ fetch });
    const j = withWaveform('dat');
    const w = await api.waveform(j);
    expect(calls).toEqual([`/v1/jobs/${j.id}/waveform`]);
    expect([w?.length, w?.sampleRate, ...(w?.max ?? [])]).toEqual([4, 48000, 1, 2, 3, 4]);
    // A job without a waveform costs no request.
    expect(await api.waveform(job())).toBeNull();
    expect(calls.length).toBe(1);
  });

  it('http: JSON waveforms and errors', async () => {
    const doc = { version: 2, channels: 1, sample_rate: 48000, samples_per_pixel: 256, bits: 8, length: 1, data: [-9, 9] };
    let status = 200;
    const fetch = (async () =>
      status === 200
        ? new Response(JSON.stringify(doc), { status, headers: { 'Content-Type': 'application/json' } })
        : new Response(JSON.stringify({ error: { code: 'not_found', message: 'job has no waveform', retryable: false } }), { status })) as typeof globalThis.fetch;
    const api = createHttpApi({ fetch });
    expect((await api.waveform(withWaveform('json')))?.max[0]).toBe(9);
    status = 404;
    await expect(api.waveform(withWaveform('json'))).rejects.toThrow(/no waveform/);
  });

  it('tauri: job_waveform returns the file bytes', async () => {
    const bytes = dat(1, 8, 44100, 441, 1, [-7, 7]);
    const seen: unknown[] = [];
    const deps: TauriDeps = {
      invoke: async <T,>(cmd: string, args?: Record<string, unknown>) => {
        seen.push([cmd, args]);
        return bytes as unknown as T;
      },
      Channel: class {} as unknown as TauriDeps['Channel'],
      convertFileSrc: (p) => p,
      openDialog: async () => [],
      onDragDrop: async () => () => {},
    };
    const api = createTauriApi(deps);
    const j = withWaveform('dat');
    const w = await api.waveform(j);
    expect(seen).toEqual([['job_waveform', { id: j.id }]]);
    expect([w?.sampleRate, w?.min[0], w?.max[0]]).toEqual([44100, -7, 7]);
    expect(await api.waveform(job())).toBeNull();
  });
});
