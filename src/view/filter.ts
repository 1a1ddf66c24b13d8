/**
 * Selecting invocations, shared by `tail`, `stats`, `show` and the TUI: by text (pod,
 * namespace, plugin, container id, network, command), by pod, namespace or plugin, errors
 * only, slow only, and by age.
 */
import type { Invocation } from '../journal/invocations.ts';
import { parseDuration } from './duration.ts';

export interface InvocationFilter {
  /** Case-insensitive substring of pod, namespace, plugin, container id, network or command. */
  readonly text?: string;
  readonly pod?: string;
  readonly namespace?: string;
  readonly plugin?: string;
  readonly errorsOnly?: boolean;
  /** Only this CNI command (ADD, DEL, CHECK, …). */
  readonly command?: string;
  /** Only invocations with this outcome; "slow" asks `isSlow`. */
  readonly status?: StatusWanted;
  /** Decides "slow" for `status: 'slow'` (view/slow.ts); without it nothing is slow. */
  readonly isSlow?: (inv: Invocation, nowMs: number) => boolean;
  /** Only invocations at least this slow (ms); in-flight ones count with their age so far. */
  readonly slowerThanMs?: number;
  /** Only invocations that started at or after this time (epoch ns). */
  readonly sinceNs?: bigint;
}

/** What `--status` takes. */
export const STATUS_WANTED = ['ok', 'error', 'slow', 'in-flight', 'abandoned'] as const;
export type StatusWanted = typeof STATUS_WANTED[number];

/** Failed, or abandoned: what `--errors` and the TUI's `e` show. */
export function isError(inv: Invocation): boolean {
  return inv.status === 'error' || inv.status === 'abandoned';
}

/** Duration in ms; for an in-flight invocation, its age at `nowMs`. */
export function elapsedMs(inv: Invocation, nowMs: number): number | null {
  if (inv.durationMs !== null) return inv.durationMs;
  if (inv.status === 'in-flight' && inv.startNs) return Math.max(0, nowMs - Number(BigInt(inv.startNs) / 1_000_000n));
  return null;
}

/** True when the invocation passes every criterion set in the filter. */
export function matches(inv: Invocation, f: InvocationFilter, nowMs = Date.now()): boolean {
  if (f.errorsOnly && !isError(inv)) return false;
  if (f.command !== undefined && inv.command !== f.command) return false;
  if (f.status !== undefined && !hasStatus(inv, f, nowMs)) return false;
  if (f.pod !== undefined && inv.pod.name !== f.pod) return false;
  if (f.namespace !== undefined && inv.pod.namespace !== f.namespace) return false;
  if (f.plugin !== undefined && !inv.steps.some((s) => s.plugin === f.plugin)) return false;
  if (f.sinceNs !== undefined && (!inv.startNs || BigInt(inv.startNs) < f.sinceNs)) return false;
  if (f.slowerThanMs !== undefined) {
    const ms = elapsedMs(inv, nowMs);
    if (ms === null || ms < f.slowerThanMs) return false;
  }
  if (f.text) {
    const needle = f.text.toLowerCase();
    const hay = [inv.pod.name, inv.pod.namespace, inv.containerId, inv.network, inv.command, inv.traceId, ...inv.steps.map((s) => s.plugin)];
    if (!hay.some((h) => h?.toLowerCase().includes(needle))) return false;
  }
  return true;
}

function hasStatus(inv: Invocation, f: InvocationFilter, nowMs: number): boolean {
  switch (f.status) {
    case 'error': return isError(inv);
    case 'slow': return f.isSlow?.(inv, nowMs) ?? false;
    default: return inv.status === f.status;
  }
}

/** "ns/name" or "name", as `--pod` takes it. */
export function podSelector(value: string): Pick<InvocationFilter, 'pod' | 'namespace'> {
  const slash = value.indexOf('/');
  return slash < 0 ? { pod: value } : { namespace: value.slice(0, slash), pod: value.slice(slash + 1) };
}

const CNI_COMMANDS = ['ADD', 'DEL', 'CHECK', 'STATUS', 'GC', 'VERSION'];

/**
 * The TUI's filter line as a filter: `ADD` or `cmd:ADD` (a command), `status:slow` (ok, error,
 * slow, in-flight, abandoned), `>2s` (slower than), and the rest as text to find. A word that
 * is none of these (`status:nope`, `>soon`) is text too, so typing never errors half-way.
 */
export function parseFilterText(line: string): InvocationFilter {
  const f: { -readonly [K in keyof InvocationFilter]: InvocationFilter[K] } = {};
  const words: string[] = [];
  for (const word of line.trim().split(/\s+/).filter(Boolean)) {
    const cmd = /^(?:cmd|command):(\w+)$/i.exec(word)?.[1]?.toUpperCase() ?? (CNI_COMMANDS.includes(word) ? word : undefined);
    const status = /^status:([\w-]+)$/i.exec(word)?.[1]?.toLowerCase();
    const slower = /^>(\S+)$/.exec(word)?.[1];
    if (cmd && CNI_COMMANDS.includes(cmd)) f.command = cmd;
    else if (status && (STATUS_WANTED as readonly string[]).includes(status)) f.status = status as StatusWanted;
    else if (slower && /^\d+(\.\d+)?(ms|s|m|h)?$/.test(slower)) f.slowerThanMs = /\d$/.test(slower) ? Number(slower) : parseDuration(slower);
    else words.push(word);
  }
  if (words.length > 0) f.text = words.join(' ');
  return f;
}
