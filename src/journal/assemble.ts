/**
 * Streams of records into invocations without holding the journal: forward, each invocation is
 * handed on as it ends (only the unfinished ones are held); newest first, each is handed on when
 * its begin — its first record — is reached (only the ones whose begin is still ahead are held).
 * An invocation silent for STALE_NS of journal time while others go on is handed on as it stands
 * (abandoned, or in flight if its wrapper still runs): memory stays bounded by what a window of
 * the journal holds open, however long the journal and however many calls were torn or killed.
 */
import { invocationIdOf, recordTimeNs } from './identity.ts';
import { InvocationIndex, type Invocation } from './invocations.ts';
import type { JournalRecord } from './record.ts';

/** Longer than any CNI call's runtime timeout (kubelet's is 4 minutes). */
const STALE_NS = 10n * 60n * 1_000_000_000n;
/** Records between two looks for stale invocations. */
const SWEEP_EVERY = 4096;
/** Ended invocations remembered, so that a record of one read after its end is not a new one. */
const DONE_MEMORY = 4096;

export interface FoldOptions {
  /** Is a begun, unended invocation still running (InvocationIndex's `alive`; default: its pid here). */
  readonly alive?: (pid: number, spanId: string, bootId?: string) => boolean;
}

/**
 * Folds records in write order and calls `done` with each invocation once its end is read, or
 * once it went stale. Returns the index holding what never ended (and did not go stale), for
 * the caller to list or to keep following.
 */
export function foldInvocations(records: Iterable<JournalRecord>, done: (inv: Invocation) => void, opts: FoldOptions = {}): InvocationIndex {
  const index = new InvocationIndex(opts.alive);
  const lastNs = new Map<string, bigint>(); // open invocations → their latest record's time
  const ended = new Set<string>();
  let newest = 0n;
  let seen = 0;
  const finish = (id: string): void => {
    lastNs.delete(id);
    done(index.get(id)!);
    index.forget(id);
    ended.add(id);
    if (ended.size > DONE_MEMORY) ended.delete(ended.values().next().value!);
  };
  for (const rec of records) {
    if (ended.has(invocationIdOf(rec))) continue;
    const id = index.add(rec);
    const t = recordTimeNs(rec);
    if (t > newest) newest = t;
    if (rec.rec === 'invocation.end') finish(id);
    else if (t > (lastNs.get(id) ?? -1n)) lastNs.set(id, t);
    if (++seen % SWEEP_EVERY === 0) {
      for (const [open, at] of lastNs) {
        if (newest - at >= STALE_NS) finish(open);
      }
    }
  }
  return index;
}

export interface Gathered {
  readonly inv: Invocation;
  /** Its records, newest first. */
  readonly records: readonly JournalRecord[];
}

/**
 * Invocations from records read newest first, each as soon as its begin is read (so, roughly
 * newest started first). Those whose begin never comes (pruned with an older file, or torn)
 * come when they go stale or when the records run out.
 */
export function* invocationsNewestFirst(records: Iterable<JournalRecord>, opts: FoldOptions = {}): Generator<Gathered> {
  const pending = new Map<string, { records: JournalRecord[]; newestNs: bigint }>();
  const gather = (id: string, recs: JournalRecord[]): Gathered => {
    const index = new InvocationIndex(opts.alive);
    for (const r of recs) index.add(r);
    return { inv: index.get(id)!, records: recs };
  };
  let seen = 0;
  for (const rec of records) {
    const id = invocationIdOf(rec);
    const t = recordTimeNs(rec);
    const p = pending.get(id) ?? { records: [], newestNs: t };
    p.records.push(rec);
    if (rec.rec === 'invocation.begin') {
      pending.delete(id);
      yield gather(id, p.records);
    } else pending.set(id, p);
    if (++seen % SWEEP_EVERY === 0) {
      for (const [open, q] of pending) {
        if (q.newestNs - t < STALE_NS) continue;
        pending.delete(open);
        yield gather(open, q.records);
      }
    }
  }
  for (const [id, p] of pending) yield gather(id, p.records);
}
