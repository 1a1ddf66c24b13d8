/**
 * The shared shim directories (src/plugin/shim-dir.ts) and where the shim binary comes from
 * (shim-binary.ts), over real temp dirs and no process runs: the name's hash and what changes
 * it, building a directory (and losing the race to another wrapper), the checks of one found in
 * place, and which names get a link. Fast on purpose: Stryker runs it for each of their mutants.
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync, closeSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { openRunDir, UnsafeDir } from '../../src/plugin/run-dir.ts';
import { findShimBinary, type ShimBinary } from '../../src/plugin/shim-binary.ts';
import { commandNames, ensureShimDir, fnv1a64, pluginNames, shimDirName } from '../../src/plugin/shim-dir.ts';
import { ensureShim, SHIM_OUT } from '../../scripts/build-shim.ts';

const root = mkdtempSync(join(tmpdir(), 'cnitrace-unit-shimdir-'));
before(() => ensureShim());
after(() => rmSync(root, { recursive: true, force: true }));
const isRoot = process.geteuid?.() === 0;

/** A shim binary as shimDirName and ensureShimDir see one: an identity and its bytes. */
function binary(identity: string, content = '#!/bin/sh\nexit 0\n'): ShimBinary & { reads: number } {
  const b = { identity, reads: 0, bytes: () => { b.reads++; return Buffer.from(content); } };
  return b;
}

let seq = 0;
/** A fresh runDir, opened as nested.ts opens it; `use` gets its descriptor, closed after. */
function withRunDir<T>(use: (fd: number, dir: string) => T): T {
  const dir = join(root, `run-${seq++}`);
  const fd = openRunDir(dir);
  try {
    return use(fd, dir);
  } finally {
    closeSync(fd);
  }
}

function refusal(run: () => void): string {
  try {
    run();
  } catch (e) {
    assert.ok(e instanceof UnsafeDir, `a refusal, not ${String(e)}`);
    return e.message;
  }
  assert.fail('accepted');
}

test('rule: the name hash is 64-bit FNV-1a over UTF-16 code units, 16 hex digits with leading zeros', () => {
  // The published FNV-1a 64 test vectors (ASCII: one code unit per byte).
  assert.equal(fnv1a64(''), 'cbf29ce484222325');
  assert.equal(fnv1a64('a'), 'af63dc4c8601ec8c');
  assert.equal(fnv1a64('foobar'), '85944171f73967e8');
  // A code unit above 0xff is hashed whole, not as its low byte.
  assert.notEqual(fnv1a64('\u0161'), fnv1a64('\u0061'));
  // Some input hashes below 2^60: the digits keep their leading zeros.
  const short = Array.from({ length: 4096 }, (_, i) => fnv1a64(String(i))).find((h) => h.startsWith('0'));
  assert.match(short ?? '', /^0[0-9a-f]{15}$/);
});

test('rule: a shim directory\'s name changes with CNI_PATH, the shim binary, the extra names and each directory\'s identity, and only then', () => {
  const a = join(root, 'name-a');
  const b = join(root, 'name-b');
  mkdirSync(a);
  mkdirSync(b);
  const shim = binary('file /x 1:2:3:4');
  const name = shimDirName(`${a}:${b}`, [a, b], shim);
  assert.match(name, /^shims-[0-9a-f]{16}$/);
  assert.equal(shimDirName(`${a}:${b}`, [a, b], binary('file /x 1:2:3:4')), name, 'the same inputs: the same directory');
  const others = [
    shimDirName(`${a}:${b}:`, [a, b], shim),
    shimDirName(`${a}:${b}`, [a, b], binary('file /x 1:2:3:5')),
    shimDirName(`${a}:${b}`, [a, b], shim, 'shims-', ['ip']),
    shimDirName(`${a}:${b}`, [a, b], shim, 'shims-', ['ip', 'tc']),
    shimDirName(`${a}:${b}`, [a, b], shim, 'shims-', ['iptc']),
    shimDirName(`${a}:${b}`, [b, a], shim),
    shimDirName(`${a}:${b}`, [a], shim),
  ];
  assert.equal(new Set([name, ...others]).size, others.length + 1, 'each a directory of its own');
  assert.match(shimDirName('', [], shim, 'cmds-', ['ip']), /^cmds-[0-9a-f]{16}$/, 'the prefix puts the shim in command mode');
  // A plugin added to a directory changes its mtime, hence the name.
  writeFileSync(join(b, 'new-plugin'), '');
  const future = new Date(Date.now() + 60_000);
  utimesSync(b, future, future);
  assert.notEqual(shimDirName(`${a}:${b}`, [a, b], shim), name, 'a directory changed: a new shim directory');
  // A directory that is missing, unreadable or the empty entry counts as missing, and throws nothing.
  const missing = shimDirName('p', [join(root, 'nowhere')], shim);
  assert.equal(shimDirName('p', [''], shim), missing);
  assert.equal(shimDirName('p', [join(root, 'a-file-not-a-dir', 'x')], shim), missing);
  assert.notEqual(shimDirName('p', [a], shim), missing, 'an existing directory is not "missing"');
});

