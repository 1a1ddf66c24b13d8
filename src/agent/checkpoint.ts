/**
 * The agent's checkpoint (docs/decisions.md 10): per journal file, an offset before which every
 * record belongs to an exported invocation, plus the ids of recently exported invocations whose
 * records may lie after it. Saved atomically, only after the collector accepted a batch.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../fs/atomic-write.ts';

export const CHECKPOINT_FILE = 'checkpoint.json';

export interface Checkpoint {
  readonly version: 1;
  /** Journal file id → offset: every record before it is exported. */
  readonly files: Record<string, number>;
  /** Invocations exported whose records may lie past an offset. */
  readonly exported: string[];
}

/** The saved checkpoint, or an empty one (with a warning when one was there but unreadable). */
export function loadCheckpoint(stateDir: string, log: (line: string) => void): Checkpoint {
  try {
    const cp = JSON.parse(readFileSync(join(stateDir, CHECKPOINT_FILE), 'utf8')) as Checkpoint;
    const files: unknown = cp.files;
    // null and lists are objects too: the agent reads the keys of files at start (a crash loop).
    if (cp.version === 1 && typeof files === 'object' && files !== null && !Array.isArray(files) && Array.isArray(cp.exported)) return cp;
    log('warning: checkpoint has an unknown format; starting from the beginning of the journal');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') log(`warning: cannot read checkpoint (${(e as Error).message}); starting from the beginning`);
  }
  return { version: 1, files: {}, exported: [] };
}

/**
 * Per file, where a resumed agent must start: the first record still pending (not exported),
 * else as far as the reader got.
 */
export function resumeOffsets(read: ReadonlyMap<string, number>, pendingAt: ReadonlyMap<string, ReadonlyMap<number, number>>): Record<string, number> {
  const files: Record<string, number> = {};
  for (const [file, readOffset] of read) {
    let first = readOffset;
    for (const at of pendingAt.get(file)?.keys() ?? []) if (at < first) first = at;
    files[file] = first;
  }
  return files;
}

export function writeCheckpoint(stateDir: string, cp: Checkpoint): void {
  writeFileAtomic(join(stateDir, CHECKPOINT_FILE), JSON.stringify(cp), 0o600);
}
