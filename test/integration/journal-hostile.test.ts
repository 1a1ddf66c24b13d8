/**
 * Local attackers and hostile input (RELIABILITY.md): an unprivileged user, created for the
 * test, plants things in a journal directory that was once world-writable — a FIFO, a symlink,
 * a hard link to a file of root's, forged archives — and the real executable, run by the real
 * libcni driver, must still answer as the bare chain does, within a bound, with tracing
 * degraded; the readers must neither hang on nor trust what it planted.
 */
import assert from 'node:assert/strict';
import { appendFileSync, chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { execa } from 'execa';
import { wrapConflist } from '../../src/cli/conflist.ts';
import type { JsonObject } from '../../src/config/wrapper-entry.ts';
import { readJournal } from '../../src/journal/reader.ts';
import { CLI } from '../support/agent-process.ts';
import { runDriver, type DriverCall, type DriverRun } from '../support/driver.ts';
import { DEBIAN_CNI, installCniTrace, installFixtures } from '../support/fixtures.ts';
import { LocalUser } from '../support/local-user.ts';
import { comparableRun, normalise } from '../support/observe.ts';
import { OtlpReceiver } from '../support/otlp-receiver.ts';
import { Sandbox } from '../support/sandbox.ts';

const sb = new Sandbox('hostile');
const bin = join(sb.dir, 'bin');
let attacker: LocalUser;
let seq = 0;

before(async () => {
  installCniTrace(bin);
  installFixtures(bin, ['fx-ok']);
  // The attacker must reach the journal directories inside the sandbox (search, not list).
  chmodSync(sb.dir, 0o711);
  attacker = await LocalUser.create();
  sb.onCleanup(() => attacker.remove());
});
after(() => sb.cleanup());

/** A journal directory as it was before a repair: world-writable, so the attacker can plant in it. */
function openDir(): string {
  const dir = join(sb.dir, `journal-${seq++}`);
  mkdirSync(dir);
  chmodSync(dir, 0o777);
  return dir;
}

/** Runs `cmd args` as the attacker; it must succeed. */
async function plant(cmd: string, args: string[]): Promise<void> {
  const r = await attacker.run(cmd, args);
  assert.equal(r.exitCode, 0, `${cmd} ${args.join(' ')} as the attacker: ${String(r.stderr)}`);
}

/** One ADD through the bare and the wrapped conflist, each killed by libcni after 10 s (liveness, not timing). */
async function addBoth(journalDir: string, entry: JsonObject = {}): Promise<{ bare: DriverRun; wrapped: DriverRun }> {
  const n = seq++;
  const list: JsonObject = { cniVersion: '1.0.0', name: sb.name(`cth${n}`), plugins: [{ type: 'fx-ok' }] };
  const wrapped = wrapConflist(list, { journalDir }) as { plugins: JsonObject[] };
  const files = { bare: join(sb.dir, `f${n}.bare.conflist`), wrapped: join(sb.dir, `f${n}.wrapped.conflist`) };
  writeFileSync(files.bare, JSON.stringify(list));
  writeFileSync(files.wrapped, JSON.stringify({ ...wrapped, plugins: [{ ...wrapped.plugins[0]!, ...entry }] }));
  const call = (conflist: string): DriverCall => ({
    conflist, id: `hostile${n}`, netns: '/var/run/netns/cnitrace-unused', path: [bin, DEBIAN_CNI], cacheDir: join(sb.dir, `cache-${n}`), timeout: '10s',
  });
  return { bare: await runDriver('add', call(files.bare)), wrapped: await runDriver('add', call(files.wrapped)) };
}

const comparable = (r: DriverRun): unknown => normalise(comparableRun(r));
const degradedLines = (stderr: string): string[] => stderr.split('\n').filter((l) => l.includes('tracing degraded'));

describe('the wrapper meets what an attacker planted as journal.jsonl', () => {
  test('a FIFO: the ADD completes with the bare outcome and one degraded line (it used to hang in open(2))', { timeout: 60_000 }, async () => {
    const dir = openDir();
    await plant('mkfifo', [join(dir, 'journal.jsonl')]);
    const { bare, wrapped } = await addBoth(dir);
    assert.deepEqual(comparable(wrapped), comparable(bare));
    assert.equal(degradedLines(wrapped.stderr).length, 1, wrapped.stderr);
    assert.match(wrapped.stderr, /tracing degraded.*journal\.jsonl/);
  });

  test('a FIFO someone holds open for reading: refused after the open, nothing written into it', { timeout: 60_000 }, async () => {
    const dir = openDir();
    const fifo = join(dir, 'journal.jsonl');
    await plant('mkfifo', ['-m', '666', fifo]);
    // The attacker's reader: whatever reaches the FIFO comes out on its stdout.
    const reader = execa('setpriv', ['--reuid', String(attacker.uid), '--regid', String(attacker.gid), '--clear-groups', '--', 'timeout', '20', 'cat', fifo], { reject: false });
    await new Promise((r) => setTimeout(r, 300));
    try {
      const { bare, wrapped } = await addBoth(dir);
      assert.deepEqual(comparable(wrapped), comparable(bare));
      assert.equal(degradedLines(wrapped.stderr).length, 1, wrapped.stderr);
      assert.match(wrapped.stderr, /tracing degraded.*journal\.jsonl is not a regular file: refused/);
    } finally {
      reader.kill();
    }
    assert.equal(String((await reader).stdout), '', 'no record reached the attacker');
  });

  test('a symlink to a file of root\'s: not followed; the file is untouched', { timeout: 60_000 }, async () => {
    const dir = openDir();
    const victim = join(sb.dir, `victim-${seq++}`);
    writeFileSync(victim, 'victim\n', { mode: 0o600 });
    await plant('ln', ['-s', victim, join(dir, 'journal.jsonl')]);
    const { bare, wrapped } = await addBoth(dir);
    assert.deepEqual(comparable(wrapped), comparable(bare));
    assert.equal(degradedLines(wrapped.stderr).length, 1, wrapped.stderr);
    assert.equal(readFileSync(victim, 'utf8'), 'victim\n');
    assert.equal(statSync(victim).mode & 0o777, 0o600);
  });

  test('a hard link to a file of root\'s: not appended to, its mode not "repaired"', { timeout: 60_000 }, async () => {
    const dir = openDir();
    // protected_hardlinks lets a user link a file it may read and write: a root file left 0666.
    const victim = join(sb.dir, `victim-${seq++}`);
    writeFileSync(victim, 'victim\n');
    chmodSync(victim, 0o666);
    await plant('ln', [victim, join(dir, 'journal.jsonl')]);
    const { bare, wrapped } = await addBoth(dir);
    assert.deepEqual(comparable(wrapped), comparable(bare));
    assert.equal(degradedLines(wrapped.stderr).length, 1, wrapped.stderr);
    assert.match(wrapped.stderr, /tracing degraded.*journal\.jsonl has 2 links: refused/);
    assert.equal(readFileSync(victim, 'utf8'), 'victim\n');
    assert.equal(statSync(victim).mode & 0o777, 0o666);
  });
});

describe('forged archives in a once world-writable journal directory', () => {
  test('are neither pruned in place of real archives nor read as real records', { timeout: 60_000 }, async () => {
    const dir = openDir();
    const victim = join(sb.dir, `victim-${seq++}`);
    writeFileSync(victim, 'victim\n');
    // A forged record of a valid shape, in names that sort after every real archive.
    const forged = JSON.stringify({
      rec: 'invocation.begin', v: 1, traceId: 'f'.repeat(32), spanId: 'f'.repeat(16), traceFlags: '01', startNs: '1795851734423916188',
      command: 'ADD', containerId: 'forged', netns: '', ifname: 'eth0', network: 'x', cniVersion: '1.0.0', pod: {}, env: {}, stdin: {}, delegates: [], pid: 1,
    });
    await plant('sh', ['-c', `printf '%s\\n' '${forged}' > ${join(dir, 'journal-9999999999999999999-1.jsonl')}`]);
    await plant('ln', ['-s', victim, join(dir, 'journal-9999999999999999998-1.jsonl')]);
    // Small files: every call rotates; two archives kept.
    for (let i = 0; i < 4; i++) {
      const { bare, wrapped } = await addBoth(dir, { journalMaxFileBytes: 1000, journalMaxFiles: 2 });
      assert.deepEqual(comparable(wrapped), comparable(bare));
      assert.equal(degradedLines(wrapped.stderr).length, 0, wrapped.stderr);
    }
    const real = readdirSync(dir).filter((n) => /^journal-\d{19}-\d+\.jsonl$/.test(n) && statSync(join(dir, n)).uid === 0 && !n.startsWith('journal-99999'));
    assert.equal(real.length, 2, `the real archives kept: ${readdirSync(dir).join(' ')}`);
    assert.ok(existsSync(join(dir, 'journal-9999999999999999999-1.jsonl')), 'the forged file is not ours to delete');
    assert.equal(readFileSync(victim, 'utf8'), 'victim\n');
    const containers = readJournal(dir).map((r) => (r.rec === 'invocation.begin' ? r.containerId : null)).filter(Boolean);
    assert.ok(!containers.includes('forged'), 'the forged record is not read');
    assert.ok(containers.length >= 1);
    const tail = await execa(process.execPath, [CLI, 'tail', '--journal', dir], { reject: false, timeout: 20_000 });
    assert.equal(tail.exitCode, 0, tail.stderr);
    assert.doesNotMatch(tail.stdout, /forged/);
    assert.match(tail.stderr, new RegExp(`not reading ${dir}/journal-9999999999999999999-1\\.jsonl: owned by uid ${attacker.uid}`));
    assert.match(tail.stderr, /not reading .*journal-9999999999999999998-1\.jsonl: a symlink/);
  });
});

describe('readers meet a FIFO, a device and a symlink among journal files', () => {
  test('tail, stats, show and agent --once finish, print the real invocation (a mistyped record beside it skipped), and say once what they did not read', { timeout: 120_000 }, async () => {
    const dir = openDir();
    // Planted before the first call repairs the directory's mode, as archives that sort first.
    await plant('mkfifo', [join(dir, 'journal-0000000000000000001-1.jsonl')]);
    await plant('ln', ['-s', '/dev/zero', join(dir, 'journal-0000000000000000002-1.jsonl')]);
    await execa('mknod', [join(dir, 'journal-0000000000000000003-1.jsonl'), 'c', '1', '5']); // /dev/zero's numbers, root's
    const { bare, wrapped } = await addBoth(dir);
    assert.deepEqual(comparable(wrapped), comparable(bare));
    // And a record of the wrong shape in the real journal: a copy of the begin with startNs an object.
    const active = join(dir, 'journal.jsonl');
    const begin = JSON.parse(readFileSync(active, 'utf8').split('\n')[0]!) as Record<string, unknown>;
    appendFileSync(active, JSON.stringify({ ...begin, spanId: 'e'.repeat(16), startNs: { n: 1 } }) + '\n');
    const cli = (args: string[]) => execa(process.execPath, [CLI, ...args, '--journal', dir], { reject: false, timeout: 20_000 });
    const refusals = /not reading .*01-1\.jsonl: not a regular file\nnot reading .*02-1\.jsonl: a symlink\nnot reading .*03-1\.jsonl: not a regular file/;
    const tail = await cli(['tail']);
    assert.equal(tail.exitCode, 0, tail.stderr);
    assert.equal(tail.stdout.trim().split('\n').length, 1);
    assert.match(tail.stdout, /ADD\s+ok/);
    assert.equal(tail.stderr.split('\n').filter((l) => l.includes('not reading')).length, 3, tail.stderr);
    assert.match(tail.stderr.replace(/cni-trace: /g, ''), refusals);
    const stats = await cli(['stats']);
    assert.equal(stats.exitCode, 0, stats.stderr);
    assert.match(stats.stdout, /^1 invocations/);
    const traceId = (JSON.parse((await cli(['tail', '--json'])).stdout) as { traceId: string }).traceId;
    const show = await execa(process.execPath, [CLI, 'show', traceId, '--journal', dir], { reject: false, timeout: 20_000 });
    assert.equal(show.exitCode, 0, show.stderr);
    assert.match(show.stdout, /^ADD ok/);
    const receiver = new OtlpReceiver();
    await receiver.start();
    try {
      const agent = await execa(process.execPath, [CLI, 'agent', '--once', '--journal', dir, '--state-dir', join(sb.dir, `state-${seq++}`),
        '--endpoint', `http://127.0.0.1:${receiver.port}`, '--metrics-exporter', 'none'], { reject: false, timeout: 60_000 });
      assert.equal(agent.exitCode, 0, agent.stderr);
      assert.match(agent.stderr, /not reading .*journal-0000000000000000001-1\.jsonl: not a regular file/);
      assert.match(agent.stderr, /skipped a line that is not a whole record of a known shape/);
      assert.deepEqual(receiver.spans.filter((sp) => sp.parentSpanId === '').map((sp) => sp.traceId), [traceId], 'the real invocation is exported');
    } finally {
      await receiver.stop();
    }
  });
});