test('rule: a missing shim directory is built: the shim 0700 with the binary\'s bytes, bin/ with one link to ../shim per name; no build directory is left', () => {
  withRunDir((fd, dir) => {
    const shim = binary('id', 'shim bytes');
    let asked = 0;
    ensureShimDir(fd, dir, 'shims-x', () => { asked++; return ['bridge', 'host-local']; }, shim, 'tag');
    const made = join(dir, 'shims-x');
    assert.equal(readFileSync(join(made, 'shim'), 'utf8'), 'shim bytes');
    assert.equal(statSync(join(made, 'shim')).mode & 0o777, 0o700);
    assert.equal(statSync(made).mode & 0o777, 0o700);
    assert.equal(statSync(join(made, 'bin')).mode & 0o777, 0o700);
    assert.deepEqual(readdirSync(join(made, 'bin')).sort(), ['bridge', 'host-local']);
    for (const n of ['bridge', 'host-local']) assert.equal(readlinkSync(join(made, 'bin', n)), '../shim');
    assert.deepEqual(readdirSync(dir), ['shims-x'], 'the .tmp- build directory is gone');
    // Found in place the next time: not rebuilt, the names not looked up again.
    ensureShimDir(fd, dir, 'shims-x', () => { asked++; return ['other']; }, shim, 'tag2');
    assert.deepEqual([asked, shim.reads], [1, 1]);
    assert.deepEqual(readdirSync(join(made, 'bin')).sort(), ['bridge', 'host-local']);
  });
});

test('rule: the shim binary is written whole', () => {
  withRunDir((fd, dir) => {
    const big = 'x'.repeat(1 << 20);
    ensureShimDir(fd, dir, 'shims-big', () => [], binary('big', big), 'big');
    assert.equal(statSync(join(dir, 'shims-big', 'shim')).size, big.length);
  });
});

test('rule: when another wrapper\'s directory got there first, it is used and ours is removed; any other failure is thrown, cleaned up', () => {
  withRunDir((fd, dir) => {
    // The other wrapper finishes while we are building (between our mkdir and our rename).
    const theirs = (): string[] => {
      mkdirSync(join(dir, 'shims-race', 'bin'), { recursive: true, mode: 0o700 });
      chmodSync(join(dir, 'shims-race'), 0o700);
      writeFileSync(join(dir, 'shims-race', 'shim'), 'theirs', { mode: 0o700 });
      return ['bridge'];
    };
    ensureShimDir(fd, dir, 'shims-race', theirs, binary('id', 'ours'), 'race');
    assert.equal(readFileSync(join(dir, 'shims-race', 'shim'), 'utf8'), 'theirs');
    assert.deepEqual(readdirSync(dir), ['shims-race'], 'our build directory removed');
    // A build that fails (a name that cannot be a link) throws and leaves nothing.
    assert.throws(() => ensureShimDir(fd, dir, 'shims-bad', () => ['no/such/dir'], binary('id'), 'bad'), { code: 'ENOENT' });
    assert.deepEqual(readdirSync(dir), ['shims-race']);
    // A rename refused for another reason than a directory in place is thrown: a file put in the way meanwhile.
    const fileInTheWay = (): string[] => { writeFileSync(join(dir, 'shims-file'), ''); return []; };
    assert.throws(() => ensureShimDir(fd, dir, 'shims-file', fileInTheWay, binary('id'), 'file'), { code: 'ENOTDIR' });
    assert.deepEqual(readdirSync(dir).sort(), ['shims-file', 'shims-race']);
  });
});

