// Watch-folder rules in the Settings panel: the add form → a rule spec, and
// a rule or decision in words.
import type { WatchCounts, WatchEvent, WatchRule, WatchRuleSpec } from '../api/types';

/** The "Add rule" form's fields. */
export interface WatchForm {
  folder: string;
  recursive: boolean;
  profile: string;
  /** Empty: `<folder>/crema-encoded`. */
  outputDir: string;
  onSuccess: 'leave' | 'move' | 'delete';
  onFailure: 'leave' | 'move';
  /** Seconds a file must stay unchanged before it is taken. */
  settleSeconds: number;
}

export function emptyWatchForm(profile: string): WatchForm {
  return { folder: '', recursive: false, profile, outputDir: '', onSuccess: 'leave', onFailure: 'leave', settleSeconds: 3 };
}

/** The spec to submit, or a sentence saying what to fix. */
export function specFromForm(f: WatchForm): { spec: WatchRuleSpec } | { error: string } {
  const folder = f.folder.trim();
  if (!folder) return { error: 'Choose the folder to watch.' };
  if (!f.profile) return { error: 'Choose a profile for the jobs.' };
  const settle = Number(f.settleSeconds);
  if (!Number.isFinite(settle) || settle < 0.1 || settle > 3600) {
    return { error: 'Settle time must be between 0.1 and 3600 seconds.' };
  }
  const outputDir = f.outputDir.trim();
  const spec: WatchRuleSpec = {
    folder,
    recursive: f.recursive,
    profile: f.profile,
    output_dir: outputDir || null,
    on_success: f.onSuccess === 'move' ? { action: 'move', dir: null } : { action: f.onSuccess },
    on_failure: f.onFailure === 'move' ? { action: 'move', dir: null } : { action: 'leave' },
    settle_seconds: settle,
  };
  return { spec };
}

/** `"2 done · 1 queued"`; "No files yet" when every count is zero. */
export function countsText(c: WatchCounts): string {
  const order: (keyof WatchCounts)[] = ['queued', 'pending', 'done', 'failed', 'duplicate'];
  const words: Record<keyof WatchCounts, string> = { queued: 'encoding or queued', pending: 'waiting', done: 'done', failed: 'failed', duplicate: 'duplicate' };
  const parts = order.filter((k) => c[k] > 0).map((k) => `${c[k]} ${words[k]}`);
  return parts.length ? parts.join(' · ') : 'No files yet';
}

/** What happens to sources, in words. */
export function actionsText(spec: WatchRuleSpec): string {
  const s = spec.on_success ?? { action: 'leave' };
  const f = spec.on_failure ?? { action: 'leave' };
  const success =
    s.action === 'delete' ? 'deleted' : s.action === 'move' ? `moved to ${s.dir ?? 'crema-done'}` : 'left in place';
  const failure = f.action === 'move' ? `moved to ${f.dir ?? 'crema-failed'}` : 'left in place';
  return `Sources: ${success} after success, ${failure} after a failure.`;
}

/** The rule's output folder as stored (defaults are filled in by the service). */
export function outputText(rule: WatchRule): string {
  return rule.spec.output_dir ?? `${rule.spec.folder}/crema-encoded`;
}

/** The file's name relative to the watched folder when it is inside it. */
export function relativePath(rule: WatchRule, path: string): string {
  const base = rule.spec.folder.replace(/[\\/]+$/, '');
  if (path.startsWith(base) && /^[\\/]/.test(path.slice(base.length))) return path.slice(base.length + 1);
  return path;
}

/** A decision's label: "Taken", "Ignored", "Done", "Failed". */
export function decisionText(e: WatchEvent): string {
  return { taken: 'Taken', ignored: 'Ignored', done: 'Done', failed: 'Failed' }[e.decision] ?? e.decision;
}

/** Why, in words: the reason, else where a `done` output went. */
export function eventDetail(e: WatchEvent): string {
  if (e.reason) return e.reason;
  if (e.decision === 'done' && e.output_path) return `→ ${e.output_path}`;
  return '';
}

/** The decision's time in the viewer's clock, e.g. `21 Nov, 10:00:05`. */
export function eventTime(at: string, locale?: string): string {
  const d = new Date(at);
  if (Number.isNaN(d.getTime())) return at;
  return d.toLocaleString(locale, { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}
