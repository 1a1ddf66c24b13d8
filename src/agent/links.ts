/**
 * A DEL's link to the ADD it undoes: the latest ADD per container and interface, remembered
 * up to LINK_MEMORY of them, also across a restart (the ADDs before the checkpoint are scanned).
 */
import type { JournalRecord } from '../journal/record.ts';
import { JournalSource } from './source.ts';

const LINK_MEMORY = 20_000;

export interface SpanRef { readonly traceId: string; readonly spanId: string }

export class AddLinks {
  private readonly adds = new Map<string, SpanRef>();

  /** Notes an ADD's begin; for a DEL's begin, returns the ADD it undoes (if known). */
  see(rec: JournalRecord): SpanRef | undefined {
    if (rec.rec !== 'invocation.begin') return undefined;
    const key = `${rec.containerId}/${rec.ifname}`;
    if (rec.command === 'DEL') return this.adds.get(key);
    if (rec.command === 'ADD') {
      this.adds.delete(key);
      this.adds.set(key, { traceId: rec.traceId, spanId: rec.spanId });
      if (this.adds.size > LINK_MEMORY) this.adds.delete(this.adds.keys().next().value!);
    }
    return undefined;
  }

  /**
   * Learns the ADDs recorded before the checkpoint (ingest sees the rest), so a DEL after a
   * restart still links to its ADD. Streams the files: memory stays flat however long the
   * journal is.
   */
  scan(journal: string, until: Readonly<Record<string, number>>): void {
    const scan = new JournalSource(journal, {}, () => {});
    for (;;) {
      const batch = scan.poll(1 << 20);
      if (batch.length === 0) return;
      for (const { rec, file, at } of batch) {
        if (at < (until[file] ?? 0) && rec.rec === 'invocation.begin' && rec.command === 'ADD') this.see(rec);
      }
      if (batch.every(({ file, at }) => at >= (until[file] ?? 0))) return;
    }
  }
}
