/**
 * The journal writer used on the hot path. Each record is one `write(2)` of one line to
 * `journal.jsonl`, opened O_APPEND, so concurrent wrappers never interleave records (the
 * kernel serialises appends to one inode). Files are 0600 in a 0700 directory. When the
 * active file passes `maxFileBytes` it is renamed to `journal-<epochNs>-<pid>.jsonl` and
 * the oldest archives beyond `maxFiles` are deleted.
 *
 * Tracing never breaks networking: every failure (missing or read-only directory, EACCES,
 * ENOSPC, a short write) turns the journal off for the rest of the call and is reported
 * once through `onDegraded`; `append` never throws.
 */
import { chmodSync, closeSync, constants, fchmodSync, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { epochNs } from '../trace/clock.ts';
import { fitRecord, type JournalRecord } from './record.ts';

export const ACTIVE_FILE = 'journal.jsonl';
export const ARCHIVE_PATTERN = /^journal-(\d+)-(\d+)\.jsonl$/;

export interface JournalOptions {
  readonly dir: string;
  readonly maxFileBytes: number;
  readonly maxFiles: number;
  /** Told once, with a one-line reason, when the journal stops working. */
  readonly onDegraded: (reason: string) => void;
  /** Told when the journal repaired something unsafe it found (a too-open mode). */
  readonly onRepaired?: (what: string) => void;
}

// O_NONBLOCK: open(2) of a FIFO for writing would wait for a reader, hanging the CNI call.
const OPEN_FLAGS = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK; // libuv adds O_CLOEXEC itself

export class Journal {
  private degraded = false;
  private dirReady = false;
  private readonly opts: JournalOptions;

  constructor(opts: JournalOptions) {
    this.opts = opts;
  }

  /** True once a write failed; later appends are skipped. */
  get isDegraded(): boolean { return this.degraded; }

  /** Appends one record as one line. Returns false (and reports once) when it could not. Never throws. */
  append(record: JournalRecord): boolean {
    if (this.degraded) return false;
    try {
      let bytes = Buffer.from(JSON.stringify(record) + '\n');
      if (bytes.length > this.opts.maxFileBytes) bytes = Buffer.from(JSON.stringify(fitRecord(record, this.opts.maxFileBytes)) + '\n');
      this.writeLine(bytes);
      return true;
    } catch (e) {
      this.failed(e);
      return false;
    }
  }

  /**
   * Makes and checks the directory now (once), so that a journal which cannot be written is
   * known before anything is set up for it (nested tracing). False when degraded. Never throws.
   */
  ready(): boolean {
    if (this.degraded) return false;
    try {
      this.prepareDir();
    } catch (e) {
      this.failed(e);
    }
    return !this.degraded;
  }

  private failed(e: unknown): void {
    const err = e as NodeJS.ErrnoException;
    // Stryker disable next-line MethodExpression: the text starts with a word and ends with the error's message
    this.degrade(`cannot write journal in ${this.opts.dir}: ${err.code ?? ''} ${err.message}`.trim());
  }

  /** Turns the journal off for the rest of the call, reporting `reason` (once). */
  degrade(reason: string): void {
    if (this.degraded) return;
    this.degraded = true;
    try {
      this.opts.onDegraded(reason);
    } catch { /* nowhere left to say it (stderr gone): the call goes on untraced all the same */ }
  }

  private prepareDir(): void {
    if (this.dirReady) return;
    ensureDir(this.opts.dir);
    this.checkDir();
    // Stryker disable next-line BooleanLiteral: the directory checked at every append: work only
    this.dirReady = true;
  }

  private writeLine(bytes: Buffer): void {
    this.prepareDir();
    const path = join(this.opts.dir, ACTIVE_FILE);
    // Stryker disable next-line UnaryOperator: the finally closes only after an open succeeded
    let fd = -1;
    try {
      fd = openSync(path, OPEN_FLAGS, 0o600);
      const size = this.checkActive(fd, path);
      if (size > 0 && size + bytes.length > this.opts.maxFileBytes) {
        closeSync(fd);
        // Stryker disable next-line UnaryOperator: the finally closes only after the reopen succeeded
        fd = -1;
        this.rotate(path);
        fd = openSync(path, OPEN_FLAGS, 0o600);
        this.checkActive(fd, path);
      }
      const written = writeSync(fd, bytes);
      if (written !== bytes.length) throw Object.assign(new Error(`short write (${written} of ${bytes.length} bytes)`), { code: 'ENOSPC' });
    } finally {
      if (fd >= 0) closeSync(fd);
    }
  }

  /**
   * What the open gave us must be our own regular file with no other name: a FIFO, a device or
   * a hard link to someone else's file (all plantable while the directory was world-writable)
   * is refused before anything is written or repaired. Returns its size.
   */
  private checkActive(fd: number, path: string): number {
    const st = fstatSync(fd);
    if (!st.isFile()) throw unsafe(`${path} is not a regular file: refused`);
    if (st.nlink > 1) throw unsafe(`${path} has ${st.nlink} links: refused`);
    if (st.uid !== euid()) throw unsafe(`${path} is owned by uid ${st.uid}, not by this process (uid ${euid()}): refused`);
    if ((st.mode & 0o077) !== 0) {
      fchmodSync(fd, 0o600);
      this.opts.onRepaired?.(`${path} was mode ${(st.mode & 0o777).toString(8)}; set to 600`);
    }
    return st.size;
  }

  /**
   * The directory must be a real directory (not a symlink someone planted) owned by us; one
   * readable or writable by others is repaired to 0700. Checked once per process (one lstat).
   */
  private checkDir(): void {
    const st = lstatSync(this.opts.dir);
    if (st.isSymbolicLink()) throw unsafe(`${this.opts.dir} is a symlink: refused (the journal directory must be a real directory)`);
    if (!st.isDirectory()) throw unsafe(`${this.opts.dir} is not a directory: refused`);
    if (st.uid !== euid()) throw unsafe(`${this.opts.dir} is owned by uid ${st.uid}, not by this process (uid ${euid()}): refused`);
    if ((st.mode & 0o077) !== 0) {
      chmodSync(this.opts.dir, 0o700);
      this.opts.onRepaired?.(`${this.opts.dir} was mode ${(st.mode & 0o777).toString(8)}; set to 700`);
    }
  }

  /** Renames the active file away (another wrapper may have done it already) and prunes. */
  private rotate(path: string): void {
    try {
      renameSync(path, join(this.opts.dir, `journal-${epochNs()}-${process.pid}.jsonl`));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    // Only our own regular files count and are deleted: an archive name someone else planted
    // must neither push real archives out nor be deleted through a link.
    const archives = readdirSync(this.opts.dir).filter((f) => ARCHIVE_PATTERN.test(f) && isOwnFile(join(this.opts.dir, f))).sort();
    for (const old of archives.slice(0, Math.max(0, archives.length - this.opts.maxFiles))) {
      try { unlinkSync(join(this.opts.dir, old)); } catch { /* another wrapper pruned it */ }
    }
  }
}

/** A regular file (not followed if a link) owned by this process. */
function isOwnFile(path: string): boolean {
  try {
    const st = lstatSync(path);
    return st.isFile() && st.uid === euid();
  } catch {
    return false;
  }
}

function euid(): number {
  // Stryker disable next-line OptionalChaining: Linux has geteuid
  return process.geteuid?.() ?? 0;
}

/** An error for something the journal refuses to write into. */
function unsafe(message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code: 'EUNSAFE' });
}

/**
 * Creates the journal directory (0700; missing parents 0755). Not `recursive: true` on the
 * directory itself: Node then reports ENOENT for a read-only mount, hiding the real EROFS.
 */
function ensureDir(dir: string): void {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    if (code !== 'ENOENT') throw e;
    mkdirSync(dirname(dir), { recursive: true, mode: 0o755 });
    mkdirSync(dir, { mode: 0o700 });
  }
}
