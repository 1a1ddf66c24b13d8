/**
 * Waterfall geometry: where each step's bar starts and how long it is, in columns, on an
 * axis shared by the whole invocation. Used by `cni-trace show` and the TUI's detail view.
 */
import type { Invocation, Step } from '../journal/invocations.ts';

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
  const end = inv.endNs ? BigInt(inv.endNs) : inv.steps.reduce((m, s) => {
    const t = s.endNs ? BigInt(s.endNs) : nowNs;
    return t > m ? t : m;
  }, nowNs > t0 ? nowNs : t0 + 1n);
  const span = Number(end - t0) || 1;
  return inv.steps.filter((s) => s.startNs).map((step) => {
    const s = Number(BigInt(step.startNs!) - t0);
    const e = Number((step.endNs ? BigInt(step.endNs) : end) - t0);
    const offset = Math.min(columns - 1, Math.max(0, Math.floor((s / span) * columns)));
    const width = Math.max(1, Math.min(columns - offset, Math.round(((e - s) / span) * columns)));
    return { step, offset, width, startMs: s / 1e6, durationMs: step.durationMs };
  });
}

