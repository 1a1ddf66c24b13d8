/**
 * Waterfall geometry: where each step's bar starts and how long it is, in columns, on an
 * axis shared by the whole invocation. Used by `cni-trace show` and the TUI's detail view.
 */
import type { Invocation, Step } from '../journal/invocations.ts';
import { ownTime } from './own-time.ts';

export interface Bar {
  readonly step: Step;
  /** Columns from the left edge of the axis. */
  readonly offset: number;
  /** At least 1 column, so an instant step still shows. */
  readonly width: number;
  readonly startMs: number;
  readonly durationMs: number | null;
}

/**
 * Bars for the steps on an axis of `columns` columns spanning the invocation (or, for one
 * still running, up to `nowNs`). Proportional: a step taking half the invocation gets half
 * the axis.
 */
export function waterfall(inv: Invocation, columns: number, nowNs: bigint = BigInt(Date.now()) * 1_000_000n): Bar[] {
  if (!inv.startNs) return [];
  const t0 = BigInt(inv.startNs);
  const end = axisEnd(inv, nowNs);
  const span = Number(end - t0) || 1;
  return inv.steps.filter((s) => s.startNs).map((step) => {
    const s = Number(BigInt(step.startNs!) - t0);
    const e = Number((step.endNs ? BigInt(step.endNs) : end) - t0);
    const offset = Math.min(columns - 1, Math.max(0, Math.floor((s / span) * columns)));
    const width = Math.max(1, Math.min(columns - offset, Math.round(((e - s) / span) * columns)));
    return { step, offset, width, startMs: s / 1e6, durationMs: step.durationMs };
  });
}


/** Where the axis ends: the invocation's end, or for one still running the latest of its steps and now. */
function axisEnd(inv: Invocation, nowNs: bigint): bigint {
  const t0 = BigInt(inv.startNs!);
  return inv.endNs ? BigInt(inv.endNs) : inv.steps.reduce((m, s) => {
    const t = s.endNs ? BigInt(s.endNs) : nowNs;
    return t > m ? t : m;
  }, nowNs > t0 ? nowNs : t0 + 1n);
}

/** cni-trace's own time as one row: a segment per gap on the same axis, and the total. */
export interface OwnBar {
  readonly segments: ReadonlyArray<{ readonly offset: number; readonly width: number }>;
  readonly durationMs: number;
}

/** The own-time row for a finished invocation (null while it runs, or with no own time): gaps under 1 column still show as 1. */
export function ownBar(inv: Invocation, columns: number): OwnBar | null {
  const own = ownTime(inv);
  if (!own || own.gaps.length === 0 || !inv.startNs) return null;
  const t0 = BigInt(inv.startNs);
  const span = Number(BigInt(inv.endNs!) - t0) || 1;
  const segments = own.gaps.map((g) => {
    const offset = Math.min(columns - 1, Math.max(0, Math.floor((Number(g.startNs - t0) / span) * columns)));
    return { offset, width: Math.max(1, Math.min(columns - offset, Math.round((Number(g.endNs - g.startNs) / span) * columns))) };
  });
  return { segments, durationMs: own.ms };
}

/** A track of `columns` cells with `fill` where the segments are, spaces elsewhere. */
export function track(segments: ReadonlyArray<{ readonly offset: number; readonly width: number }>, columns: number, fill = '█'): string {
  const cells = Array.from({ length: columns }, () => ' ');
  for (const seg of segments) for (let i = seg.offset; i < Math.min(columns, seg.offset + seg.width); i++) cells[i] = fill;
  return cells.join('');
}
