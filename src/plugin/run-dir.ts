/**
 * Opening nested tracing's runDir without trusting anything another user could have planted:
 * the shims in it run as root for every nested call (RELIABILITY.md, "Local attackers").
 *
 * The path is walked from `/`, one component at a time, each opened O_DIRECTORY|O_NOFOLLOW
 * relative to the one before and checked with fstat: every ancestor owned by root (or us) and
 * writable by nobody else — except a root-owned sticky directory such as /tmp, where others can
 * neither rename nor remove our entries; runDir itself owned by us and writable by nobody else.
 * A missing component is created (0755, runDir 0700) through its parent and then checked like
 * the rest. Nothing is repaired: a directory someone else could write may already hold a plant.
 *
 * Node has no openat/mkdirat, so the descriptor-relative operations go through
 * `/proc/self/fd/<fd>/<name>`: the kernel resolves that link to the directory we opened and
 * checked, not by its name, so a rename or a swapped symlink after the check changes nothing.
 */
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync } from 'node:fs';
import { normalize } from 'node:path';

export const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW; // libuv adds O_CLOEXEC

/** `name` inside the directory open as `fd`, as a path the kernel resolves through the descriptor. */
export function at(fd: number, name: string): string {
  return `/proc/self/fd/${fd}/${name}`;
}

/** A reason not to use a directory, worded for the one stderr line that turns nesting off. */
export class UnsafeDir extends Error {}

/** The runDir the shims will see in /proc/self/exe: absolute, no `.`, `..`, `//` or trailing `/`. */
export function canonicalRunDir(runDir: string): string {
  const n = normalize(runDir);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

export function euid(): number {
  return process.geteuid?.() ?? 0;
}

/**
 * Opens (creating what is missing) and checks runDir, given canonical; returns its descriptor.
 * Throws UnsafeDir for a refusal, an errno error (ENOTDIR, EACCES …) when it cannot be made.
 */
export function openRunDir(runDir: string): number {
  const uid = euid();
  const parts = runDir.split('/').filter((p) => p !== '');
  let fd = openSync('/', DIR_FLAGS);
  try {
    checkAncestor(fd, '/', uid);
    let path = '';
    for (const [i, name] of parts.entries()) {
      const last = i === parts.length - 1;
      path += `/${name}`;
      const child = openChild(fd, name, path, last ? 0o700 : 0o755);
      closeSync(fd);
      fd = child;
      if (last) checkOwn(fd, path, uid);
      else checkAncestor(fd, path, uid);
    }
    return fd;
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/** Opens directory `name` under `parent`, creating it when missing; a symlink is refused. */
export function openChild(parent: number, name: string, path: string, mode: number): number {
  for (let created = false; ; created = true) {
    try {
      return openSync(at(parent, name), DIR_FLAGS);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // O_DIRECTORY|O_NOFOLLOW on a symlink fails ENOTDIR (not ELOOP): tell the two apart.
      if ((code === 'ENOTDIR' || code === 'ELOOP') && isSymlink(at(parent, name))) throw new UnsafeDir(`${path} is a symbolic link: refused`);
      if (code !== 'ENOENT' || created) throw e;
    }
    try {
      mkdirSync(at(parent, name), { mode });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e; // made by a concurrent call: open it
    }
  }
}

function isSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/** A directory on the way: root's (or ours), writable by nobody else unless root's and sticky. */
function checkAncestor(fd: number, path: string, uid: number): void {
  const st = fstatSync(fd);
  if (st.uid !== 0 && st.uid !== uid) throw new UnsafeDir(`${path} is owned by uid ${st.uid}, not by root: refused`);
  if ((st.mode & 0o022) !== 0 && !(st.uid === 0 && (st.mode & 0o1000) !== 0)) {
    throw new UnsafeDir(`${path} is writable by group or others (mode ${(st.mode & 0o7777).toString(8)}): refused`);
  }
}

/** A directory of ours (runDir, a shim directory): owned by us, writable by nobody else. */
export function checkOwn(fd: number, path: string, uid = euid()): void {
  const st = fstatSync(fd);
  if (st.uid !== uid) throw new UnsafeDir(`${path} is owned by uid ${st.uid}, not by this process (uid ${uid}): refused`);
  if ((st.mode & 0o022) !== 0) throw new UnsafeDir(`${path} is writable by group or others (mode ${(st.mode & 0o7777).toString(8)}): refused`);
}
