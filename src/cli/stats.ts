/**
 * `cni-trace stats [--since DURATION] [--json]`: per plugin and command — count, errors,
 * p50, p95, p99, max — and the slowest invocations, as a table or as JSON.
 */
import { foldInvocations } from '../journal/assemble.ts';
import type { Invocation } from '../journal/invocations.ts';
import { journalRecords } from '../journal/reader.ts';
import { matches, type InvocationFilter } from '../view/filter.ts';
import { LatencyTable, type LatencyRow } from '../view/latency.ts';
import { slowestPart } from '../view/own-time.ts';
import { Slowest } from '../view/stats.ts';
import { escapeControl, formatMs, rfc3339 } from '../view/text.ts';

export interface StatsReport {
  readonly since: string | null;
  readonly invocations: number;
  readonly rows: readonly LatencyRow[];
  readonly slowest: ReadonlyArray<{ traceId: string; command: string; pod: string; containerId: string; start: string | null; durationMs: number | null; status: string; slowestStep: string | null }>;
}

const SLOWEST = 10;

/**
 * Computes the report over the journal's invocations that pass `filter`, streamed: memory holds
 * the unfinished invocations, one histogram per group and the slowest few, not the journal.
 */
export function statsReport(journal: string, filter: InvocationFilter): StatsReport {
  const table = new LatencyTable();
  const slow = new Slowest(SLOWEST);
  let count = 0;
  const take = (inv: Invocation): void => {
    if (!matches(inv, filter)) return;
    count++;
    table.add(inv);
    slow.add(inv);
  };
  const open = foldInvocations(journalRecords(journal, filter.sinceNs !== undefined ? { sinceNs: filter.sinceNs } : {}), take);
  for (const inv of open.list()) take(inv);
  return {
    since: filter.sinceNs !== undefined ? rfc3339(String(filter.sinceNs)) : null,
    invocations: count,
    rows: table.rows(),
    slowest: slow.list().map((i: Invocation) => {
      const step = slowestPart(i);
      return {
        traceId: i.traceId, command: i.command, pod: i.pod.name ? `${i.pod.namespace ?? '-'}/${i.pod.name}` : '-',
        containerId: i.containerId, start: i.startNs ? rfc3339(i.startNs) : null, durationMs: i.durationMs, status: i.status,
        slowestStep: step ? `${step.plugin} ${formatMs(step.ms)}` : null,
      };
    }),
  };
}

/** Aligned columns; every cell is escaped, so journal text never reaches the terminal raw. */
function columns(raw: string[][], right: ReadonlySet<number>): string {
  const rows = raw.map((r) => r.map(escapeControl));
  const widths = rows[0]!.map((_, c) => rows.reduce((m, r) => Math.max(m, r[c]!.length), 0));
  return rows.map((r) => r.map((cell, c) => (right.has(c) ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ').trimEnd()).join('\n');
}

/** The report as text tables. */
export function renderStats(r: StatsReport): string {
  if (r.invocations === 0) return `no invocations${r.since ? ` since ${r.since}` : ''}`;
  const head = [['plugin', 'command', 'count', 'errors', 'p50', 'p95', 'p99', 'max']];
  const body = r.rows.map((x) => [x.plugin, x.command, String(x.count), String(x.errors), formatMs(x.p50), formatMs(x.p95), formatMs(x.p99), formatMs(x.max)]);
  const slow = r.slowest.map((s) => [s.start?.slice(11, 23) ?? '?', s.command, s.pod, s.containerId.slice(0, 12), formatMs(s.durationMs), s.status, s.slowestStep ?? '-', s.traceId]);
  return `${r.invocations} invocations${r.since ? ` since ${r.since}` : ''}\n\n${columns([...head, ...body], new Set([2, 3, 4, 5, 6, 7]))}\n\nslowest:\n${columns([['time', 'command', 'pod', 'container', 'duration', 'status', 'slowest step', 'trace'], ...slow], new Set([4]))}`;
}
