/**
 * The shim directory shared by all invocations with the same CNI_PATH:
 *
 *   <runDir>/shims-<hash>/shim        the compiled shim (0700)
 *   <runDir>/shims-<hash>/bin/NAME    -> ../shim, one per name libcni would resolve in CNI_PATH
 *
 * The hash (FNV-1a, 64 bits: no node:crypto on the hot path) covers the CNI_PATH value, each of
 * its directories' (dev, inode, mtime) — a plugin added or removed changes its directory's mtime,
 * so it gets a new shim directory on the next call without a readdir per call — and the shim
 * binary's identity. A missing directory is built under a random `.tmp-` name and renamed into
 * place; when another wrapper won the race, theirs is used. Old directories are left (a few KB
 * each on a tmpfs).
 *
 * Command tracing has its own, `<runDir>/cmds-<hash>/` of the same shape: the shim binary (its
 * directory's name puts it in command mode) and a link per traced command that Go's LookPath
 * finds in PATH, the hash over PATH, its directories and the names.
 */
import { accessSync, closeSync, constants, fstatSync, openSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, mkdirSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { at, checkOwn, DIR_FLAGS, euid, UnsafeDir } from './run-dir.ts';
import type { ShimBinary } from './shim-binary.ts';

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;

/** FNV-1a, 64 bits, over the UTF-16 code units of `s`, as 16 hex digits. */
export function fnv1a64(s: string): string {
  let h = FNV_OFFSET;
  for (let i = 0; i < s.length; i++) h = BigInt.asUintN(64, (h ^ BigInt(s.charCodeAt(i))) * FNV_PRIME);
  return h.toString(16).padStart(16, '0');
}

/** The shim directory's name for this CNI_PATH now and this shim binary: one stat per directory. */
export function shimDirName(cniPath: string, paths: readonly string[], shim: ShimBinary, prefix = 'shims-', extra: readonly string[] = []): string {
  const parts = [cniPath, shim.identity, ...extra];
  for (const dir of paths) {
    let st;
    try {
      st = dir === '' ? undefined : statSync(dir, { bigint: true, throwIfNoEntry: false });
    } catch { /* unreadable: as missing */ }
    parts.push(st ? `${st.dev}:${st.ino}:${st.mtimeNs}` : '-');
  }
  return `${prefix}${fnv1a64(parts.join('\0'))}`;
}

/**
 * Makes sure `<runDir>/<name>` exists, is ours and holds an executable shim; builds it, with a
 * link for each of `links()`, when missing. Throws UnsafeDir or an errno error; `tmpTag` names
 * the build directory.
 */
export function ensureShimDir(runFd: number, runDir: string, name: string, links: () => Iterable<string>, shim: ShimBinary, tmpTag: string): void {
  let fd: number;
  try {
    fd = openSync(at(runFd, name), DIR_FLAGS);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    build(runFd, name, links, shim, tmpTag);
    fd = openSync(at(runFd, name), DIR_FLAGS);
  }
  try {
    checkOwn(fd, join(runDir, name));
    const file = openSync(at(fd, 'shim'), constants.O_RDONLY | constants.O_NOFOLLOW);
    const st = fstatSync(file);
    closeSync(file);
    if (!st.isFile() || st.uid !== euid() || (st.mode & 0o022) !== 0) throw new UnsafeDir(`${join(runDir, name, 'shim')} is not a regular file of ours writable only by us: refused`);
    accessSync(at(fd, 'shim'), constants.X_OK); // EACCES on a noexec mount
  } finally {
    closeSync(fd);
  }
}

function build(runFd: number, name: string, links: () => Iterable<string>, shim: ShimBinary, tmpTag: string): void {
  const tmp = `.tmp-${tmpTag}`;
  mkdirSync(at(runFd, tmp), { mode: 0o700 });
  try {
    const fd = openSync(at(runFd, tmp), DIR_FLAGS);
    try {
      const file = openSync(at(fd, 'shim'), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o700);
      try {
        const bytes = shim.bytes();
        for (let off = 0; off < bytes.length;) off += writeSync(file, bytes, off);
      } finally {
        closeSync(file);
      }
      mkdirSync(at(fd, 'bin'), { mode: 0o700 });
      for (const link of links()) symlinkSync('../shim', at(fd, `bin/${link}`));
    } finally {
      closeSync(fd);
    }
    try {
      renameSync(at(runFd, tmp), at(runFd, name));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e; // else another wrapper's is in place: use it
    }
  } finally {
    rmSync(at(runFd, tmp), { recursive: true, force: true });
  }
}

/** The names in the CNI_PATH dirs that libcni would resolve to a regular file. */
export function pluginNames(paths: readonly string[]): Set<string> {
  const names = new Set<string>();
  for (const dir of paths) {
    if (dir === '') continue; // the cwd: not something a node's plugins live in
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      if (names.has(e.name)) continue;
      if (e.isFile()) names.add(e.name);
      else if (e.isSymbolicLink()) {
        try {
          if (statSync(join(dir, e.name)).isFile()) names.add(e.name);
        } catch { /* dangling or a loop: libcni skips it too */ }
      }
    }
  }
  return names;
}

/**
 * Of `names`, those Go's exec.LookPath finds in `path` (a plugin's PATH): the first entry that
 * is not a directory and is executable; "" is ".", and a hit in a relative directory is Go's
 * ErrDot, not found. A name it would not find gets no shim, so it stays not found.
 */
export function commandNames(names: readonly string[], path: string): string[] {
  const dirs = path === '' ? [] : path.split(':');
  return names.filter((name) => {
    for (const d of dirs) {
      const file = join(d === '' ? '.' : d, name);
      try {
        if (statSync(file).isDirectory()) continue;
        accessSync(file, constants.X_OK);
      } catch {
        continue;
      }
      return file.startsWith('/');
    }
    return false;
  });
}
