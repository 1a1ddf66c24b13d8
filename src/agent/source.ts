/**
 * Reading the journal with positions, for the agent's checkpoint. A file is identified by a
 * hash of its first line: stable when the active file is renamed to an archive, and never
 * confused by an inode reused after pruning (each first line holds fresh random ids).
 * Each record comes with its file id and the byte offset of its line, so the agent can say
 * "everything before here is exported" per file.
 */
import { createHash } from 'node:crypto';
import { closeSync, readSync, statSync } from 'node:fs';
import { journalFiles, openJournalFile, parseRecordLine } from '../journal/reader.ts';
import type { JournalRecord } from '../journal/record.ts';

export interface PositionedRecord {
  readonly rec: JournalRecord;
  readonly file: string;
  /** Byte offset of the record's line in its file. */
  readonly at: number;
  /** The line's length in bytes. */
  readonly bytes: number;
}

interface FileState {
  readonly id: string;
  path: string;
  ino: number;
  /** Bytes consumed: the end of the last complete line handed out. */
  offset: number;
  /** Polls since the file was last listed (a rename can hide it from one listing). */
  unseen: number;
}

/** How many polls a file may be missing before its position is forgotten (it was pruned). */
const FORGET_AFTER_POLLS = 20;

const READ_CHUNK = 1 << 20;

/**
 * Reads at most `max` bytes of a file from `offset` — only if the file at `path` is still
 * inode `ino` (when given): a rotation may have swapped journal.jsonl since we looked, and
 * reading the new file at the old one's offset would misalign every line.
 */
function readChunk(path: string, offset: number, max: number, ino?: number): Buffer {
  const file = openJournalFile(path); // not a FIFO, a device or a stranger's file
  if (!file) return Buffer.alloc(0);
  try {
    if (ino !== undefined && file.st.ino !== ino) return Buffer.alloc(0);
    const buf = Buffer.allocUnsafe(max);
    const n = readSync(file.fd, buf, 0, max, offset);
    return buf.subarray(0, n);
  } catch {
    return Buffer.alloc(0);
  } finally {
    closeSync(file.fd);
  }
}

/** The id of a file: sha1 of its first complete line, or null while it has none. */
function firstLineId(path: string): string | null {
  for (let size = 4096; size <= 64 << 20; size *= 4) {
    const head = readChunk(path, 0, size);
    const nl = head.indexOf(0x0a);
    if (nl >= 0) return createHash('sha1').update(head.subarray(0, nl)).digest('hex').slice(0, 20);
    if (head.length < size) return null;
  }
  return null;
}

export class JournalSource {
  private readonly dir: string;
  private readonly byId = new Map<string, FileState>();
  private readonly byPath = new Map<string, FileState>();
  private readonly start: Readonly<Record<string, number>>;
  /** Lines that held no whole record. */
  skipped = 0;
  private readonly onSkipped: (file: string, at: number) => void;

  /** `start`: file id → offset to resume from (the checkpoint); other files start at 0. */
  constructor(dir: string, start: Readonly<Record<string, number>>, onSkipped: (file: string, at: number) => void) {
    this.dir = dir;
    this.start = start;
    this.onSkipped = onSkipped;
  }

  /** Files currently in the directory, in write order, with their ids. */
  private refresh(): FileState[] {
    let paths: string[];
    try { paths = journalFiles(this.dir); } catch { return []; }
    const out: FileState[] = [];
    const present = new Set<string>();
    for (const path of paths) {
      let ino: number;
      try { ino = statSync(path).ino; } catch { continue; }
      let state = this.byPath.get(path);
      if (!state || state.ino !== ino) {
        const id = firstLineId(path);
        if (!id) continue; // nothing complete yet
        state = this.byId.get(id) ?? { id, path, ino, offset: this.start[id] ?? 0, unseen: 0 };
        state.path = path;
        state.ino = ino;
        this.byId.set(id, state);
        this.byPath.set(path, state);
      }
      state.unseen = 0;
      present.add(state.id);
      out.push(state);
    }
    for (const [path, s] of this.byPath) if (!present.has(s.id) || s.path !== path) this.byPath.delete(path);
    for (const [id, s] of this.byId) if (!present.has(id) && ++s.unseen > FORGET_AFTER_POLLS) this.byId.delete(id);
    return out;
  }

  /**
   * Reads new complete lines, at most about `budget` bytes in all, strictly in file order:
   * a later file is read only once every earlier one is read to its end, so an invocation's
   * records (which rotation may split across files) arrive in the order they were written.
   */
  poll(budget: number): PositionedRecord[] {
    const out: PositionedRecord[] = [];
    let left = budget;
    for (const file of this.refresh()) {
      for (;;) {
        if (left <= 0) return out;
        const want = Math.min(READ_CHUNK, Math.max(left, 64 << 10));
        const chunk = readChunk(file.path, file.offset, want, file.ino);
        const last = chunk.lastIndexOf(0x0a);
        if (last < 0) {
          // A line longer than the chunk, or an unfinished last line: try one big read.
          if (chunk.length < want || !this.longLine(file, out)) break;
          continue;
        }
        this.emit(file, chunk.subarray(0, last + 1), out);
        left -= last + 1;
        if (chunk.length < want) break; // at the end of this file
      }
    }
    return out;
  }

  private longLine(file: FileState, out: PositionedRecord[]): boolean {
    const big = readChunk(file.path, file.offset, 64 << 20, file.ino);
    const nl = big.indexOf(0x0a);
    if (nl < 0) return false;
    this.emit(file, big.subarray(0, nl + 1), out);
    return true;
  }

  private emit(file: FileState, lines: Buffer, out: PositionedRecord[]): void {
    let pos = 0;
    while (pos < lines.length) {
      const nl = lines.indexOf(0x0a, pos);
      const at = file.offset + pos;
      const rec = parseRecordLine(lines.subarray(pos, nl).toString('utf8'));
      if (rec) out.push({ rec, file: file.id, at, bytes: nl + 1 - pos });
      else if (nl > pos) {
        this.skipped++;
        this.onSkipped(file.path, at);
      }
      pos = nl + 1;
    }
    file.offset += lines.length;
  }

  /** File id → bytes consumed, for every file present now. */
  offsets(): Map<string, number> {
    return new Map([...this.byId.values()].map((s) => [s.id, s.offset]));
  }

  /** Bytes not yet read across the journal: how far behind the reader is. */
  backlogBytes(): number {
    let total = 0;
    for (const s of this.byId.values()) {
      try { total += Math.max(0, statSync(s.path).size - s.offset); } catch { /* pruned */ }
    }
    return total;
  }
}
