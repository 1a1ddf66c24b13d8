/**
 * The journal as the TUI's feed: its recent history, then each record as it is written, and
 * which unfinished invocations' wrappers are gone. No React here: use-journal.ts is the hook
 * that turns a feed into actions.
 */
import { invocationIdOf } from '../src/journal/identity.ts';
import { processAlive } from '../src/journal/invocations.ts';
import { followJournal, readJournalTail } from '../src/journal/reader.ts';
import type { InvocationBegin, JournalRecord } from '../src/journal/record.ts';

/** Where a feed sends what it learns. */
export interface FeedSink {
  /** `horizonMs`: invocations that started before this (epoch ms) were left out. */
  readonly records: (batch: readonly JournalRecord[], horizonMs?: number) => void;
  /** Invocations that began, did not end, and whose wrapper is no longer running. */
  readonly gone: (spanIds: readonly string[]) => void;
}

/** Starts delivering to `sink`; returns a function that stops it. */
export type Feed = (sink: FeedSink) => () => void;

export interface JournalFeedOptions {
  readonly dir: string;
  /** Finished invocations of the history to start with (every running one comes too). */
  readonly last: number;
  /** Is this wrapper pid still running? Default: it exists on this host. */
  readonly alive?: (pid: number, bootId?: string) => boolean;
  /** How often running wrappers are checked (ms, default 1000). */
  readonly livenessMs?: number;
}

/**
 * The journal in `dir` as a feed: first the last `last` invocations and every running one
 * among them, in one batch, then each record as it is written, across rotation. Following
 * starts at the files' current ends before the history is read, so nothing written in
 * between is lost (a record in both is folded once: the reducer replaces a record read
 * twice). The history reads only the newest files that hold `last` invocations
 * (readJournalTail), so a long journal costs the start-up what is shown, not its size.
 */
export function journalFeed(opts: JournalFeedOptions): Feed {
  const alive = opts.alive ?? processAlive;
  return (sink) => {
    const unfinished = new Map<string, [pid: number, bootId: string | undefined]>(); // invocation span id → its wrapper
    const track = (rec: JournalRecord): void => {
      if (rec.rec === 'invocation.begin') unfinished.set(rec.spanId, [rec.pid, rec.bootId]);
      else if (rec.rec === 'invocation.end') unfinished.delete(rec.spanId);
    };
    const stop = followJournal({
      dir: opts.dir,
      intervalMs: 100,
      fromEnd: true,
      onRecord: (rec) => {
        track(rec);
        sink.records([rec]);
      },
    });
    const history = recentHistory(opts.last, (begin) => alive(begin.pid, begin.bootId));
    readJournalTail(opts.dir, opts.last, (rec) => history.add(rec));
    const past = history.result();
    // An invocation that began in a file older than those read has no begin here: leave it out.
    const begun = new Set(past.records.filter((r) => r.rec === 'invocation.begin').map(invocationIdOf));
    const records = past.records.filter((r) => begun.has(invocationIdOf(r)));
    for (const rec of records) track(rec);
    sink.records(records, past.horizonMs);
    const probe = (): void => {
      const dead = [...unfinished].filter(([, [pid, boot]]) => !alive(pid, boot)).map(([id]) => id);
      for (const id of dead) unfinished.delete(id);
      if (dead.length > 0) sink.gone(dead);
    };
    probe();
    const timer = setInterval(probe, opts.livenessMs ?? 1000);
    return () => {
      stop();
      clearInterval(timer);
    };
  };
}

/** The history as it is read, keeping only what will be shown. */
export interface History {
  readonly add: (rec: JournalRecord) => void;
  /**
   * The records kept, invocation by invocation in the order first seen; `horizonMs` is the
   * latest start (epoch ms) of an invocation left out, -Infinity for none.
   */
  readonly result: () => { records: JournalRecord[]; horizonMs: number };
}

/**
 * A history keeping the last `last` invocations first seen and every one `running` says runs:
 * memory stays bounded (about twice `last` invocations) however long the journal is. The
 * records of an invocation left out are dropped, also those that come after.
 */
export function recentHistory(last: number, running: (begin: InvocationBegin) => boolean): History {
  const byId = new Map<string, JournalRecord[]>();
  const leftOut = new Set<string>();
  let horizonMs = -Infinity;
  const trim = (): void => {
    let excess = byId.size - last;
    for (const [id, recs] of byId) {
      if (excess-- <= 0) return;
      const begin = recs.find((r) => r.rec === 'invocation.begin');
      if (begin && !recs.some((r) => r.rec === 'invocation.end') && running(begin)) continue;
      byId.delete(id);
      leftOut.add(id);
      if (begin) horizonMs = Math.max(horizonMs, Number(BigInt(begin.startNs) / 1_000_000n));
    }
  };
  return {
    add: (rec) => {
      const id = invocationIdOf(rec);
      if (leftOut.has(id)) return;
      const recs = byId.get(id);
      if (recs) recs.push(rec);
      else byId.set(id, [rec]);
      if (byId.size > 2 * last + 100) trim();
    },
    result: () => {
      trim();
      return { records: [...byId.values()].flat(), horizonMs };
    },
  };
}
