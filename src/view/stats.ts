/**
 * Latency statistics over a few invocations held in memory: the slowest invocations, and a
 * window's rate and ADD percentiles (the TUI header, over at most the invocations it holds).
 * Nearest-rank percentiles over recorded durations, in milliseconds. `stats` over the whole
 * journal streams into latency.ts instead.
 */
import type { Invocation } from '../journal/invocations.ts';
import { isError } from './filter.ts';

/** Nearest-rank percentile of unsorted samples; NaN for none. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Keeps the `n` slowest finished invocations seen, slowest first; equal ones in start order. */
export class Slowest {
  private readonly n: number;
  private readonly kept: Invocation[] = [];
  constructor(n: number) {
    this.n = n;
  }
  add(inv: Invocation): void {
    if (inv.durationMs === null || this.n === 0) return;
    const at = this.kept.findIndex((k) => slower(inv, k));
    if (at < 0) {
      if (this.kept.length < this.n) this.kept.push(inv);
      return;
    }
    this.kept.splice(at, 0, inv);
    if (this.kept.length > this.n) this.kept.pop();
  }
  list(): Invocation[] {
    return [...this.kept];
  }
}

/** Does `a` rank before `b`: slower, or as slow and started earlier. */
function slower(a: Invocation, b: Invocation): boolean {
  if (a.durationMs! !== b.durationMs!) return a.durationMs! > b.durationMs!;
  return a.startNs !== null && (b.startNs === null || BigInt(a.startNs) < BigInt(b.startNs));
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

export interface ShownSummary extends WindowSummary {
  /** Rows counted: every one the list shows. */
  readonly shown: number;
}

/**
 * The TUI header's figures over exactly the rows the list shows (so "errors 0" never sits above
 * an error row): ADD percentiles, errors and in-flight over all of them; the rate over those
 * that started within `windowMs` of `nowMs`.
 */
export function shownSummary(rows: readonly Invocation[], nowMs: number, windowMs: number): ShownSummary {
  const fromNs = BigInt(Math.floor(nowMs - windowMs)) * 1_000_000n;
  const recent = rows.filter((i) => i.startNs && BigInt(i.startNs) >= fromNs).length;
  const adds = rows.filter((i) => i.command === 'ADD' && i.durationMs !== null).map((i) => i.durationMs!);
  return {
    shown: rows.length,
    perMinute: recent * (60_000 / windowMs),
    addP50: percentile(adds, 50),
    addP95: percentile(adds, 95),
    errors: rows.filter(isError).length,
    inFlight: rows.filter((i) => i.status === 'in-flight').length,
  };
}
