/**
 * The check that fails a test run whose tests went missing or skipped on CI (scripts/test-count.ts,
 * scripts/test-run.ts): the verdict on counts, and the real runner over a throw-away copy of the
 * scripts with a tiny test folder and floor — a folder renamed, a floor not reached, a skip
 * under CI=true each fail the run; node's runner alone would pass them all.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { verdict, type TestCount } from '../../scripts/test-count.ts';
import { ROOT } from '../support/fixtures.ts';

const root = mkdtempSync(join(tmpdir(), 'cnitrace-unit-test-count-'));
after(() => rmSync(root, { recursive: true, force: true }));

const count = (over: Partial<TestCount>): TestCount => ({ tests: 10, passed: 10, failed: 0, skipped: 0, todo: 0, cancelled: 0, skips: [], ...over });
const floor = { tests: 10, why: 'test' };

test('verdict: a run at or above the floor stands; below it, or with no test at all, it fails naming the floor', () => {
  assert.deepEqual(verdict(count({}), floor, false), []);
  assert.deepEqual(verdict(count({ tests: 11, passed: 11 }), floor, true), []);
  const [below] = verdict(count({ tests: 9, passed: 9 }), floor, false);
  assert.match(below!, /counted 9 tests, fewer than the floor of 10 in test\/floor\.json/);
  assert.match(verdict(count({ tests: 0, passed: 0 }), null, false)[0]!, /^no test ran/);
  assert.deepEqual(verdict(count({ tests: 3, passed: 3 }), null, false), [], 'chosen files have no floor');
});

test('verdict: a skip fails the run only while CI is set, naming each skipped test and why', () => {
  const skipped = count({ passed: 8, skipped: 2, skips: [{ file: 'test/integration/podman.test.ts', name: 'a podman container', reason: 'podman not found on PATH' }, { file: 'x.test.ts', name: 'y', reason: '' }] });
  assert.deepEqual(verdict(skipped, floor, false), [], 'a developer without podman: reported by node, not a failure');
  assert.deepEqual(verdict(skipped, floor, true), [
    '2 tests skipped while CI is set; CI installs every real part, so a skip is a broken set-up:',
    '  test/integration/podman.test.ts: a podman container (podman not found on PATH)',
    '  x.test.ts: y',
  ]);
  assert.equal(verdict(count({ skipped: 1, passed: 9, skips: [] }), floor, true)[0], '1 test skipped while CI is set; CI installs every real part, so a skip is a broken set-up:');
});

/** A throw-away repository: the scripts, a floor and a test folder with three tests, one skipped when NEEDS_X is unset. */
function repo(name: string, floorTests: number): string {
  const dir = join(root, name);
  mkdirSync(join(dir, 'scripts'), { recursive: true });
  for (const f of ['test-run.ts', 'test-count.ts', 'script-args.ts']) copyFileSync(join(ROOT, 'scripts', f), join(dir, 'scripts', f));
  mkdirSync(join(dir, 'test/unit'), { recursive: true });
  mkdirSync(join(dir, 'test/integration'), { recursive: true });
  writeFileSync(join(dir, 'test/floor.json'), JSON.stringify({ tests: floorTests, why: 'the test\'s' }));
  writeFileSync(join(dir, 'test/unit/a.test.ts'), "import { test } from 'node:test';\ntest('one', () => {});\ntest('two', () => {});\n");
  writeFileSync(join(dir, 'test/integration/b.test.ts'), "import { test } from 'node:test';\ntest('needs x', { skip: process.env.NEEDS_X ? false : 'x not installed' }, () => {});\n");
  return dir;
}

function run(dir: string, env: Record<string, string> = {}, args: string[] = []): { status: number | null; out: string; err: string } {
  const clean: NodeJS.ProcessEnv = { ...process.env };
  delete clean.CI; // as on a developer's machine unless the case sets it
  delete clean.NODE_TEST_CONTEXT; // else the inner runner reports to this one instead of printing
  const r = spawnSync(process.execPath, [join(dir, 'scripts/test-run.ts'), ...args], { cwd: dir, encoding: 'utf8', env: { ...clean, ...env } });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

test('test-run: the suite at its floor passes and keeps node\'s closing lines on stdout', () => {
  const dir = repo('ok', 3);
  const r = run(dir, { NEEDS_X: '1' });
  assert.equal(r.status, 0, r.out + r.err);
  assert.match(r.out, /^ℹ tests 3$/m);
  assert.match(r.out, /^ℹ pass 3$/m);
  assert.equal(r.err, '');
});

test('test-run: a renamed test folder fails the run, though node\'s runner passes what is left', () => {
  const dir = repo('renamed', 3);
  renameSync(join(dir, 'test/integration'), join(dir, 'test/integ'));
  const r = run(dir, { NEEDS_X: '1' });
  assert.equal(r.status, 1);
  assert.match(r.out, /^ℹ fail 0$/m, 'node saw nothing wrong');
  assert.match(r.err, /counted 2 tests, fewer than the floor of 3/);
  renameSync(join(dir, 'test/unit'), join(dir, 'test/u'));
  const none = run(dir, { NEEDS_X: '1' });
  assert.equal(none.status, 1);
  assert.match(none.err, /no test ran/);
});

test('test-run: with CI set a skipped test fails the run, naming it and why; without CI it passes', () => {
  const dir = repo('skip', 3);
  const local = run(dir);
  assert.equal(local.status, 0, local.err);
  assert.match(local.out, /^ℹ skipped 1$/m);
  const ci = run(dir, { CI: 'true' });
  assert.equal(ci.status, 1);
  assert.match(ci.err, /1 test skipped while CI is set/);
  assert.match(ci.err, /b\.test\.ts: needs x \(x not installed\)/);
});

test('test-run: a failing test keeps node\'s exit code; chosen files run without the floor', () => {
  const dir = repo('fail', 3);
  writeFileSync(join(dir, 'test/unit/c.test.ts'), "import { test } from 'node:test';\ntest('bad', () => { throw new Error('no'); });\n");
  assert.equal(run(dir, { NEEDS_X: '1' }).status, 1);
  const chosen = run(dir, {}, ['test/unit/a.test.ts']);
  assert.equal(chosen.status, 0, chosen.err);
  assert.equal(run(dir, {}, ['test/nothing/**/*.test.ts']).status, 1, 'a pattern matching nothing');
});
