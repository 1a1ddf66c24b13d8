/**
 * Which invocation a record belongs to, and when it was written: the one place every reader
 * (tail, show, stats, the TUI, the agent) asks.
 */
import type { JournalRecord } from './record.ts';

/** The span id of the invocation a record belongs to. */
export function invocationIdOf(rec: JournalRecord): string {
  return rec.rec === 'invocation.begin' || rec.rec === 'invocation.end' ? rec.spanId : rec.invocationSpanId;
}

/** The record's own time (epoch ns): a begin's start, an end's end. */
export function recordTimeNs(rec: JournalRecord): bigint {
  return BigInt(rec.rec === 'invocation.begin' || rec.rec === 'step.begin' ? rec.startNs : rec.endNs);
}
