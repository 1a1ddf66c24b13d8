/**
 * Records into the state. A Feed (journal-feed.ts) delivers the journal's records, and which
 * unfinished invocations' wrappers are gone; useJournal batches what arrives and dispatches at
 * most once per `batchMs`, so a node doing hundreds of invocations a second costs ten renders a
 * second, not one per record.
 */
import { useEffect } from 'react';
import type { JournalRecord } from '../src/journal/record.ts';
import type { Feed } from './journal-feed.ts';
import type { Action } from './state.ts';

/**
 * Subscribes to `feed` while mounted and dispatches what it delivers: the first batch at
 * once, then at most one `records` (and one `wrappers-gone`) action per `batchMs`.
 */
export function useJournal(feed: Feed, dispatch: (action: Action) => void, batchMs: number): void {
  useEffect(() => {
    let records: JournalRecord[] = [];
    let horizonMs = -Infinity;
    let gone: string[] = [];
    let lastFlush = -Infinity;
    let timer: NodeJS.Timeout | undefined;
    const flush = (): void => {
      timer = undefined;
      lastFlush = Date.now();
      if (records.length > 0) dispatch({ type: 'records', records, horizonMs });
      if (gone.length > 0) dispatch({ type: 'wrappers-gone', spanIds: gone });
      records = [];
      horizonMs = -Infinity;
      gone = [];
    };
    const schedule = (): void => {
      if (timer) return;
      const wait = lastFlush + batchMs - Date.now();
      if (wait <= 0) flush();
      else timer = setTimeout(flush, wait);
    };
    const stop = feed({
      records: (batch, horizon = -Infinity) => {
        for (const rec of batch) records.push(rec);
        horizonMs = Math.max(horizonMs, horizon);
        schedule();
      },
      gone: (spanIds) => {
        for (const id of spanIds) gone.push(id);
        schedule();
      },
    });
    return () => {
      stop();
      clearTimeout(timer);
    };
  }, [feed, dispatch, batchMs]);
}
