import { describe, expect, it } from 'vitest';
import type { QualityInfo } from '../src/api/types';
import { qualityLine } from '../src/lib/format';
import { qualityPlot } from '../src/lib/quality';
import { job } from './helpers';

const pooled = (mean: number, p1: number) => ({ mean, harmonic_mean: mean - 0.3, p1, min: p1 - 1 });
const chunk = (index: number, start: number, end: number, crf: number, mean: number, p1: number) => ({
  index, start_seconds: start, end_seconds: end, frames: Math.round((end - start) * 25), crf,
  vmaf: pooled(mean, p1), bytes: 100_000, encodes: index === 1 ? 2 : 1,
});
const verified: QualityInfo = {
  output: 'file', model: 'vmaf_v0.6.1', width: 1280, height: 720, frames: 100,
  vmaf: pooled(93.6, 88.1), psnr: pooled(41.2, 38), ssim: pooled(0.98, 0.95), seconds: 4,
  verified: {
    target_vmaf: 93, chunk_floor_vmaf: 90, best_effort: false, subsample: 3, repair_rounds: 1,
    chunk_encodes: 4, worst_chunk: 1,
    chunks: [chunk(0, 0, 6, 24, 94.1, 90.2), chunk(1, 6, 12, 21.5, 93.1, 86.0), chunk(2, 12, 20, 26, 93.9, 91.0)],
  },
};

describe('a verified encode', () => {
  it('says its target held, in how many chunks, or that it is best effort', () => {
    const done = job({ status: 'completed' });
    expect(qualityLine({ output: { ...done.output, quality: verified } })).toBe(
      'VMAF 93.6, 1% low 88.1, PSNR 41.2 dB · target 93 verified in 3 chunks',
    );
    const missed = { ...verified, verified: { ...verified.verified!, best_effort: true } };
    expect(qualityLine({ output: { ...done.output, quality: missed } })).toContain('target 93 not reached: best effort');
  });

  it('plots one bar per chunk over the title, the target above the floor, each chunk with its CRF', () => {
    const p = qualityPlot(verified, 520, 170)!;
    expect(p.bars.map((b) => b.crf)).toEqual(['CRF 24', 'CRF 21.5', 'CRF 26']);
    // Chunks tile the time axis in order, proportional to their length.
    expect(p.bars[0].x0).toBe(p.left);
    expect(p.bars[0].x1).toBeCloseTo(p.bars[1].x0);
    const w = (i: number) => p.bars[i].x1 - p.bars[i].x0;
    expect(w(2) / w(0)).toBeCloseTo(8 / 6);
    // Higher VMAF is higher up (smaller y); the whisker reaches down to the 1% low.
    expect(p.bars[0].yMean).toBeLessThan(p.bars[1].yMean);
    expect(p.bars[1].yLow).toBeGreaterThan(p.bars[1].yMean);
    expect(p.yTarget).toBeLessThan(p.yFloor);
    expect(p.bars.some((b) => b.low)).toBe(false);
    // The axis starts at a whole 5 below the lowest 1% low (86 → 85).
    expect(p.vmin).toBe(85);
    expect(p.bars[1].title).toBe('0:06–0:12: VMAF 93.1 (1% low 86.0), CRF 21.5, 2 encodes');
  });

  it('draws nothing for an encode measured afterwards, or none at all', () => {
    expect(qualityPlot({ ...verified, verified: null }, 520, 170)).toBeNull();
    expect(qualityPlot(null, 520, 170)).toBeNull();
  });
});