const openFds = (): number => readdirSync('/proc/self/fd').length;

test('rule: a rename refused for another reason than a directory in place is reported with its own error (a mount point in the way: EBUSY)', { skip: !isRoot && 'needs root to mount' }, (t) => {
  withRunDir((fd, dir) => {
    const target = join(dir, 'shims-mnt');
    let mounted = false;
    // Another process mounts something where our build is about to be renamed to.
    const mountOver = (): string[] => {
      mkdirSync(target, { mode: 0o700 });
      mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'mode=0700', 'tmpfs', target]).status === 0;
      return [];
    };
    let error: NodeJS.ErrnoException | undefined;
    try {
      ensureShimDir(fd, dir, 'shims-mnt', mountOver, binary('id'), 'mnt');
    } catch (e) {
      error = e as NodeJS.ErrnoException;
    } finally {
      if (mounted) spawnSync('umount', ['-l', target]);
    }
    if (!mounted) return t.skip('cannot mount a tmpfs here');
    assert.equal(error?.code, 'EBUSY');
  });
});

test('rule: a shim directory in place is used only when it, and its shim, are ours and writable only by us; nothing is left open, built or not', () => {
  withRunDir((fd, dir) => {
    const fds = openFds();
    let built = 0;
    const ok = (name: string): void => {
      try {
        ensureShimDir(fd, dir, name, () => { built++; return ['p']; }, binary('id'), name);
      } finally {
        assert.equal(openFds(), fds, `${name}: every descriptor closed`);
      }
    };
    ok('shims-good');
    ok('shims-good');
    // The directory itself writable by others.
    ok('shims-dirmode');
    chmodSync(join(dir, 'shims-dirmode'), 0o707);
    assert.match(refusal(() => ok('shims-dirmode')), /shims-dirmode is writable by group or others \(mode 707\): refused$/);
    // The shim group- or other-writable.
    for (const [name, mode] of [['shims-g', 0o720], ['shims-o', 0o702]] as const) {
      ok(name);
      chmodSync(join(dir, name, 'shim'), mode);
      assert.equal(refusal(() => ok(name)), `${join(dir, name, 'shim')} is not a regular file of ours writable only by us: refused`);
    }
    // The shim a directory, or a link to a good file (never followed).
    ok('shims-isdir');
    rmSync(join(dir, 'shims-isdir', 'shim'));
    mkdirSync(join(dir, 'shims-isdir', 'shim'), { mode: 0o700 });
    assert.match(refusal(() => ok('shims-isdir')), /shims-isdir\/shim is not a regular file of ours/);
    ok('shims-link');
    rmSync(join(dir, 'shims-link', 'shim'));
    symlinkSync(join(dir, 'shims-good', 'shim'), join(dir, 'shims-link', 'shim'));
    assert.throws(() => ok('shims-link'), { code: 'ELOOP' });
    // The directory a symlink to a good one.
    symlinkSync('shims-good', join(dir, 'shims-alias'));
    assert.throws(() => ok('shims-alias'), (e: NodeJS.ErrnoException) => e.code === 'ENOTDIR' || e.code === 'ELOOP');
    // The shim not executable by us (a noexec mount fails the same way).
    ok('shims-noexec');
    chmodSync(join(dir, 'shims-noexec', 'shim'), 0o600);
    assert.throws(() => ok('shims-noexec'), { code: 'EACCES' });
    // Something in the way that is not a directory is refused as it is, not built over.
    writeFileSync(join(dir, 'shims-file'), '');
    const builds = built;
    assert.throws(() => ok('shims-file'), { code: 'ENOTDIR' });
    assert.throws(() => ok('shims-alias'), (e: NodeJS.ErrnoException) => e.code === 'ENOTDIR' || e.code === 'ELOOP');
    assert.equal(built, builds, 'nothing built');
  });
});

