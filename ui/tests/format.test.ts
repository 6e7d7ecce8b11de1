import { describe, expect, it } from 'vitest';
import {
  badges,
  encoderLines,
  factParts,
  formatBytes,
  formatDuration,
  formatEta,
  formatFps,
  formatFrameRate,
  formatPercent,
  qualityLine,
  savings,
  stageLabel,
  tidyError,
} from '../src/lib/format';
import { job } from './helpers';

describe('sizes and durations', () => {
  it('formats bytes in decimal units', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1_234_567)).toBe('1.2 MB');
    expect(formatBytes(345_000_000)).toBe('345 MB');
    expect(formatBytes(2_500_000_000)).toBe('2.5 GB');
    expect(formatBytes(null)).toBe('—');
  });
  it('formats durations as clock time', () => {
    expect(formatDuration(2)).toBe('0:02');
    expect(formatDuration(125.4)).toBe('2:05');
    expect(formatDuration(3723)).toBe('1:02:03');
    expect(formatDuration(undefined)).toBe('—');
  });
});

describe('progress', () => {
  it('ETA in words, empty when unknown', () => {
    expect(formatEta(12)).toBe('12 s left');
    expect(formatEta(150)).toBe('3 min left');
    expect(formatEta(3900)).toBe('1 h 5 min left');
    expect(formatEta(7200)).toBe('2 h left');
    expect(formatEta(null)).toBe('');
  });
  it('percent never shows 100 before the end', () => {
    expect(formatPercent(41.7)).toBe('41%');
    expect(formatPercent(99.99)).toBe('99%');
    expect(formatPercent(100, true)).toBe('100%');
    expect(formatPercent(null)).toBe('');
  });
  it('fps', () => {
    expect(formatFps(23.14)).toBe('23.1 fps');
    expect(formatFps(250.4)).toBe('250 fps');
    expect(formatFps(0)).toBe('');
  });
  it('stage label follows the engine stage while running', () => {
    expect(stageLabel(job({ status: 'queued' }))).toBe('Queued');
    const j = job({ status: 'encoding' });
    expect(stageLabel({ ...j, progress: { ...j.progress, stage: 'analyzing' } })).toBe('Analyzing');
    expect(stageLabel(job({ status: 'failed' }))).toBe('Failed');
    const m = job({ status: 'muxing' });
    expect(stageLabel({ ...m, progress: { ...m.progress, stage: 'measuring' } })).toBe('Measuring quality');
  });
  it('a measured output shows VMAF, its 1% low and PSNR; an unmeasured one nothing', () => {
    const pooled = (mean: number, p1: number) => ({ mean, harmonic_mean: mean - 0.5, p1, min: p1 - 1 });
    const quality = {
      output: 'file', model: 'vmaf_v0.6.1', width: 1920, height: 1080, frames: 240,
      vmaf: pooled(94.26, 88.04), psnr: pooled(41.27, 38), ssim: pooled(0.981, 0.95), seconds: 3.2,
    };
    const done = job({ status: 'completed' });
    expect(qualityLine({ output: { ...done.output, quality } })).toBe('VMAF 94.3, 1% low 88.0, PSNR 41.3 dB');
    expect(qualityLine({ output: { ...done.output, quality: { ...quality, output: 'hls 720p' } } })).toBe(
      'VMAF 94.3, 1% low 88.0, PSNR 41.3 dB (top rung 720p)',
    );
    expect(qualityLine(done)).toBeNull();
  });
});

describe('source facts', () => {
  it('frame rates', () => {
    expect(formatFrameRate('24000/1001')).toBe('23.976 fps');
    expect(formatFrameRate('25')).toBe('25 fps');
    expect(formatFrameRate('30000/1001')).toBe('29.97 fps');
    expect(formatFrameRate(null)).toBe('');
  });
  it('facts line and badges, tolerating absent extension fields', () => {
    expect(factParts({ resolution: '1920x1080', frame_rate: '25', duration_seconds: 17.6, codec: 'prores', audio_tracks: 2 })).toEqual([
      '1920×1080',
      '25 fps',
      '0:18',
      'PRORES',
      '2 audio tracks',
    ]);
    expect(factParts({ resolution: '1280x720' })).toEqual(['1280×720']);
    expect(badges({ bit_depth: 10, hdr: 'pq' })).toEqual(['10-bit', 'HDR PQ']);
    expect(badges({ bit_depth: 8, hdr: null })).toEqual([]);
    expect(badges(null)).toEqual([]);
  });
  it('savings against the source', () => {
    expect(savings(1_000_000, 250_000)).toEqual({ percent: 75, text: '1.0 MB → 250 kB, 75% smaller' });
    expect(savings(1_000_000, 1_200_000)?.text).toBe('1.0 MB → 1.2 MB, 20% larger');
    expect(savings(1_000_000, null)).toBeNull();
  });
  it('encoder lines group outputs and keep the reason', () => {
    const j = job();
    const progress = {
      ...j.progress,
      encoders: [
        { encoder: 'libx264', hardware: false, output: 'hls 360p', reason: 'no usable hardware encoder' },
        { encoder: 'libx264', hardware: false, output: 'hls 240p', reason: 'no usable hardware encoder' },
        { encoder: 'hevc_nvenc', hardware: true, output: 'file', reason: 'asked for nvenc' },
      ],
    };
    expect(encoderLines({ progress })).toEqual([
      { label: 'libx264 (software) for hls 360p, hls 240p', reason: 'no usable hardware encoder' },
      { label: 'hevc_nvenc (hardware) for file', reason: 'asked for nvenc' },
    ]);
    expect(encoderLines(j)).toEqual([]);
  });
  it('error messages lose the server-side path of the source', () => {
    expect(tidyError('/tmp/d/sources/job_1/text.mov: not a video or audio file FFmpeg can read')).toBe(
      'text.mov: not a video or audio file FFmpeg can read',
    );
    expect(tidyError('encode failed: out of memory')).toBe('encode failed: out of memory');
  });
});
