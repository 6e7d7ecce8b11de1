import { describe, expect, it } from 'vitest';
import type { Profile } from '../src/api/types';
import { groupProfiles, RECOMMENDED_PROFILE } from '../src/lib/profiles';

const p = (id: string, group: string, speed: string | null, bit_depth = 8): Profile => ({
  id,
  name: id,
  description: '',
  group,
  codec: 'hevc',
  bit_depth,
  speed,
  source: 'builtin',
});

describe('groupProfiles', () => {
  const all = [
    p('sophon-americano', 'standard', 'slow'),
    p('sophon-espresso', 'standard', 'fast'),
    p('sophon-cortado', 'standard', 'medium'),
    p('sophon-cortado-hq', 'hq', 'medium'),
    p('sophon-cortado-10bit', '10bit', 'medium', 10),
    p('sophon-cortado-hq-10bit', 'hq-10bit', 'medium', 10),
    p('sophon-auto', 'auto', null),
    p('my-own', 'custom', null),
  ];
  it('orders the groups Auto, Standard, HQ, 10-bit, HQ 10-bit, then Other', () => {
    expect(groupProfiles(all).map((g) => g.title)).toEqual(['Auto', 'Standard', 'HQ', '10-bit', 'HQ 10-bit', 'Other']);
  });
  it('orders profiles fast → slow inside a group', () => {
    const std = groupProfiles(all).find((g) => g.id === 'standard');
    expect(std?.profiles.map((x) => x.id)).toEqual(['sophon-espresso', 'sophon-cortado', 'sophon-americano']);
  });
  it('explains every group in words, with the Main10 caveat on 10-bit groups', () => {
    for (const g of groupProfiles(all)) expect(g.blurb.length).toBeGreaterThan(20);
    const tenBit = groupProfiles(all).filter((g) => g.id.includes('10bit'));
    expect(tenBit).toHaveLength(2);
    for (const g of tenBit) expect(g.blurb).toMatch(/Main10/);
    expect(groupProfiles(all)[0].blurb).toMatch(/^Recommended/);
    expect(RECOMMENDED_PROFILE).toBe('sophon-auto');
  });
  it('leaves out empty groups', () => {
    expect(groupProfiles([p('sophon-auto', 'auto', null)]).map((g) => g.id)).toEqual(['auto']);
  });
});
