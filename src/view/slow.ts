/**
 * What "slow" means when no threshold is given: slow for its own network and command, over the
 * invocations at hand (the TUI's window, the journal a command reads). A busy node's ordinary
 * ADDs all take seconds; a fixed 1 s paints nearly every row and hides the one that matters.
 * An invocation is slow when it is at or above the 90th percentile of its group and at least
 * SLOW_FACTOR × the group's median. A group with fewer than MIN_GROUP samples is judged
 * against all invocations of the same command (one pod on an odd network is still compared
 * with something). With an absolute threshold set, that alone decides.
 */
import type { Invocation } from '../journal/invocations.ts';
import { elapsedMs } from './filter.ts';
import { percentile } from './stats.ts';

export const SLOW_FACTOR = 3;
export const SLOW_PERCENTILE = 90;
const MIN_GROUP = 5;

interface Cut { readonly p50: number; readonly p90: number; readonly n: number }

/** Baselines per (network, command) and per command, from finished invocations' durations. */
export class SlowBaseline {
  private readonly absoluteMs: number | undefined;
  private readonly samples = new Map<string, number[]>();
  private cuts: Map<string, Cut> | null = null;

  constructor(absoluteMs?: number) {
    this.absoluteMs = absoluteMs;
  }

  /** A finished invocation's duration joins its groups' distributions. */
  add(inv: Invocation): void {
    if (this.absoluteMs !== undefined || inv.durationMs === null || inv.status === 'in-flight') return;
    for (const key of [`${inv.network}\u0000${inv.command}`, `\u0000${inv.command}`]) {
      const list = this.samples.get(key);
      if (list) list.push(inv.durationMs);
      else this.samples.set(key, [inv.durationMs]);
    }
    this.cuts = null;
  }

  /** Is this invocation slow (an in-flight one by its age at `nowMs`)? */
  isSlow(inv: Invocation, nowMs = Date.now()): boolean {
    const ms = elapsedMs(inv, nowMs);
    if (ms === null) return false;
    if (this.absoluteMs !== undefined) return ms >= this.absoluteMs;
    const cut = this.cut(`${inv.network}\u0000${inv.command}`);
    const use = cut && cut.n >= MIN_GROUP ? cut : this.cut(`\u0000${inv.command}`);
    if (!use || use.n < MIN_GROUP) return false;
    return ms >= use.p90 && ms >= SLOW_FACTOR * use.p50;
  }

  /** The rule in words, for headers and help. */
  describe(): string {
    return this.absoluteMs !== undefined ? `≥ ${this.absoluteMs} ms` : `≥ p${SLOW_PERCENTILE} and ≥ ${SLOW_FACTOR}× median of its network+command`;
  }

  private cut(key: string): Cut | undefined {
    this.cuts ??= new Map();
    let c = this.cuts.get(key);
    if (!c) {
      const s = this.samples.get(key);
      if (!s) return undefined;
      c = { p50: percentile(s, 50), p90: percentile(s, SLOW_PERCENTILE), n: s.length };
      this.cuts.set(key, c);
    }
    return c;
  }
}

/** A baseline over these invocations. */
export function slowBaseline(invocations: Iterable<Invocation>, absoluteMs?: number): SlowBaseline {
  const b = new SlowBaseline(absoluteMs);
  for (const inv of invocations) b.add(inv);
  return b;
}
