/**
 * Latency statistics over invocations: percentiles per plugin and command, the slowest
 * invocations, and a window's rate and ADD percentiles (the TUI header). Nearest-rank
 * percentiles over recorded durations, in milliseconds.
 */
import type { Invocation } from '../journal/invocations.ts';
import { isError } from './filter.ts';

/** Nearest-rank percentile of unsorted samples; NaN for none. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export interface LatencyRow {
  /** A plugin type, or "(invocation)" for whole invocations. */
  readonly plugin: string;
  readonly command: string;
  readonly count: number;
  readonly errors: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
}

export const WHOLE_INVOCATION = '(invocation)';

/** One row per (plugin, command) over finished steps, plus one per command for whole invocations. */
export function latencyTable(invocations: readonly Invocation[]): LatencyRow[] {
  const groups = new Map<string, { plugin: string; command: string; ms: number[]; errors: number }>();
  const add = (plugin: string, command: string, ms: number | null, error: boolean): void => {
    const key = `${plugin}\u0000${command}`;
    const g = groups.get(key) ?? { plugin, command, ms: [], errors: 0 };
    if (ms !== null) g.ms.push(ms);
    if (error) g.errors++;
    groups.set(key, g);
  };
  for (const inv of invocations) {
    if (inv.status === 'in-flight') continue;
    add(WHOLE_INVOCATION, inv.command, inv.durationMs, isError(inv));
    for (const s of inv.steps) if (s.status !== 'skipped' && s.status !== 'in-flight') add(s.plugin, s.command, s.durationMs, s.status === 'error' || s.status === 'abandoned');
  }
  return [...groups.values()]
    .map((g) => ({ plugin: g.plugin, command: g.command, count: g.ms.length + (g.ms.length === 0 ? g.errors : 0), errors: g.errors, p50: percentile(g.ms, 50), p95: percentile(g.ms, 95), p99: percentile(g.ms, 99), max: g.ms.length ? Math.max(...g.ms) : NaN }))
    .sort((a, b) => (a.plugin === WHOLE_INVOCATION ? -1 : 0) - (b.plugin === WHOLE_INVOCATION ? -1 : 0) || a.plugin.localeCompare(b.plugin) || a.command.localeCompare(b.command));
}

/** The `n` slowest finished invocations, slowest first. */
export function slowest(invocations: readonly Invocation[], n: number): Invocation[] {
  return invocations.filter((i) => i.durationMs !== null).sort((a, b) => b.durationMs! - a.durationMs!).slice(0, n);
}

export interface WindowSummary {
  readonly perMinute: number;
  readonly addP50: number;
  readonly addP95: number;
  readonly errors: number;
  readonly inFlight: number;
}

/** Rate, ADD p50/p95 and errors over invocations that started within `windowMs` of `nowMs`. */
export function windowSummary(invocations: readonly Invocation[], nowMs: number, windowMs: number): WindowSummary {
  const fromNs = BigInt(Math.floor(nowMs - windowMs)) * 1_000_000n;
  const recent = invocations.filter((i) => i.startNs && BigInt(i.startNs) >= fromNs);
  const adds = recent.filter((i) => i.command === 'ADD' && i.durationMs !== null).map((i) => i.durationMs!);
  return {
    perMinute: recent.length * (60_000 / windowMs),
    addP50: percentile(adds, 50),
    addP95: percentile(adds, 95),
    errors: recent.filter(isError).length,
    inFlight: invocations.filter((i) => i.status === 'in-flight').length,
  };
}