test('rule: a shim or shim directory owned by another user is refused', { skip: !isRoot && 'needs root to chown' }, () => {
  withRunDir((fd, dir) => {
    const ok = (name: string): void => ensureShimDir(fd, dir, name, () => [], binary('id'), name);
    ok('shims-foreign-shim');
    chownSync(join(dir, 'shims-foreign-shim', 'shim'), 65534, 65534);
    assert.match(refusal(() => ok('shims-foreign-shim')), /shim is not a regular file of ours writable only by us: refused$/);
    ok('shims-foreign-dir');
    chownSync(join(dir, 'shims-foreign-dir'), 65534, 65534);
    assert.match(refusal(() => ok('shims-foreign-dir')), /shims-foreign-dir is owned by uid 65534, not by this process \(uid 0\): refused$/);
  });
});

test('rule: a plugin name gets a shim when libcni would resolve it: a regular file or a link to one, first directory first; the cwd is not searched', () => {
  const a = join(root, 'names-a');
  const b = join(root, 'names-b');
  mkdirSync(a);
  mkdirSync(b);
  writeFileSync(join(a, 'bridge'), '');
  mkdirSync(join(a, 'subdir'));
  symlinkSync(join(a, 'bridge'), join(a, 'linked'));
  symlinkSync(join(a, 'nowhere'), join(a, 'dangling'));
  symlinkSync(join(a, 'subdir'), join(a, 'dirlink'));
  symlinkSync('loop', join(a, 'loop'));
  // In b: a name that is a directory in a but a file here, and one that is a file in both.
  mkdirSync(join(b, 'later'));
  writeFileSync(join(b, 'subdir'), '');
  writeFileSync(join(b, 'bridge'), '');
  symlinkSync(join(b, 'subdir'), join(b, 'dirlink'));
  const names = pluginNames(['', join(root, 'no-such-dir'), a, b]);
  assert.deepEqual([...names].sort(), ['bridge', 'dirlink', 'linked', 'subdir']);
  assert.ok(lstatSync(join(a, 'dangling')).isSymbolicLink());
  // The cwd ('' in CNI_PATH) holds files here but is never searched.
  const cwd = process.cwd();
  process.chdir(a);
  try {
    assert.deepEqual([...pluginNames([''])], []);
  } finally {
    process.chdir(cwd);
  }
});

test('rule: a command gets a shim when Go\'s LookPath finds it in PATH: the first executable non-directory, and only in an absolute directory', () => {
  const a = join(root, 'cmd-a');
  const b = join(root, 'cmd-b');
  mkdirSync(a);
  mkdirSync(b);
  const exe = (dir: string, name: string, mode = 0o755): void => { writeFileSync(join(dir, name), ''); chmodSync(join(dir, name), mode); };
  exe(b, 'ip');
  mkdirSync(join(a, 'tc'));
  exe(b, 'tc');
  exe(a, 'iptables', 0o644);
  exe(b, 'iptables');
  exe(a, 'modprobe');
  mkdirSync(join(a, 'nft'));
  exe(b, 'ss', 0o644);
  assert.deepEqual(commandNames(['ip', 'tc', 'iptables', 'modprobe', 'absent', 'nft', 'ss'], `${a}:${b}`), ['ip', 'tc', 'iptables', 'modprobe']);
  assert.deepEqual(commandNames(['ip'], ''), [], 'an empty PATH finds nothing');
  // A hit in a relative directory (or '' for the cwd) is Go's ErrDot: not found, even if an absolute one follows.
  const cwd = process.cwd();
  process.chdir(root);
  try {
    assert.deepEqual(commandNames(['ip', 'modprobe'], `cmd-b:${a}`), ['modprobe']);
    process.chdir(b);
    assert.deepEqual(commandNames(['ip', 'modprobe'], `:${a}`), ['modprobe']);
    assert.deepEqual(commandNames(['ip'], `${a}:`), [], 'after the absolute entries, the cwd is still relative');
  } finally {
    process.chdir(cwd);
  }
});

test('rule: the shim binary of the sources is dist/cni-trace-shim; its identity names the file and its dev, inode, size and mtime', () => {
  const shim = findShimBinary();
  assert.ok(shim, 'the test build has a shim');
  const st = statSync(SHIM_OUT, { bigint: true });
  assert.equal(shim.identity, `file ${SHIM_OUT} ${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}`);
  assert.deepEqual(Buffer.from(shim.bytes()), readFileSync(SHIM_OUT));
});
