/**
 * Atomic file replacement (temp file in the same directory, fsync, rename), because runtimes
 * watch /etc/cni/net.d and must never read a half-written conflist. The temp name starts
 * with "." and ends in ".tmp", so no runtime mistakes it for a config (libcni loads only
 * .conf, .conflist and .json).
 */
import { chmodSync, closeSync, copyFileSync, fchmodSync, fsyncSync, openSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** Replaces `path` with `data`; keeps the old file's mode when it had one (else `mode`). */
export function writeFileAtomic(path: string, data: string | Buffer, mode = 0o644): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const keepMode = statSync(path, { throwIfNoEntry: false })?.mode;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    // Explicitly, not through open(2): the umask would trim a kept 0664 to 0644.
    fchmodSync(fd, keepMode !== undefined ? keepMode & 0o7777 : mode);
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(tmp);
    throw e;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (e) {
    unlinkSync(tmp);
    throw e;
  }
}

/**
 * Replaces `path` with a copy of `src` (mode `mode`): a runtime exec'ing the old file keeps
 * running it, and no exec ever sees a half-written one (nor gets "text file busy").
 */
export function copyFileAtomic(src: string, path: string, mode = 0o755): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    copyFileSync(src, tmp);
    chmodSync(tmp, mode);
    const fd = openSync(tmp, 'r');
    try { fsyncSync(fd); } finally { closeSync(fd); }
    renameSync(tmp, path);
  } catch (e) {
    try { unlinkSync(tmp); } catch { /* never created */ }
    throw e;
  }
}
