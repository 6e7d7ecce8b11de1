import { describe, expect, it } from 'vitest';
import type { NodeInfo } from '../src/api/types';
import { ago, encoderText, farmSummary, nodeRows } from '../src/lib/nodes';

const NOW = Date.parse('2026-12-03T10:00:00Z');

function node(over: Partial<NodeInfo> = {}): NodeInfo {
  return {
    name: 'enc-1',
    version: '0.1.0',
    workers: 2,
    running_jobs: 1,
    encoders: ['libx264', 'libx265'],
    started_at: '2026-12-03T09:00:00Z',
    last_heartbeat_at: '2026-12-03T09:59:57Z',
    state: 'online',
    ...over,
  };
}

describe('farm nodes in words', () => {
  it('says how long ago a heartbeat was', () => {
    expect(ago('2026-12-03T09:59:57Z', NOW)).toBe('3 s ago');
    expect(ago('2026-12-03T09:56:00Z', NOW)).toBe('4 min ago');
    expect(ago('2026-12-03T07:00:00Z', NOW)).toBe('3 h ago');
    expect(ago('2026-11-28T10:00:00Z', NOW)).toBe('5 d ago');
    expect(ago('2026-12-03T10:00:02Z', NOW)).toBe('just now');
    expect(ago('yesterday', NOW)).toBe('yesterday');
  });

  it('lists hardware encoders before software ones', () => {
    expect(encoderText(['libx265', 'hevc_nvenc', 'libx264', 'h264_nvenc'])).toBe('h264_nvenc, hevc_nvenc, libx264, libx265');
    expect(encoderText([])).toBe('none reported');
  });

  it('puts this node first, then online, stopped and lost nodes by name', () => {
    const list = {
      this_node: 'enc-2',
      data: [
        node({ name: 'enc-3', state: 'lost', last_heartbeat_at: '2026-12-03T09:50:00Z' }),
        node({ name: 'enc-1' }),
        node({ name: 'enc-0', state: 'stopped', running_jobs: 0 }),
        node({ name: 'enc-2', workers: 4, running_jobs: 3, encoders: ['libx265', 'hevc_vaapi'] }),
        node({ name: 'enc-4', state: 'draining' }),
      ],
    };
    const rows = nodeRows(list, NOW);
    expect(rows.map((r) => r.name)).toEqual(['enc-2', 'enc-1', 'enc-0', 'enc-3', 'enc-4']);
    expect(rows[0]).toMatchObject({ isThis: true, load: '3 of 4 slots busy', encoders: 'hevc_vaapi, libx265', seen: 'seen 3 s ago' });
    expect(rows[2]).toMatchObject({ state: 'stopped', load: '2 slots' });
    expect(rows[3]).toMatchObject({ stateText: 'lost', seen: 'seen 10 min ago' });
    expect(rows[4].stateText).toBe('draining (unknown state)');
    expect(farmSummary(list)).toBe('5 nodes: 2 online, 4 of 6 slots busy');
    expect(farmSummary({ this_node: 'a', data: [node({ name: 'a', workers: 1, running_jobs: 0 })] })).toBe('1 node: 1 online, 0 of 1 slot busy');
  });
});
