// The farm's nodes in the Settings panel (browser UI of `crema serve`):
// `GET /v1/nodes` → rows in words. Every node that ever ran against the
// queue's database is listed; a node is `online` while its heartbeat is
// younger than a lease, `stopped` after a clean shutdown, `lost` when its
// heartbeat ran out (its jobs were requeued to the others).
import type { NodeInfo, NodeList } from '../api/types';

/** One node as the panel shows it. */
export interface NodeRow {
  name: string;
  /** The node answering this page's requests. */
  isThis: boolean;
  state: string;
  /** "online", "stopped", "lost", or the server's word for a newer state. */
  stateText: string;
  /** "2 of 4 slots busy". */
  load: string;
  /** "seen 3 s ago" from the last heartbeat. */
  seen: string;
  /** Hardware encoders first (NVENC, QSV, VAAPI, VideoToolbox, AMF), then software. */
  encoders: string;
  version: string;
}

const HARDWARE = /_(nvenc|qsv|vaapi|videotoolbox|amf)$/;
const ORDER: Record<string, number> = { online: 0, stopped: 1, lost: 2 };

/** "3 s ago", "4 min ago", "2 h ago", "5 d ago"; "just now" under a second (and for clocks slightly ahead). */
export function ago(at: string, now: number): string {
  const t = Date.parse(at);
  if (Number.isNaN(t)) return at;
  const s = Math.floor((now - t) / 1000);
  if (s < 1) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86_400)} d ago`;
}

/** Encoder names, hardware first, each group in name order. */
export function encoderText(encoders: string[]): string {
  const hw = encoders.filter((e) => HARDWARE.test(e)).sort();
  const sw = encoders.filter((e) => !HARDWARE.test(e)).sort();
  return [...hw, ...sw].join(', ') || 'none reported';
}

function row(n: NodeInfo, thisNode: string, now: number): NodeRow {
  const known = n.state in ORDER;
  return {
    name: n.name,
    isThis: n.name === thisNode,
    state: n.state,
    stateText: known ? n.state : `${n.state} (unknown state)`,
    load: n.state === 'online' ? `${n.running_jobs} of ${n.workers} slot${n.workers === 1 ? '' : 's'} busy` : `${n.workers} slot${n.workers === 1 ? '' : 's'}`,
    seen: `seen ${ago(n.last_heartbeat_at, now)}`,
    encoders: encoderText(n.encoders),
    version: n.version,
  };
}

/** The rows: this node first, then online, stopped, lost, each by name. */
export function nodeRows(list: NodeList, now: number): NodeRow[] {
  return list.data
    .map((n) => row(n, list.this_node, now))
    .sort((a, b) => Number(b.isThis) - Number(a.isThis) || (ORDER[a.state] ?? 3) - (ORDER[b.state] ?? 3) || a.name.localeCompare(b.name));
}

/** The line above the list: "3 nodes: 2 online, 5 of 8 slots busy". */
export function farmSummary(list: NodeList): string {
  const online = list.data.filter((n) => n.state === 'online');
  const slots = online.reduce((s, n) => s + n.workers, 0);
  const busy = online.reduce((s, n) => s + n.running_jobs, 0);
  const count = `${list.data.length} node${list.data.length === 1 ? '' : 's'}`;
  return `${count}: ${online.length} online, ${busy} of ${slots} slot${slots === 1 ? '' : 's'} busy`;
}
