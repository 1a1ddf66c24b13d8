/**
 * Reading the journal: every file in the directory (archives oldest first, then the active
 * file), line by line. A line that is not a whole JSON record of a shape we know — a write
 * torn by a full disk or a killed writer, a record with a field of the wrong type — is
 * counted and skipped; when a torn record is followed on the same line by a whole one, the
 * whole one is recovered. A file that is not a regular file, or not owned by root or by us
 * (planted while the directory was open to others), is never read: see openJournalFile.
 */
import { closeSync, constants, fstatSync, openSync, readdirSync, readSync, statSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { JournalRecord } from './record.ts';
import { asRecord } from './record-schema.ts';
import { ACTIVE_FILE, ARCHIVE_PATTERN } from './writer.ts';

/** Journal files in write order. */
export function journalFiles(dir: string): string[] {
  const names = readdirSync(dir);
  const archives = names.filter((n) => ARCHIVE_PATTERN.test(n)).sort();
  return [...archives, ...(names.includes(ACTIVE_FILE) ? [ACTIVE_FILE] : [])].map((n) => join(dir, n));
}

const RECORD_START = '{"rec":"';

/** Parses one line; returns null for a line holding no whole record. */
export function parseRecordLine(line: string): JournalRecord | null {
  if (line.trim() === '') return null;
  const whole = tryParse(line);
  if (whole) return whole;
  // A torn record followed by a whole one: the whole one starts at the last record marker.
  const at = line.lastIndexOf(RECORD_START);
  return at > 0 ? tryParse(line.slice(at)) : null;
}

function tryParse(text: string): JournalRecord | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null; // not JSON, or nested deeper than the parser's stack
  }
  return asRecord(v);
}

// O_NONBLOCK: opening a FIFO would wait for a writer; O_NOFOLLOW: a planted link is not ours.
const READ_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW;

/** Journal files refused in this process, with why; each is reported once. */
const refused = new Map<string, string>();
let reportRefused: ((path: string, why: string) => void) | null = null;

/** Who hears, once per file, that a journal file was refused (the CLI prints it on stderr). */
export function onRefusedFile(report: ((path: string, why: string) => void) | null): void {
  reportRefused = report;
}

/** The journal files refused so far, path → why. */
export function refusedFiles(): ReadonlyMap<string, string> {
  return refused;
}

function refuse(path: string, why: string): null {
  if (!refused.has(path)) {
    refused.set(path, why);
    reportRefused?.(path, why);
  }
  return null;
}

/**
 * Opens a journal file for reading if it is one the writer could have made: a regular file
 * (not a FIFO, which would hang a blocking read, nor a device, nor a symlink) owned by root or
 * by this reader. Returns null for anything else (noted in refusedFiles) or a file gone.
 */
export function openJournalFile(path: string): { fd: number; st: Stats } | null {
  let fd: number;
  try {
    fd = openSync(path, READ_FLAGS);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ELOOP' ? refuse(path, 'a symlink') : null;
  }
  const st = fstatSync(fd);
  const me = process.geteuid?.() ?? 0;
  const why = !st.isFile() ? 'not a regular file' : st.uid !== 0 && st.uid !== me ? `owned by uid ${st.uid}, not by root or this reader` : null;
  if (why === null) return { fd, st };
  closeSync(fd);
  return refuse(path, why);
}

export interface ReadStats {
  records: number;
  /** Lines that held no whole record (torn or corrupt). */
  skipped: number;
}

/** Reads every record in the directory, in write order per file. */
export function readJournal(dir: string, stats: ReadStats = { records: 0, skipped: 0 }): JournalRecord[] {
  const out: JournalRecord[] = [];
  let files: string[];
  try {
    files = journalFiles(dir);
  } catch {
    return out;
  }
  for (const file of files) {
    const tail = new LineSplitter();
    const chunk = readFrom(file, 0);
    for (const line of tail.push(chunk.data)) pushLine(line, out, stats);
    // A last line without "\n" is a record still being written or one torn for good.
    const rest = tail.rest();
    if (rest) pushLine(rest, out, stats);
  }
  return out;
}

function pushLine(line: string, out: JournalRecord[], stats: ReadStats): void {
  const rec = parseRecordLine(line);
  if (rec) {
    out.push(rec);
    stats.records++;
  } else if (line.trim() !== '') {
    stats.skipped++;
  }
}

