/**
 * Walking nested tracing's runDir (src/plugin/run-dir.ts) over real temp dirs: what it accepts
 * (root's or our own dirs writable only by their owner, a root-owned sticky dir such as /tmp,
 * missing components it creates) and what it refuses, naming the path and the reason (a
 * symlinked component, a foreign owner, a group- or other-writable dir, runDir not ours).
 * Changing owners needs root; those cases are skipped otherwise.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, closeSync, fstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { canonicalRunDir, openRunDir, UnsafeDir } from '../../src/plugin/run-dir.ts';

const root = mkdtempSync(join(tmpdir(), 'cnitrace-unit-rundir-'));
after(() => rmSync(root, { recursive: true, force: true }));
const isRoot = process.geteuid?.() === 0;
const OTHER_UID = 65534; // nobody

function refusal(path: string): string {
  try {
    closeSync(openRunDir(path));
  } catch (e) {
    assert.ok(e instanceof UnsafeDir, `a refusal, not ${String(e)}`);
    return e.message;
  }
  assert.fail(`${path} was accepted`);
}

test('missing components are created: 0755 on the way, runDir 0700; an existing good runDir is opened', () => {
  const runDir = join(root, 'a', 'b', 'run');
  const fd = openRunDir(runDir);
  assert.ok(fstatSync(fd).isDirectory());
  closeSync(fd);
  assert.equal(statSync(join(root, 'a', 'b')).mode & 0o777, 0o755);
  assert.equal(statSync(runDir).mode & 0o777, 0o700);
  closeSync(openRunDir(runDir));
  assert.equal(canonicalRunDir('/run//cni-trace/./x/../'), '/run/cni-trace');
});

test('a symlink anywhere on the way is refused, naming it', () => {
  mkdirSync(join(root, 'real'), { mode: 0o700 });
  symlinkSync(join(root, 'real'), join(root, 'link'));
  assert.equal(refusal(join(root, 'link')), `${join(root, 'link')} is a symbolic link: refused`);
  assert.equal(refusal(join(root, 'link', 'run')), `${join(root, 'link')} is a symbolic link: refused`);
});

test('a group- or other-writable directory on the way, or as runDir, is refused; nothing is repaired', () => {
  mkdirSync(join(root, 'gw', 'run'), { recursive: true, mode: 0o700 });
  chmodSync(join(root, 'gw'), 0o775);
  assert.equal(refusal(join(root, 'gw', 'run')), `${join(root, 'gw')} is writable by group or others (mode 775): refused`);
  assert.equal(statSync(join(root, 'gw')).mode & 0o777, 0o775, 'left as it was');
  mkdirSync(join(root, 'ow'), { mode: 0o700 });
  chmodSync(join(root, 'ow'), 0o777);
  assert.equal(refusal(join(root, 'ow')), `${join(root, 'ow')} is writable by group or others (mode 777): refused`);
  mkdirSync(join(root, 'rw'), { mode: 0o700 });
  chmodSync(join(root, 'rw'), 0o720);
  assert.equal(refusal(join(root, 'rw')), `${join(root, 'rw')} is writable by group or others (mode 720): refused`);
});

test('a sticky directory on the way is accepted when root owns it (as /tmp), refused as runDir itself', { skip: !isRoot && 'needs root' }, () => {
  mkdirSync(join(root, 'sticky'), { mode: 0o700 });
  chmodSync(join(root, 'sticky'), 0o1777);
  closeSync(openRunDir(join(root, 'sticky', 'run')));
  assert.equal(statSync(join(root, 'sticky', 'run')).mode & 0o777, 0o700);
  assert.match(refusal(join(root, 'sticky')), /sticky is writable by group or others \(mode 1777\): refused$/);
  chownSync(join(root, 'sticky'), OTHER_UID, OTHER_UID);
  assert.equal(refusal(join(root, 'sticky', 'run')), `${join(root, 'sticky')} is owned by uid ${OTHER_UID}, not by root: refused`, 'sticky but not root\'s');
});

test('a directory on the way owned by another user, or a runDir that is not ours, is refused', { skip: !isRoot && 'needs root' }, () => {
  mkdirSync(join(root, 'theirs', 'run'), { recursive: true, mode: 0o700 });
  chownSync(join(root, 'theirs'), OTHER_UID, OTHER_UID);
  assert.equal(refusal(join(root, 'theirs', 'run')), `${join(root, 'theirs')} is owned by uid ${OTHER_UID}, not by root: refused`);
  mkdirSync(join(root, 'their-run'), { mode: 0o700 });
  chownSync(join(root, 'their-run'), OTHER_UID, OTHER_UID);
  assert.equal(refusal(join(root, 'their-run')), `${join(root, 'their-run')} is owned by uid ${OTHER_UID}, not by this process (uid 0): refused`);
});

// Rules that Stryker's survivors showed untested (issue 22): most of them only differ when the
// walk runs as a user other than root, so those run in a child that drops to nobody after
// loading the module.

test('rule: runDir is canonical with no trailing "/", and "/" stays "/"', () => {
  assert.equal(canonicalRunDir('/run/cni-trace'), '/run/cni-trace', 'already canonical: unchanged');
  assert.equal(canonicalRunDir('/run/cni-trace/'), '/run/cni-trace');
  assert.equal(canonicalRunDir('/'), '/');
});

test('rule: the walk leaves no descriptor open but the one it returns, accepted or refused', () => {
  const open = (): number => readdirSync('/proc/self/fd').length;
  mkdirSync(join(root, 'fd-bad'), { mode: 0o700 });
  chmodSync(join(root, 'fd-bad'), 0o777);
  const before = open();
  for (let i = 0; i < 5; i++) closeSync(openRunDir(join(root, 'fd-good', 'x', 'run')));
  for (let i = 0; i < 5; i++) refusal(join(root, 'fd-bad', 'run'));
  assert.equal(open(), before, 'every descriptor of the walk is closed');
});

test('rule: a file where a directory should be fails with ENOTDIR, not a loop', () => {
  writeFileSync(join(root, 'a-file'), '');
  assert.throws(() => openRunDir(join(root, 'a-file', 'run')), (e: NodeJS.ErrnoException) => e.code === 'ENOTDIR' && !(e instanceof UnsafeDir));
});

test('rule: as a user, the walk accepts directories of that user, refuses a third user\'s and an unsticky group-writable one, and reports what it cannot create', { skip: !isRoot && 'needs root to switch users' }, () => {
  const base = join(root, 'as-user');
  mkdirSync(base, { mode: 0o755 });
  chmodSync(root, 0o755); // nobody walks through the test's temp dir (root's, not writable by others)
  const mine = join(base, 'mine');
  mkdirSync(join(mine, 'sticky'), { recursive: true, mode: 0o755 });
  chmodSync(join(mine, 'sticky'), 0o1777);
  mkdirSync(join(base, 'third'), { mode: 0o755 });
  for (const d of [mine, join(mine, 'sticky')]) chownSync(d, OTHER_UID, OTHER_UID);
  chownSync(join(base, 'third'), OTHER_UID - 1, OTHER_UID - 1);
  const module = new URL('../../src/plugin/run-dir.ts', import.meta.url).pathname;
  const script = `
    import { closeSync } from 'node:fs';
    import { openRunDir } from ${JSON.stringify(module)};
    process.setgid(${OTHER_UID}); process.setuid(${OTHER_UID});
    const out = {};
    for (const [k, p] of Object.entries(${JSON.stringify({ own: join(mine, 'run'), third: join(base, 'third', 'run'), sticky: join(mine, 'sticky', 'run'), denied: join(base, 'new', 'run') })})) {
      try { closeSync(openRunDir(p)); out[k] = 'ok'; } catch (e) { out[k] = e.code ?? e.message; }
    }
    process.stdout.write(JSON.stringify(out));`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(child.status, 0, child.stderr);
  assert.deepEqual(JSON.parse(child.stdout), {
    own: 'ok',
    third: `${join(base, 'third')} is owned by uid ${OTHER_UID - 1}, not by root: refused`,
    sticky: `${join(mine, 'sticky')} is writable by group or others (mode 1777): refused`,
    denied: 'EACCES',
  }, 'a user\'s own directories pass; a third user\'s, a sticky one not root\'s, and what cannot be created do not');
});
