/**
 * cni-trace's own time in an invocation, derived from what the journal already holds (no
 * hot-path work): from the invocation's begin to its first delegate's begin, between one
 * delegate's end and the next one's begin, and from the last one's end to the invocation's end.
 * The runtime's exec to our begin (Node's start, reading stdin) is not journaled and not in it:
 * the runtime's own view of a call is longer by that much (docs/decisions.md 27).
 */
import type { Invocation } from '../journal/invocations.ts';

export type OwnPhase = 'before' | 'between' | 'after';

export interface OwnGap {
  readonly startNs: bigint;
  readonly endNs: bigint;
  /** Before the first delegate, between two, after the last. */
  readonly phase: OwnPhase;
}

export interface OwnTime {
  /** The gaps' total, ms. */
  readonly ms: number;
  readonly gaps: readonly OwnGap[];
}

/** The row name the views give it. */
export const OWN_TIME = 'cni-trace';

/** Own time of a finished invocation; null while it runs or when its begin or end is missing. */
export function ownTime(inv: Invocation): OwnTime | null {
  if (!inv.startNs || !inv.endNs) return null;
  const start = BigInt(inv.startNs);
  const end = BigInt(inv.endNs);
  const steps = inv.steps
    .filter((s) => s.depth === 0 && s.startNs && s.endNs)
    .map((s) => ({ from: BigInt(s.startNs!), to: BigInt(s.endNs!) }))
    .sort((a, b) => (a.from < b.from ? -1 : a.from > b.from ? 1 : 0));
  const gaps: OwnGap[] = [];
  let at = start;
  for (const s of steps) {
    if (s.from > at) gaps.push({ startNs: at, endNs: s.from, phase: at === start ? 'before' : 'between' });
    if (s.to > at) at = s.to;
  }
  if (end > at) gaps.push({ startNs: at, endNs: end, phase: gaps.length === 0 && steps.length === 0 ? 'before' : 'after' });
  const ns = gaps.reduce((sum, g) => sum + (g.endNs - g.startNs), 0n);
  return { ms: Number(ns) / 1e6, gaps };
}

/** The step (or cni-trace's own time) that took longest: plugin name, ms, and its index (-1 for own time); null for none. */
export function slowestPart(inv: Invocation): { readonly plugin: string; readonly ms: number; readonly index: number } | null {
  let best: { plugin: string; ms: number; index: number } | null = null;
  for (let i = 0; i < inv.steps.length; i++) {
    const s = inv.steps[i]!;
    if (s.durationMs !== null && (best === null || s.durationMs > best.ms)) best = { plugin: s.plugin, ms: s.durationMs, index: i };
  }
  const own = ownTime(inv);
  if (own && (best === null || own.ms > best.ms)) best = { plugin: OWN_TIME, ms: own.ms, index: -1 };
  return best;
}
