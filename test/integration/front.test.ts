/**
 * The compiled front (wrapper/front.c, docs/decisions.md 32) and the Node part beside it: what a
 * runtime sees when the Node part dies before answering, or is missing, and that everything
 * else — VERSION, the usage line, the env the delegates get — is what the Node part alone gives.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { FRONT_ENV } from '../../src/invoke/front.ts';
import { installCniTrace, installFixtures, PLUGIN_EXECUTABLE } from '../support/fixtures.ts';
import { Sandbox } from '../support/sandbox.ts';

const sb = new Sandbox('front');
after(() => sb.cleanup());

const alive = (pid: number): boolean => {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
};

const childrenOf = (pid: number): number[] => {
  const tasks = `/proc/${pid}/task`;
  return readdirSync(tasks).flatMap((t) => readFileSync(join(tasks, t, 'children'), 'utf8').trim().split(' ').filter(Boolean).map(Number));
};

const addEnv = (bin: string, id: string): Record<string, string> => ({
  CNI_COMMAND: 'ADD', CNI_CONTAINERID: id, CNI_NETNS: '/var/run/netns/none', CNI_IFNAME: 'eth0', CNI_PATH: bin, PATH: '/usr/bin:/bin',
});

test('rule: the Node part dying before it answers — the delegate\'s group is killed and the runtime gets one CNI error', async () => {
  const bin = join(sb.dir, 'bin-die');
  installCniTrace(bin);
  installFixtures(bin, ['fx-slow']);
  const pidFile = join(sb.dir, 'hang.pids');
  const conf = { cniVersion: '1.0.0', name: 'frontnet', type: 'cni-trace', journalDir: join(sb.dir, 'journal-die'), runDir: join(sb.dir, 'run'), delegates: [{ type: 'fx-slow', fx: { mode: 'hang', pidFile } }] };
  const call = execa(join(bin, 'cni-trace'), [], { env: addEnv(bin, 'die'), extendEnv: false, input: JSON.stringify(conf), reject: false });
  for (let i = 0; i < 100 && !existsSync(pidFile); i++) await sleep(50);
  const delegates = readFileSync(pidFile, 'utf8').trim().split(' ').map(Number);
  const node = childrenOf(call.pid!).find((p) => !delegates.includes(p));
  assert.ok(node, 'the front has started its Node part');
  process.kill(node, 'SIGKILL');
  const r = await call;
  assert.equal(r.exitCode, 1);
  const answer = JSON.parse(r.stdout) as { code: number; msg: string; details: string };
  assert.equal(answer.code, 999);
  assert.match(answer.msg, /the tracer exited before answering/);
  assert.equal(answer.details, 'killed by signal 9');
  for (let i = 0; i < 50 && delegates.some(alive); i++) await sleep(100);
  for (const pid of delegates) assert.equal(alive(pid), false, `delegate process ${pid} was killed`);
});

test('rule: the Node part missing — a CNI error naming what to do, for a traced call and for VERSION', async () => {
  const bin = join(sb.dir, 'bin-lonely');
  mkdirSync(bin);
  copyFileSync(`${PLUGIN_EXECUTABLE}-front`, join(bin, 'cni-trace'));
  for (const env of [addEnv(bin, 'lonely'), { CNI_COMMAND: 'VERSION' }]) {
    const r = await execa(join(bin, 'cni-trace'), [], { env, extendEnv: false, input: '{}', reject: false });
    assert.equal(r.exitCode, 1);
    const answer = JSON.parse(r.stdout) as { code: number; msg: string; details: string };
    assert.equal(answer.code, 999);
    assert.equal(answer.msg, 'cni-trace: cannot run the tracer');
    assert.equal(answer.details, 'No such file or directory');
    assert.match(r.stderr, /cannot run the tracer/);
  }
});

test('VERSION, the usage line and the delegates\' env are the Node part\'s own; the front\'s variable is nobody\'s, and the journal names the front\'s pid', async () => {
  const bin = join(sb.dir, 'bin-same');
  installCniTrace(bin);
  installFixtures(bin, ['fx-rec']);
  for (const [env, args] of [[{ CNI_COMMAND: 'VERSION' }, []], [{}, []], [{}, ['--help']]] as const) {
    const via = await execa(join(bin, 'cni-trace'), [...args], { env, extendEnv: false, input: '{}', reject: false });
    const direct = await execa(join(bin, 'cni-trace-node'), [...args], { env, extendEnv: false, input: '{}', reject: false });
    assert.deepEqual([via.exitCode, via.stdout, via.stderr], [direct.exitCode, direct.stdout, direct.stderr]);
  }
  const records = join(sb.dir, 'records');
  mkdirSync(records);
  const journalDir = join(sb.dir, 'journal-same');
  const conf = { cniVersion: '1.0.0', name: 'frontnet', type: 'cni-trace', journalDir, runDir: join(sb.dir, 'run'), delegates: [{ type: 'fx-rec' }] };
  writeFileSync(join(sb.dir, 'same.json'), JSON.stringify(conf));
  // A leftover of the variable in the runtime's env is replaced, not passed on or believed.
  const call = execa(join(bin, 'cni-trace'), [], { env: { ...addEnv(bin, 'same'), FX_RECORD_DIR: records, [FRONT_ENV]: '3:1' }, extendEnv: false, input: JSON.stringify(conf), reject: false });
  const r = await call;
  assert.equal(r.exitCode, 0, r.stderr);
  const [seen] = readdirSync(records).map((f) => JSON.parse(readFileSync(join(records, f), 'utf8')) as { env: Record<string, string> });
  assert.ok(seen && Object.keys(seen.env).includes('CNI_COMMAND'), 'the delegate ran');
  assert.equal(seen.env[FRONT_ENV], undefined, 'the delegate does not see the front\'s variable');
  const journal = readdirSync(journalDir).map((f) => readFileSync(join(journalDir, f), 'utf8')).join('');
  assert.ok(journal.includes('"invocation.end"'), 'the journal is complete when the runtime gets the answer');
  assert.equal(journal.includes(FRONT_ENV), false, 'nor is it journaled');
  const begin = JSON.parse(journal.split('\n').find((l) => l.includes('"invocation.begin"'))!) as { pid: number };
  assert.equal(begin.pid, call.pid, 'the journaled pid is the front\'s: the process the runtime waits on');
});

test('rule: through the front, every journaled time lies within the call as the wall clock saw it (the front\'s clock anchor is wall and monotonic time read together)', async () => {
  const bin = join(sb.dir, 'bin-clock');
  installCniTrace(bin);
  installFixtures(bin, ['fx-rec']);
  const journalDir = join(sb.dir, 'journal-clock');
  const conf = { cniVersion: '1.0.0', name: 'frontnet', type: 'cni-trace', journalDir, runDir: join(sb.dir, 'run'), delegates: [{ type: 'fx-rec' }, { type: 'fx-rec' }] };
  const before = BigInt(Date.now()) * 1_000_000n;
  const r = await execa(join(bin, 'cni-trace'), [], { env: addEnv(bin, 'clock'), extendEnv: false, input: JSON.stringify(conf), reject: false });
  const after = (BigInt(Date.now()) + 1n) * 1_000_000n;
  assert.equal(r.exitCode, 0, r.stderr);
  const times = readdirSync(journalDir).flatMap((f) => readFileSync(join(journalDir, f), 'utf8').trim().split('\n'))
    .map((l) => JSON.parse(l) as { startNs?: string; endNs?: string }).flatMap((rec) => [rec.startNs, rec.endNs]).filter((t): t is string => t !== undefined).map(BigInt);
  assert.equal(times.length, 6, 'begin, two steps\' begin and end, end');
  for (const t of times) assert.ok(t >= before && t <= after, `${t} within [${before}, ${after}]`);
});

test('rule: a delegate\'s stderr reaches the runtime as it is written, while the delegate still runs; the journal keeps it too', { timeout: 60_000 }, async () => {
  const bin = join(sb.dir, 'bin-live');
  installCniTrace(bin);
  // Writes a line, then waits for the test to have seen it on the runtime's side.
  writeFileSync(join(bin, 'fx-talk'), '#!/bin/sh\ncat >/dev/null\necho early >&2\nwhile [ ! -e "$GO_FILE" ]; do sleep 0.05; done\necho late >&2\n', { mode: 0o755 });
  const go = join(sb.dir, 'go-live');
  const journalDir = join(sb.dir, 'journal-live');
  const conf = { cniVersion: '1.0.0', name: 'livenet', type: 'cni-trace', journalDir, runDir: join(sb.dir, 'run'), delegates: [{ type: 'fx-talk' }] };
  const call = execa(join(bin, 'cni-trace'), [], { env: { ...addEnv(bin, 'live'), CNI_COMMAND: 'DEL', GO_FILE: go }, extendEnv: false, input: JSON.stringify(conf), reject: false });
  let seen = '';
  await new Promise<void>((resolve) => call.stderr!.on('data', (c: Buffer) => { seen += c.toString(); if (seen.includes('early')) resolve(); }));
  assert.equal(existsSync(go), false, 'the delegate is still waiting');
  writeFileSync(go, '');
  const r = await call;
  assert.equal(r.exitCode, 0, r.stderr);
  assert.equal(r.stderr, 'early\nlate', 'each byte once, in order');
  const journal = readdirSync(journalDir).map((f) => readFileSync(join(journalDir, f), 'utf8')).join('');
  const end = journal.split('\n').filter((l) => l.includes('"step.end"')).map((l) => JSON.parse(l) as { stderr?: { text: string } });
  assert.equal(end[0]?.stderr?.text, 'early\nlate\n');
});

test('rule: a config on a non-blocking stdin (O_NONBLOCK on its file description) is read whole, also when it comes in parts', { timeout: 60_000 }, async () => {
  const bin = join(sb.dir, 'bin-nb');
  installCniTrace(bin);
  installFixtures(bin, ['fx-ok']);
  const conf = JSON.stringify({ cniVersion: '1.0.0', name: 'nbnet', type: 'cni-trace', journalDir: join(sb.dir, 'journal-nb'), runDir: join(sb.dir, 'run'), delegates: [{ type: 'fx-ok' }] });
  const direct = await execa(join(bin, 'cni-trace'), [], { env: addEnv(bin, 'nb-0'), extendEnv: false, input: conf, reject: false });
  assert.equal(direct.exitCode, 0, direct.stderr);
  // Node's spawn hands a child blocking stdio, so perl (Debian's perl-base is essential) sets the
  // flag and execs the plugin, as a runtime with a non-blocking pipe would leave it.
  const setNonBlocking = 'fcntl(STDIN, F_SETFL, fcntl(STDIN, F_GETFL, 0) | O_NONBLOCK) or die "fcntl: $!"; exec @ARGV or die "exec: $!"';
  const child = spawn('perl', ['-MFcntl', '-e', setNonBlocking, join(bin, 'cni-trace')], { env: addEnv(bin, 'nb-1'), stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
  child.stderr.on('data', (c: Buffer) => { err += c.toString(); });
  child.stdin.write(conf.slice(0, 20));
  await sleep(300); // the first part alone: a read then finds nothing more yet (EAGAIN), not the end
  child.stdin.end(conf.slice(20));
  const [code] = await once(child, 'close') as [number | null];
  assert.equal(code, 0, err);
  assert.equal(out, direct.stdout, 'the same answer as with a blocking pipe');
});
