/**
 * Reading the journal's records: forward (write order, file by file), newest first, the newest
 * files only (the TUI's start), and following. Every reader streams the files in fixed-size
 * chunks through lines.ts, so memory does not grow with the journal. A line that is not a whole
 * JSON record of a shape we know — a write torn by a full disk or a killed writer, a record with
 * a field of the wrong type — is counted and skipped; when a torn record is followed on the same
 * line by a whole one, the whole one is recovered. Files are opened through files.ts (never a
 * FIFO, a link or a stranger's file), and each file is read through one descriptor held from
 * open to end, so a file rotated away mid-read is still read whole, never mixed with its
 * successor.
 */
import { closeSync, fstatSync, statSync } from 'node:fs';
import { journalFiles, openJournalFile, type OpenFile } from './files.ts';
import { recordTimeNs } from './identity.ts';
import { CHUNK_BYTES, chunks, firstLine, isGarbage, LineSplitter, linesBackward, linesForward, parseRecordLine, type Line } from './lines.ts';
import type { JournalRecord } from './record.ts';
import { ACTIVE_FILE } from './writer.ts';

export interface ReadStats {
  records: number;
  /** Lines that held no whole record (torn or corrupt). */
  skipped: number;
}

export interface ReadOptions {
  readonly stats?: ReadStats;
  /** Skip files whose records all precede this time (epoch ns): see filesFrom. */
  readonly sinceNs?: bigint;
  readonly chunkBytes?: number;
}

/**
 * How far before `sinceNs` a file's successor must begin for the file to be skipped. A record's
 * time is taken shortly before its write, so write order and time order agree only to within the
 * time a writer takes between the two; a minute covers that with room to spare.
 */
export const SINCE_MARGIN_NS = 60_000_000_000n;

function recordOf(line: Line, stats: ReadStats | undefined): JournalRecord | null {
  const rec = line.overlong ? null : parseRecordLine(line.text);
  if (rec) {
    if (stats) stats.records++;
  } else if (stats && isGarbage(line)) stats.skipped++;
  return rec;
}

function listFiles(dir: string): string[] {
  // Stryker disable next-line ArrayDeclaration: a listed path that does not open is passed over
  try { return journalFiles(dir); } catch { return []; }
}

/** The time of a file's first record, or null when it has none that reads. */
function firstRecordNs(path: string): bigint | null {
  const line = firstLine(path);
  const rec = line ? parseRecordLine(line.toString('utf8')) : null;
  return rec ? recordTimeNs(rec) : null;
}

/**
 * The files (in write order) that may hold records from `sinceNs` on: every record of a file
 * was written before its successor's first, so the files before the newest one whose first
 * record is older than `sinceNs` (less the margin) hold nothing newer.
 */
export function filesFrom(files: readonly string[], sinceNs: bigint | undefined): string[] {
  if (sinceNs === undefined) return [...files];
  for (let i = files.length - 1; i > 0; i--) {
    const first = firstRecordNs(files[i]!);
    if (first !== null && first < sinceNs - SINCE_MARGIN_NS) return files.slice(i);
  }
  return [...files];
}

/**
 * Opens the active file first, so that a rotation during the read cannot hide it behind an
 * archive name not yet listed; archives (whose names are never reused) are opened when reached.
 */
function openInTurn(files: readonly string[]): { open: (path: string) => OpenFile | null; close: () => void } {
  const active = files.find((f) => f.endsWith(`/${ACTIVE_FILE}`));
  let held = active ? openJournalFile(active) : null;
  return {
    open: (path) => {
      if (path !== active) return openJournalFile(path);
      const f = held;
      held = null;
      return f;
    },
    close: () => { if (held) closeSync(held.fd); },
  };
}

/** Every record in the directory, in write order, streamed. */
export function* journalRecords(dir: string, opts: ReadOptions = {}): Generator<JournalRecord> {
  const files = filesFrom(listFiles(dir), opts.sinceNs);
  const turn = openInTurn(files);
  try {
    for (const path of files) {
      const file = turn.open(path);
      if (!file) continue;
      try {
        // The size now, not at open: the active file may have grown (or been rotated) since.
        const size = fstatSize(file);
        // Stryker disable next-line LogicalOperator: undefined takes the same default; the chunk size changes no line
        for (const line of linesForward(file.fd, 0, size, opts.chunkBytes ?? CHUNK_BYTES)) {
          const rec = recordOf(line, opts.stats);
          if (rec) yield rec;
        }
      } finally {
        closeSync(file.fd);
      }
    }
  } finally {
    turn.close();
  }
}

function fstatSize(file: OpenFile): number {
  try { return fstatSync(file.fd).size; } catch { return file.st.size; }
}

/** Every record in the directory, in write order (tests and small tools; views stream journalRecords). */
// Stryker disable next-line ObjectLiteral: default counts nobody reads
export function readJournal(dir: string, stats: ReadStats = { records: 0, skipped: 0 }): JournalRecord[] {
  return [...journalRecords(dir, { stats })];
}

