/**
 * The npm scripts' flags: --help prints the usage and exits 0; a mistake prints one line and
 * the usage and exits 2, with no stack trace and before anything is created.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { ROOT } from '../support/fixtures.ts';

const run = (script: string, args: readonly string[]) => spawnSync(process.execPath, [script, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NODE_EXTRA_CA_CERTS: '' } });

test('npm run demo, image and bench: --help is the usage, exit 0', () => {
  for (const [script, usage] of [['scripts/demo.ts', /^Usage: npm run demo -- \[--pods N\]/], ['scripts/image.ts', /^Usage: npm run image -- \[--tag NAME\]/], ['bench/run.ts', /^Usage: npm run bench -- \[N\] \[--quick\]/]] as const) {
    const r = run(script, ['--help']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, usage);
  }
});

test('a bad flag or value is one line and the usage, exit 2, never a stack trace', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['scripts/demo.ts', ['--pods', 'x'], /^demo: --pods must be a whole number ≥ 7, got "x"\n\nUsage: /],
    ['scripts/demo.ts', ['--bogus'], /^demo: Unknown option '--bogus'/],
    ['scripts/image.ts', ['--nope'], /^image: Unknown option '--nope'/],
    ['bench/run.ts', ['abc'], /^bench: N must be a whole number ≥ 1, got "abc"/],
    ['bench/run.ts', ['3', '4'], /^bench: one N, got 3 4/],
    ['bench/run.ts', ['3', '--chain-n', '0'], /^bench: --chain-n must be a whole number ≥ 1, got "0"/],
  ];
  for (const [script, args, message] of cases) {
    const r = run(script, args);
    assert.equal(r.status, 2, `${script} ${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    assert.equal(r.stdout, '', 'nothing started');
  }
});
