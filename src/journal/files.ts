/**
 * The journal's files: which there are, in write order, and opening one safely. A file that is
 * not a regular file, or not owned by root or by us (planted while the directory was open to
 * others), is never read.
 */
import { closeSync, constants, fstatSync, openSync, readdirSync, readSync, statSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { ACTIVE_FILE, ARCHIVE_PATTERN } from './writer.ts';

/** Journal files in write order: archives oldest first, then the active file. */
export function journalFiles(dir: string): string[] {
  const names = readdirSync(dir);
  const archives = names.filter((n) => ARCHIVE_PATTERN.test(n)).sort();
  return [...archives, ...(names.includes(ACTIVE_FILE) ? [ACTIVE_FILE] : [])].map((n) => join(dir, n));
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

export interface OpenFile {
  readonly fd: number;
  /** Taken at open: readers read up to st.size, so a file growing meanwhile is read as it was. */
  readonly st: Stats;
}

/**
 * Opens a journal file for reading if it is one the writer could have made: a regular file
 * (not a FIFO, which would hang a blocking read, nor a device, nor a symlink) owned by root or
 * by this reader. Returns null for anything else (noted in refusedFiles) or a file gone.
 */
export function openJournalFile(path: string): OpenFile | null {
  let fd: number;
  try {
    fd = openSync(path, READ_FLAGS);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ELOOP' ? refuse(path, 'a symlink') : null;
  }
  const st = fstatSync(fd);
  // Stryker disable next-line OptionalChaining: Linux has geteuid
  const me = process.geteuid?.() ?? 0;
  const why = !st.isFile() ? 'not a regular file' : st.uid !== 0 && st.uid !== me ? `owned by uid ${st.uid}, not by root or this reader` : null;
  if (why === null) return { fd, st };
  closeSync(fd);
  return refuse(path, why);
}

/**
 * Reads up to `length` bytes at `offset` (fewer at the end of the file), into `into` when given
 * (a reader's one chunk buffer, reused: what it returns is valid until the next read).
 */
export function readAt(fd: number, offset: number, length: number, into?: Buffer): Buffer {
  const buf = into && into.length >= length ? into : Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, got, length - got, offset + got);
    if (n === 0) break;
    got += n;
  }
  return buf.subarray(0, got);
}

/** Why a reader cannot read the journal at all, for one loud line instead of an empty answer. */
export type JournalAccess = { readonly problem: 'absent' | 'not-a-directory' | 'denied'; readonly path: string } | null;

/**
 * Can this process read the journal in `dir`: the directory, its listing and every journal
 * file in it? A root-only journal read by another user would otherwise read as empty (each
 * file refused quietly), and "no invocations" is a wrong answer, not an error.
 */
export function journalAccess(dir: string): JournalAccess {
  try {
    if (!statSync(dir).isDirectory()) return { problem: 'not-a-directory', path: dir };
  } catch (e) {
    return { problem: isDenied(e) ? 'denied' : 'absent', path: dir };
  }
  let files: string[];
  try {
    files = journalFiles(dir);
  } catch {
    return { problem: 'denied', path: dir };
  }
  for (const path of files) {
    try {
      closeSync(openSync(path, READ_FLAGS));
    } catch (e) {
      if (isDenied(e)) return { problem: 'denied', path };
    }
  }
  return null;
}

/** An error for want of permission (Linux's stat and open say EACCES; EPERM for other systems). */
function isDenied(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'EACCES' ||
    // Stryker disable next-line StringLiteral: on Linux, stat and open never fail EPERM for want of permission
    code === 'EPERM';
}
