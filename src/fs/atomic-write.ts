/**
 * Atomic file replacement (temp file in the same directory, fsync, rename), because runtimes
 * watch /etc/cni/net.d and must never read a half-written conflist. The temp name starts
 * with "." and ends in ".tmp", so no runtime mistakes it for a config (libcni loads only
 * .conf, .conflist and .json). It is random and created O_EXCL|O_NOFOLLOW: a name planted in
 * advance (a symlink to a file elsewhere) makes the write fail, never write through it.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, copyFileSync, fchmodSync, fsyncSync, openSync, renameSync, statSync, symlinkSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** A fresh, unguessable temp name beside `path`. */
function tempName(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
}

/** Renames `tmp` over `path`, removing `tmp` when anything fails. */
function commit(tmp: string, path: string, prepare: () => void): void {
  try {
    prepare();
    renameSync(tmp, path);
  } catch (e) {
    try { unlinkSync(tmp); } catch { /* never created */ }
    throw e;
  }
}

/** Replaces `path` with `data`; keeps the old file's mode when it had one (else `mode`). */
export function writeFileAtomic(path: string, data: string | Buffer, mode = 0o644): void {
  const tmp = tempName(path);
  const keepMode = statSync(path, { throwIfNoEntry: false })?.mode;
  const fd = openSync(tmp, CREATE_FLAGS, 0o600);
  commit(tmp, path, () => {
    try {
      // Explicitly, not through open(2): the umask would trim a kept 0664 to 0644.
      fchmodSync(fd, keepMode !== undefined ? keepMode & 0o7777 : mode);
      writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  });
}

/**
 * Replaces `path` with a copy of `src` (mode `mode`): a runtime exec'ing the old file keeps
 * running it, and no exec ever sees a half-written one (nor gets "text file busy").
 */
export function copyFileAtomic(src: string, path: string, mode = 0o755): void {
  const tmp = tempName(path);
  copyFileSync(src, tmp, constants.COPYFILE_EXCL);
  commit(tmp, path, () => {
    const fd = openSync(tmp, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      fchmodSync(fd, mode);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  });
}

/** Replaces `path` with a symlink whose text is `target` (exactly as given, relative or not). */
export function symlinkAtomic(target: string, path: string): void {
  const tmp = tempName(path);
  symlinkSync(target, tmp);
  commit(tmp, path, () => {});
}
