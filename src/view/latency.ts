/**
 * `stats`' latency table, kept while invocations stream by: per plugin and command, exact
 * counts, errors and max, and percentiles from an HDR histogram (hdr-histogram-js) — a fixed
 * few tens of KB per group instead of an array of every sample (docs/decisions.md, "stats
 * percentiles"). Values are recorded in whole microseconds (the journal's durations have µs
 * precision) with 3 significant digits: exact below 2.048 ms, within 0.1 % above, and a
 * percentile never above the largest sample.
 */
import * as hdr from 'hdr-histogram-js';
import type { Invocation } from '../journal/invocations.ts';
import { isError } from './filter.ts';
import { OWN_TIME, ownTime } from './own-time.ts';

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

interface Group {
  readonly plugin: string;
  readonly command: string;
  readonly us: hdr.Histogram;
  samples: number;
  errors: number;
  maxUs: number;
}

/** One row per (plugin, command) over finished steps, plus one per command for whole invocations. */
export class LatencyTable {
  private readonly groups = new Map<string, Group>();

  add(inv: Invocation): void {
    if (inv.status === 'in-flight') return;
    this.sample(WHOLE_INVOCATION, inv.command, inv.durationMs, isError(inv));
    for (const s of inv.steps) if (s.status !== 'skipped' && s.status !== 'in-flight') this.sample(s.plugin, s.command, s.durationMs, s.status === 'error' || s.status === 'abandoned');
    const own = ownTime(inv);
    if (own) this.sample(OWN_TIME, inv.command, own.ms, false);
  }

  rows(): LatencyRow[] {
    return [...this.groups.values()]
      .map((g) => ({
        plugin: g.plugin, command: g.command, count: g.samples + (g.samples === 0 ? g.errors : 0), errors: g.errors,
        p50: this.at(g, 50), p95: this.at(g, 95), p99: this.at(g, 99), max: g.samples ? g.maxUs / 1000 : NaN,
      }))
      .sort((a, b) => (a.plugin === WHOLE_INVOCATION ? -1 : 0) - (b.plugin === WHOLE_INVOCATION ? -1 : 0) || a.plugin.localeCompare(b.plugin) || a.command.localeCompare(b.command));
  }

  private sample(plugin: string, command: string, ms: number | null, error: boolean): void {
    const key = `${plugin}\u0000${command}`;
    let g = this.groups.get(key);
    if (!g) {
      g = { plugin, command, us: hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 2, numberOfSignificantValueDigits: 3, autoResize: true, bitBucketSize: 32 }), samples: 0, errors: 0, maxUs: 0 };
      this.groups.set(key, g);
    }
    if (ms !== null) {
      const us = Math.max(0, Math.round(ms * 1000));
      g.us.recordValue(us);
      g.samples++;
      if (us > g.maxUs) g.maxUs = us;
    }
    if (error) g.errors++;
  }

  /** Nearest-rank percentile (HDR's own rank rule), in ms; NaN without samples. */
  private at(g: Group, p: number): number {
    return g.samples ? Math.min(g.us.getValueAtPercentile(p), g.maxUs) / 1000 : NaN;
  }
}
