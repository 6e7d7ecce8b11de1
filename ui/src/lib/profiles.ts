// Profile groups as the picker shows them, each explained in plain words.
import type { Profile } from '../api/types';

export const RECOMMENDED_PROFILE = 'sophon-auto';

export interface ProfileGroup {
  id: string;
  title: string;
  /** What the group is for, in plain words. */
  blurb: string;
  profiles: Profile[];
}

const MAIN10_CAVEAT =
  'Needs a player that handles HEVC Main10: most TVs and phones since about 2016, but not every browser, older TV or set-top box.';

const GROUPS: Omit<ProfileGroup, 'profiles'>[] = [
  {
    id: 'auto',
    title: 'Auto',
    blurb:
      'Recommended. Looks at each file, picks the settings for it, checks the quality, and keeps the original when encoding would not save space. Always 8-bit HEVC, so it plays everywhere (HDR is converted to SDR).',
  },
  {
    id: 'standard',
    title: 'Standard',
    blurb:
      'Everyday delivery: 8-bit HEVC files that play on practically every phone, TV and computer of the last decade. Espresso is the fastest, Americano makes the smallest files.',
  },
  {
    id: 'hq',
    title: 'HQ',
    blurb:
      'For heavy sources such as ProRes, DNxHD and camera masters: keeps more detail, so files are larger than Standard. Still 8-bit, so it plays wherever Standard does.',
  },
  {
    id: '10bit',
    title: '10-bit',
    blurb: `Keeps 10-bit colour (HEVC Main10): smoother gradients and skies, and needed to keep HDR. ${MAIN10_CAVEAT}`,
  },
  {
    id: 'hq-10bit',
    title: 'HQ 10-bit',
    blurb: `Quality first and 10-bit end to end: for masters and archive copies where detail and bit depth matter more than size. ${MAIN10_CAVEAT}`,
  },
];

const SPEED_ORDER: Record<string, number> = { fast: 0, medium: 1, slow: 2 };

export function speedLabel(speed: string | null | undefined): string {
  switch (speed) {
    case 'fast':
      return 'fastest';
    case 'medium':
      return 'balanced';
    case 'slow':
      return 'smallest files, slowest';
    default:
      return '';
  }
}

/** Profiles in the picker's groups and order (Auto first; fast → slow inside a group).
 * Profiles of unknown groups (user files) land in "Other"; empty groups are left out. */
export function groupProfiles(profiles: readonly Profile[]): ProfileGroup[] {
  const groups: ProfileGroup[] = GROUPS.map((g) => ({ ...g, profiles: [] }));
  const other: ProfileGroup = { id: 'other', title: 'Other', blurb: 'Profiles added on this machine.', profiles: [] };
  for (const p of profiles) {
    (groups.find((g) => g.id === p.group) ?? other).profiles.push(p);
  }
  const sorted = [...groups, other].filter((g) => g.profiles.length > 0);
  for (const g of sorted) {
    g.profiles.sort(
      (a, b) =>
        (SPEED_ORDER[a.speed ?? ''] ?? 9) - (SPEED_ORDER[b.speed ?? ''] ?? 9) || a.id.localeCompare(b.id),
    );
  }
  return sorted;
}

export function isMain10(p: Profile | undefined): boolean {
  return !!p && p.bit_depth >= 10;
}
