/**
 * Reading the journal with positions, for the agent's checkpoint, through the journal's line
 * reader (src/journal/lines.ts). A file is identified by a
 * hash of its first line: stable when the active file is renamed to an archive, and never
 * confused by an inode reused after pruning (each first line holds fresh random ids).
 * Each record comes with its file id and the byte offset of its line, so the agent can say
 * "everything before here is exported" per file.
 */
import { createHash } from 'node:crypto';
import { closeSync, statSync } from 'node:fs';
import { journalFiles, openJournalFile, readAt } from '../journal/files.ts';
import { CHUNK_BYTES, firstLine, isGarbage, LineSplitter, parseRecordLine, type Line } from '../journal/lines.ts';
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

/** The least a poll reads from a file at once, however small its budget. */
const MIN_READ = 64 << 10;

/** The id of a file: sha1 of its first complete line, or null while it has none. */
function firstLineId(path: string): string | null {
  const line = firstLine(path);
  return line ? createHash('sha1').update(line).digest('hex').slice(0, 20) : null;
}

export class JournalSource {
  private readonly dir: string;
  private readonly byId = new Map<string, FileState>();
  private readonly byPath = new Map<string, FileState>();
  private readonly start: Readonly<Record<string, number>>;
  /** Lines that held no whole record. */
  skipped = 0;
  private readonly onSkipped: (file: string, at: number) => void;
  /** The one read buffer (lines are decoded, and a line's unfinished start copied, before the next read). */
  private readonly chunk = Buffer.allocUnsafe(CHUNK_BYTES);

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
      let size: number;
      try { ({ ino, size } = statSync(path)); } catch { continue; }
      let state = this.byPath.get(path);
      // Shorter than what we read of it: truncated in place (the writer never does; a hand
      // edit may), so it is a new file whose lines start at 0, not at our offset.
      if (!state || state.ino !== ino || size < state.offset) {
        const id = firstLineId(path);
        if (!id) continue; // nothing complete yet
        if (state && state.ino === ino && state.id !== id) this.byId.delete(state.id); // truncated: its lines are gone
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
   * A file is read only while it is still the inode we know it by: a rotation may have swapped
   * journal.jsonl since we looked, and reading the new file at the old one's offset would
   * misalign every line. An unfinished last line is left for the next poll.
   */
  poll(budget: number): PositionedRecord[] {
    const out: PositionedRecord[] = [];
    let left = budget;
    for (const state of this.refresh()) {
      if (left <= 0) break;
      const file = openJournalFile(state.path); // not a FIFO, a device or a stranger's file
      if (!file) continue;
      try {
        if (file.st.ino !== state.ino) continue;
        const split = new LineSplitter(state.offset);
        for (;;) {
          if (left <= 0) break;
          const data = readAt(file.fd, split.next, Math.min(CHUNK_BYTES, Math.max(left, MIN_READ)), this.chunk);
          if (data.length === 0) break; // at the end of this file (an unfinished line waits)
          const before = split.consumed;
          for (const line of split.lines(data)) this.emit(state, line, out);
          left -= split.consumed - before;
        }
        state.offset = split.consumed;
      } catch {
        // unreadable now: next poll
      } finally {
        closeSync(file.fd);
      }
    }
    return out;
  }

  private emit(file: FileState, line: Line, out: PositionedRecord[]): void {
    const rec = line.overlong ? null : parseRecordLine(line.text);
    if (rec) out.push({ rec, file: file.id, at: line.at, bytes: line.bytes });
    else if (isGarbage(line)) {
      this.skipped++;
      this.onSkipped(file.path, line.at);
    }
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