/**
 * Every record, newest first: the active file from its end, then each archive from its end.
 * Stop iterating and nothing older is read. A newest line without "\n" is parsed like any
 * other: a torn one is counted and skipped.
 */
export function* recordsNewestFirst(dir: string, opts: Omit<ReadOptions, 'sinceNs'> = {}): Generator<JournalRecord> {
  const files = listFiles(dir).reverse();
  for (const path of files) {
    const file = openJournalFile(path);
    if (!file) continue;
    try {
      // Stryker disable next-line LogicalOperator: undefined takes the same default; the chunk size changes no line
      for (const line of linesBackward(file.fd, file.st.size, opts.chunkBytes ?? CHUNK_BYTES)) {
        const rec = recordOf(line, opts.stats);
        if (rec) yield rec;
      }
    } finally {
      closeSync(file.fd);
    }
  }
}

const BEGIN_MARK = '"rec":"invocation.begin"';

/**
 * The records of the newest journal files that together hold at least `invocations`
 * invocation begins, in write order, streamed: the start of a view over a long journal costs
 * what it shows, not the journal's size. Records of an invocation that began in an older file
 * come without their begin. Returns how many lines were skipped.
 */
export function readJournalTail(dir: string, invocations: number, onRecord: (rec: JournalRecord) => void): number {
  const files = listFiles(dir);
  const chosen: OpenFile[] = [];
  try {
    for (let i = files.length - 1, begins = 0; i >= 0 && begins < invocations; i--) {
      const file = openJournalFile(files[i]!);
      if (!file) continue;
      chosen.unshift(file);
      for (const data of chunks(file.fd, 0, file.st.size)) begins += data.toString('latin1').split(BEGIN_MARK).length - 1;
    }
    const stats: ReadStats = { records: 0, skipped: 0 };
    for (const file of chosen) for (const line of linesForward(file.fd, 0, file.st.size)) {
      const rec = recordOf(line, stats);
      if (rec) onRecord(rec);
    }
    return stats.skipped;
  } finally {
    for (const file of chosen) closeSync(file.fd);
  }
}

export interface FollowOptions {
  readonly dir: string;
  /** Poll interval in ms (default 200). */
  readonly intervalMs?: number;
  /** Start at the current end of every file instead of the beginning. */
  readonly fromEnd?: boolean;
  readonly onRecord: (rec: JournalRecord) => void;
  readonly onSkipped?: (line: string) => void;
}

/**
 * Follows the directory: new records within one poll interval, across rotation. Archives
 * are known by name (their names are never reused); the active file by inode, and when it
 * is renamed to an archive its read position moves with it. Inodes alone would not do: a
 * new journal.jsonl may get the inode of an archive pruned a moment before.
 * Returns a stop function.
 */
export function followJournal(opts: FollowOptions): () => void {
  interface Position { split: LineSplitter }
  const archives = new Map<string, Position>();
  /** Active files we read, by inode, until they show up under an archive name. */
  const retired = new Map<number, Position>();
  let active: { ino: number; pos: Position } | null = null;
  let first = true;
  const fresh = (path: string): Position => ({ split: new LineSplitter(first && opts.fromEnd ? sizeOf(path) : 0) });
  const drain = (path: string, pos: Position, ino: number): void => {
    const file = openJournalFile(path);
    if (!file) return;
    try {
      if (file.st.ino !== ino) return; // renamed or replaced since we looked: next poll
      for (const data of chunks(file.fd, pos.split.next, file.st.size)) {
        for (const line of pos.split.lines(data)) {
          const rec = line.overlong ? null : parseRecordLine(line.text);
          if (rec) opts.onRecord(rec);
          else if (isGarbage(line)) opts.onSkipped?.(line.text);
        }
      }
    } catch {
      // an unreadable file: next poll
    } finally {
      closeSync(file.fd);
    }
  };
  const poll = (): void => {
    const names = new Set<string>();
    for (const path of listFiles(opts.dir)) {
      const ino = inodeOf(path);
      if (ino < 0) continue;
      if (path.endsWith(`/${ACTIVE_FILE}`)) {
        if (active?.ino !== ino) {
          if (active) retired.set(active.ino, active.pos);
          active = { ino, pos: fresh(path) };
        }
        drain(path, active.pos, ino);
        continue;
      }
      names.add(path);
      let pos = archives.get(path);
      if (!pos) {
        const handed = active?.ino === ino ? active.pos : retired.get(ino);
        if (active?.ino === ino) active = null;
        retired.delete(ino);
        pos = handed ?? fresh(path);
        archives.set(path, pos);
      }
      drain(path, pos, ino);
    }
    for (const path of archives.keys()) if (!names.has(path)) archives.delete(path);
    if (retired.size > 16) retired.clear(); // pruned before we saw their archive name
    first = false;
  };
  poll();
  const timer = setInterval(poll, opts.intervalMs ?? 200);
  return () => clearInterval(timer);
}

function inodeOf(path: string): number {
  try { return statSync(path).ino; } catch { return -1; }
}

function sizeOf(path: string): number {
  try { return statSync(path).size; } catch { return 0; }
}