/** Reads a file from `offset` to its end (or `max` bytes); returns the bytes and the file's identity. */
export function readFrom(path: string, offset: number, max = Infinity): { data: Buffer; ino: number; size: number } {
  const file = openJournalFile(path);
  if (!file) return { data: Buffer.alloc(0), ino: -1, size: 0 };
  const { fd, st } = file;
  try {
    const size = st.size;
    if (size <= offset) return { data: Buffer.alloc(0), ino: st.ino, size };
    const data = Buffer.allocUnsafe(Math.min(size - offset, max));
    let got = 0;
    while (got < data.length) {
      const n = readSync(fd, data, got, data.length - got, offset + got);
      if (n === 0) break;
      got += n;
    }
    return { data: data.subarray(0, got), ino: st.ino, size };
  } catch {
    return { data: Buffer.alloc(0), ino: -1, size: 0 };
  } finally {
    closeSync(fd);
  }
}

/** Splits a byte stream into complete lines, keeping an unfinished last line for later. */
export class LineSplitter {
  private pending = '';
  // Keeps a multi-byte character that a read split in two until its other half arrives.
  private readonly decoder = new StringDecoder('utf8');
  push(data: Buffer): string[] {
    if (data.length === 0) return [];
    const text = this.pending + this.decoder.write(data);
    const lines = text.split('\n');
    this.pending = lines.pop() ?? '';
    return lines;
  }
  rest(): string {
    const r = this.pending + this.decoder.end();
    this.pending = '';
    return r;
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
  interface Position { offset: number; split: LineSplitter }
  const archives = new Map<string, Position>();
  /** Active files we read, by inode, until they show up under an archive name. */
  const retired = new Map<number, Position>();
  let active: { ino: number; pos: Position } | null = null;
  let first = true;
  const fresh = (path: string): Position => ({ offset: first && opts.fromEnd ? sizeOf(path) : 0, split: new LineSplitter() });
  const drain = (path: string, pos: Position, ino: number): void => {
    const chunk = readFrom(path, pos.offset);
    if (chunk.ino !== ino) return; // renamed or replaced since we looked: next poll
    pos.offset += chunk.data.length;
    for (const line of pos.split.push(chunk.data)) {
      const rec = parseRecordLine(line);
      if (rec) opts.onRecord(rec);
      else if (line.trim() !== '') opts.onSkipped?.(line);
    }
  };
  const poll = (): void => {
    let files: string[] = [];
    try { files = journalFiles(opts.dir); } catch { /* not there yet */ }
    const names = new Set<string>();
    for (const path of files) {
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

const BEGIN_MARK = '"rec":"invocation.begin"';
const TAIL_CHUNK = 1 << 20;

/** Calls `each` with every chunk of a file, 1 MiB at a time (no whole-file buffer). */
function eachChunk(path: string, each: (chunk: Buffer) => void): void {
  for (let offset = 0; ;) {
    const { data } = readFrom(path, offset, TAIL_CHUNK);
    if (data.length === 0) return;
    each(data);
    offset += data.length;
    if (data.length < TAIL_CHUNK) return;
  }
}

/**
 * The records of the newest journal files that together hold at least `invocations`
 * invocation begins, in write order, streamed in 1 MiB pieces: the start of a view over a
 * long journal costs what it shows, not the journal's size. Records of an invocation that
 * began in an older file come without their begin. Returns how many lines were skipped.
 */
export function readJournalTail(dir: string, invocations: number, onRecord: (rec: JournalRecord) => void): number {
  let files: string[];
  try { files = journalFiles(dir); } catch { return 0; }
  let from = files.length;
  for (let begins = 0; from > 0 && begins < invocations;) {
    from--;
    eachChunk(files[from]!, (chunk) => { begins += chunk.toString('latin1').split(BEGIN_MARK).length - 1; });
  }
  let skipped = 0;
  for (const file of files.slice(from)) {
    const split = new LineSplitter();
    const take = (line: string): void => {
      const rec = parseRecordLine(line);
      if (rec) onRecord(rec);
      else if (line.trim() !== '') skipped++;
    };
    eachChunk(file, (chunk) => { for (const line of split.push(chunk)) take(line); });
    const rest = split.rest();
    if (rest) take(rest);
  }
  return skipped;
}
