/**
 * Running the delegates of one command (src/plugin/chain.ts), called directly with a fake exec
 * (the exec layer is the boundary: no process runs) over empty plugin files that findInPath
 * resolves: libcni's order and stopping rules per command, prevResult threading, the error the
 * runtime gets when a delegate fails, GC's attachments, what each delegate's env holds, and the
 * nested calls a delegate made (spooled by the fake exec as the shim would spool them).
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { CniEnv } from '../../src/cni/env.ts';
import { isCniError } from '../../src/cni/errors.ts';
import { credentialKeyMatcher } from '../../src/config/redact.ts';
import { parseWrapperEntry, type JsonObject, type WrapperEntry } from '../../src/config/wrapper-entry.ts';
import { STDERR_KEEP_BYTES, type ExecOutcome, type ExecRequest, type PluginExec } from '../../src/invoke/exec.ts';
import type { DelegateGuard } from '../../src/invoke/reaper.ts';
import { ACTIVE_FILE, Journal } from '../../src/journal/writer.ts';
import { delegateFailure, runChain, type ChainContext } from '../../src/plugin/chain.ts';
import { NestedTracer } from '../../src/plugin/nested.ts';
import { InvocationRecorder } from '../../src/plugin/recorder.ts';
import { monotonicNs } from '../../src/trace/clock.ts';
import { ensureShim } from '../../scripts/build-shim.ts';

const root = mkdtempSync(join(tmpdir(), 'cnitrace-unit-chain-'));
const bin = join(root, 'bin');
before(() => {
  ensureShim();
  mkdirSync(bin);
  for (const name of ['fx-a', 'fx-b', 'fx-c']) {
    writeFileSync(join(bin, name), '');
    chmodSync(join(bin, name), 0o755);
  }
});
after(() => rmSync(root, { recursive: true, force: true }));

const EMPTY = Buffer.alloc(0);
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

function ok(stdout: string | Buffer = ''): ExecOutcome {
  return { exitCode: 0, signal: null, stdout: Buffer.from(stdout), stderr: EMPTY, stderrBytes: 0, spawnError: null, pid: 7, startMono: 0n, endMono: 1n };
}
function failed(o: Partial<ExecOutcome>): ExecOutcome {
  return { ...ok(), exitCode: 1, ...o };
}

/** What the fake exec was asked to run, and what it answers per plugin (in call order). */
interface Fake { exec: PluginExec; calls: ExecRequest[]; names: () => string[]; stdins: () => JsonObject[] }
function fake(answer: (plugin: string, req: ExecRequest) => ExecOutcome | Promise<ExecOutcome>): Fake {
  const calls: ExecRequest[] = [];
  const base = (p: string): string => p.slice(p.lastIndexOf('/') + 1);
  return {
    exec: { run: async (req) => { calls.push(req); return answer(base(req.path), req); } },
    calls,
    names: () => calls.map((c) => base(c.path)),
    stdins: () => calls.map((c) => JSON.parse(c.stdin) as JsonObject),
  };
}

let seq = 0;
function entry(conf: Partial<JsonObject> & { delegates: JsonObject[] }): WrapperEntry {
  const e = parseWrapperEntry({ cniVersion: '1.1.0', name: 'net', type: 'cni-trace', journalDir: join(root, `j-${seq++}`), nested: false, ...conf });
  assert.ok(!isCniError(e), JSON.stringify(e));
  return e;
}

interface Run { out: Awaited<ReturnType<typeof runChain>>; records: Array<Record<string, unknown>>; stderr: string }
async function run(command: CniEnv['command'], e: WrapperEntry, f: Fake, extra: Partial<ChainContext> = {}, processEnv: Record<string, string | undefined> = {}): Promise<Run> {
  const env: CniEnv = { command, containerId: 'ctr1', netns: '/var/run/netns/x', ifname: 'eth0', args: '', path: `${join(root, 'nothing-here')}:${bin}` };
  const journal = new Journal({ dir: e.journalDir, maxFileBytes: 1 << 20, maxFiles: 2, onDegraded: (why) => assert.fail(why) });
  const recorder = new InvocationRecorder({ journal, env: {}, isCredential: credentialKeyMatcher([]), captureMaxBytes: e.captureMaxBytes });
  let stderr = '';
  const out = await runChain({ entry: e, env, processEnv: { CNI_PATH: env.path, ...processEnv }, exec: f.exec, recorder, forwardStderr: (c) => { stderr += c.toString(); }, ...extra });
  const file = join(e.journalDir, ACTIVE_FILE);
  const records = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l).map((l) => JSON.parse(l) as Record<string, unknown>) : [];
  return { out, records, stderr };
}

const A = { type: 'fx-a' };
const B = { type: 'fx-b' };
const C = { type: 'fx-c' };
const errorDoc = (code: number, msg: string): string => JSON.stringify({ cniVersion: '1.1.0', code, msg });
/** The error document the wrapper itself prints. */
const errorOut = (code: number, msg: string): string => JSON.stringify({ cniVersion: '1.1.0', code, msg });

test('rule: ADD runs the delegates in order, each getting the one before\'s result (with the config\'s cniVersion when it has none or an empty one) as prevResult; the runtime gets the last result byte for byte', async () => {
  const last = Buffer.from('{ "cniVersion": "1.0.0",  "ips": [] }');
  const f = fake((p) => ok(p === 'fx-a' ? '{"cniVersion":"1.0.0","ips":[1]}' : p === 'fx-b' ? '{"cniVersion":"","ips":[2]}' : last));
  const { out, records } = await run('ADD', entry({ delegates: [A, B, C] }), f);
  assert.deepEqual(f.names(), ['fx-a', 'fx-b', 'fx-c']);
  assert.deepEqual(f.stdins().map((s) => s.prevResult), [undefined, { cniVersion: '1.0.0', ips: [1] }, { ips: [2], cniVersion: '1.1.0' }], 'a result\'s own version is kept');
  assert.deepEqual(out, { stdout: last, exitCode: 0 });
  assert.deepEqual(records.map((r) => `${String(r.rec)} ${String(r.plugin)} ${String(r.status ?? '')}`), ['step.begin fx-a ', 'step.end fx-a ok', 'step.begin fx-b ', 'step.end fx-b ok', 'step.begin fx-c ', 'step.end fx-c ok']);
  assert.deepEqual(records.filter((r) => r.rec === 'step.begin').map((r) => [r.index, r.path]), [[0, join(bin, 'fx-a')], [1, join(bin, 'fx-b')], [2, join(bin, 'fx-c')]]);
  // A result that is JSON but not an object becomes an empty result of the config's version.
  const arr = fake((p) => ok(p === 'fx-a' ? '[1,2]' : '{}'));
  await run('ADD', entry({ delegates: [A, B] }), arr);
  assert.deepEqual(arr.stdins()[1]!.prevResult, { cniVersion: '1.1.0' });
});

test('rule: ADD stops at the first failing delegate; its error document reaches the runtime verbatim with its exit code', async () => {
  const doc = errorDoc(11, 'no addresses left');
  const f = fake((p) => (p === 'fx-b' ? failed({ exitCode: 3, stdout: Buffer.from(doc) }) : ok('{}')));
  const { out, records } = await run('ADD', entry({ delegates: [A, B, C] }), f);
  assert.deepEqual(f.names(), ['fx-a', 'fx-b']);
  assert.deepEqual(out, { failed: true, stdout: Buffer.from(doc), exitCode: 3, error: { code: 11, msg: 'no addresses left' } });
  assert.deepEqual(records.filter((r) => r.rec === 'step.end').map((r) => [r.plugin, r.status, r.error]), [['fx-a', 'ok', undefined], ['fx-b', 'error', { code: 11, msg: 'no addresses left' }]]);
});

test('rule: an ADD result that is not JSON, or deeper than Go decodes, fails the chain with libcni\'s words and stops it', async () => {
  for (const [stdout, msg] of [
    ['{"ips": [', 'failed to unmarshal raw result: unexpected end of JSON input'],
    ['not json', 'failed to unmarshal raw result: invalid character \'o\' in literal null (expecting \'u\')'],
    [`${'['.repeat(10_001)}${']'.repeat(10_001)}`, 'failed to unmarshal raw result: invalid character \'[\' exceeded max depth'],
  ] as const) {
    const f = fake(() => ok(stdout));
    const { out } = await run('ADD', entry({ delegates: [A, B] }), f);
    assert.deepEqual(f.names(), ['fx-a']);
    assert.deepEqual(out, { stdout: errorOut(999, msg), exitCode: 1, error: { code: 999, msg } });
  }
});

test('rule: CHECK runs in order and DEL in reverse, each with the runtime\'s prevResult, stopping at the first error; STATUS in order without one', async () => {
  const prevResult = { cniVersion: '1.1.0', ips: [{ address: '10.0.0.2/24' }] };
  for (const [command, order] of [['CHECK', ['fx-a', 'fx-b', 'fx-c']], ['DEL', ['fx-c', 'fx-b', 'fx-a']], ['STATUS', ['fx-a', 'fx-b', 'fx-c']]] as const) {
    const f = fake(() => ok('ignored'));
    const { out, records } = await run(command, entry({ delegates: [A, B, C], prevResult }), f);
    assert.deepEqual(f.names(), order, command);
    assert.deepEqual(f.stdins().map((s) => s.prevResult), order.map(() => (command === 'STATUS' ? undefined : prevResult)), command);
    assert.deepEqual(out, { stdout: '', exitCode: 0 });
    assert.deepEqual(records.filter((r) => r.rec === 'step.begin').map((r) => r.index), command === 'DEL' ? [2, 1, 0] : [0, 1, 2]);
    const stops = fake((p) => (p === 'fx-b' ? failed({ exitCode: 2, stderr: Buffer.from('boom') }) : ok()));
    const stopped = await run(command, entry({ delegates: [A, B, C], prevResult }), stops);
    assert.deepEqual(stops.names(), order.slice(0, 2), `${command} stops at fx-b`);
    assert.equal(stopped.out.exitCode, 2);
    assert.deepEqual(stopped.out.error, { code: 0, msg: 'netplugin failed: "boom"' });
  }
});

test('rule: GC runs every delegate past failures, with the attachments under both keys; one failure is answered as it is, several joined', async () => {
  const attachments = [{ containerID: 'c1', ifname: 'eth0' }];
  for (const key of ['cni.dev/valid-attachments', 'cni.dev/attachments']) {
    const f = fake(() => ok());
    const { out } = await run('GC', entry({ delegates: [A, B], [key]: attachments }), f);
    assert.deepEqual(out, { stdout: '', exitCode: 0 });
    for (const s of f.stdins()) assert.deepEqual([s['cni.dev/valid-attachments'], s['cni.dev/attachments'], s.prevResult], [attachments, attachments, undefined], key);
  }
  const none = fake(() => ok());
  await run('GC', entry({ delegates: [A] }), none);
  assert.deepEqual(['cni.dev/valid-attachments' in none.stdins()[0]!, 'cni.dev/attachments' in none.stdins()[0]!], [false, false]);
  // valid-attachments wins over the old name.
  const both = fake(() => ok());
  await run('GC', entry({ delegates: [A], 'cni.dev/valid-attachments': attachments, 'cni.dev/attachments': [] }), both);
  assert.deepEqual(both.stdins()[0]!['cni.dev/attachments'], attachments);

  const one = fake((p) => (p === 'fx-a' ? failed({ exitCode: 4, stdout: Buffer.from(errorDoc(11, 'a broke')) }) : ok()));
  const single = await run('GC', entry({ delegates: [A, B, C] }), one);
  assert.deepEqual(one.names(), ['fx-a', 'fx-b', 'fx-c']);
  assert.equal(single.out.exitCode, 4);
  assert.deepEqual(single.out.error, { code: 11, msg: 'failed to GC plugin fx-a: a broke' });
  assert.deepEqual(single.out.stdout, Buffer.from(errorDoc(11, 'a broke')), 'the delegate\'s own document');

  const two = fake((p) => (p === 'fx-b' ? ok() : failed({ exitCode: 5, stdout: Buffer.from(errorDoc(p === 'fx-a' ? 11 : 7, `${p} broke`)) })));
  const several = await run('GC', entry({ delegates: [A, B, C] }), two);
  const msg = 'failed to GC plugin fx-a: fx-a broke\nfailed to GC plugin fx-c: fx-c broke';
  assert.deepEqual(several.out, { stdout: errorOut(11, msg), exitCode: 1, error: { code: 11, msg } });
});

test('rule: a command the chain does not know is refused with code 4; a delegate not in CNI_PATH is journaled with no path and fails with libcni\'s words', async () => {
  const f = fake(() => ok('{}'));
  const unknown = await run('VERSION', entry({ delegates: [A] }), f);
  assert.deepEqual(unknown.out, { stdout: errorOut(4, 'unknown CNI_COMMAND: VERSION'), exitCode: 1, error: { code: 4, msg: 'unknown CNI_COMMAND: VERSION' } });
  assert.deepEqual(f.calls, []);
  const missing = await run('ADD', entry({ delegates: [A, { type: 'fx-missing' }, C] }), f);
  const msg = `failed to find plugin "fx-missing" in path [${join(root, 'nothing-here')} ${bin}]`;
  assert.deepEqual(f.names(), ['fx-a']);
  assert.deepEqual([missing.out.exitCode, missing.out.error, missing.out.stdout], [1, { code: 7, msg }, errorOut(7, msg)]);
  const [b, e] = missing.records.filter((r) => r.plugin === 'fx-missing');
  assert.deepEqual([b!.rec, b!.path, e!.rec, e!.status, e!.pid, e!.error], ['step.begin', null, 'step.end', 'error', null, { code: 7, msg }]);
});

test('rule: a delegate gets the wrapper\'s whole env with its step\'s TRACEPARENT, the stderr forwarder, the reaper, and keeps at least the capture size of stderr', async () => {
  const f = fake((_p, req) => { req.onStderr!(Buffer.from('relayed')); return ok('{}'); });
  const reaper = { removeOnDeath: () => {}, release: () => {} } as unknown as DelegateGuard;
  const { records, stderr } = await run('ADD', entry({ delegates: [A], captureMaxBytes: 4 * STDERR_KEEP_BYTES }), f, { reaper }, { HOME: '/root', UNSET: undefined, TRACEPARENT: `00-${TRACE}-00f067aa0ba902b7-01` });
  const req = f.calls[0]!;
  const step = records[0]!;
  assert.deepEqual(req.env, { CNI_PATH: `${join(root, 'nothing-here')}:${bin}`, HOME: '/root', TRACEPARENT: `00-${String(step.traceId)}-${String(step.spanId)}-01` });
  assert.equal(req.reaper, reaper);
  assert.equal(req.keepStderrBytes, 4 * STDERR_KEEP_BYTES);
  assert.equal(stderr, 'relayed', 'the delegate\'s stderr is forwarded as it comes');
  const small = fake(() => ok('{}'));
  await run('ADD', entry({ delegates: [A], captureMaxBytes: 1 }), small);
  assert.equal(small.calls[0]!.keepStderrBytes, STDERR_KEEP_BYTES);
  assert.equal('reaper' in small.calls[0]!, false);
  assert.equal(small.stdins()[0]!.name, 'net');
});

test('rule: the journal is written once each delegate is on its way (onStarted): the step\'s begin and what came before it, in order; the rest when the chain returns', async () => {
  const e = entry({ delegates: [A, B] });
  const file = join(e.journalDir, ACTIVE_FILE);
  const seen: string[][] = [];
  const recs = (): string[] => existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l).map((l) => { const r = JSON.parse(l) as { rec: string; plugin: string }; return `${r.rec} ${r.plugin}`; }) : [];
  const f = fake((_p, req) => {
    seen.push(recs());
    req.onStarted!();
    seen.push(recs());
    return ok('{}');
  });
  const { records } = await run('DEL', e, f);
  assert.deepEqual(seen, [
    [], ['step.begin fx-b'],
    ['step.begin fx-b'], ['step.begin fx-b', 'step.end fx-b', 'step.begin fx-a'],
  ]);
  assert.deepEqual(records.map((r) => `${String(r.rec)} ${String(r.plugin)}`), ['step.begin fx-b', 'step.end fx-b', 'step.begin fx-a', 'step.end fx-a']);
});

test('rule: a failed delegate\'s error is libcni\'s: its error document, or "netplugin failed" quoting stderr, stdout, or why it did not run; the exit code is the delegate\'s when positive, else 1', () => {
  const doc = (o: Partial<ExecOutcome>) => delegateFailure(failed(o), '1.0.0');
  assert.deepEqual(doc({ exitCode: 7, stdout: Buffer.from('{"code":11,"msg":"m","details":"d"}') }), { failed: true, stdout: Buffer.from('{"code":11,"msg":"m","details":"d"}'), exitCode: 7, error: { code: 11, msg: 'm', details: 'd' } });
  assert.deepEqual(doc({ exitCode: 2, stdout: Buffer.from('{}') }).error, { code: 0, msg: '' });
  assert.deepEqual(doc({ exitCode: 2, stdout: Buffer.from('null') }).error, { code: 0, msg: '' });
  const err = (code: number, msg: string, exitCode: number) => ({ failed: true, stdout: JSON.stringify({ cniVersion: '1.0.0', code, msg }), exitCode, error: { code, msg } });
  assert.deepEqual(doc({ exitCode: 2, stderr: Buffer.from('bad "thing"\n') }), err(0, 'netplugin failed: "bad \\"thing\\"\\n"', 2));
  assert.deepEqual(doc({ exitCode: 3 }), err(0, 'netplugin failed with no error message: exit status 3', 3));
  assert.deepEqual(doc({ exitCode: null, signal: 'SIGKILL' }), err(0, 'netplugin failed with no error message: signal: killed', 1));
  assert.deepEqual(doc({ exitCode: 0, signal: 'SIGTERM' }), err(0, 'netplugin failed with no error message: signal: terminated', 1));
  assert.deepEqual(doc({ exitCode: null, spawnError: 'fork/exec /bin/x: permission denied', stderr: EMPTY }), err(0, 'netplugin failed with no error message: fork/exec /bin/x: permission denied', 1));
  assert.deepEqual(doc({ exitCode: 1, stdout: Buffer.from('oops'), stderr: Buffer.from('ignored') }),
    err(0, 'netplugin failed but error parsing its diagnostic message "oops": invalid character \'o\' looking for beginning of value', 1));
});

/** Spools one nested call into the tracer's calls/ as the shim does (v1 for a plugin, c1 for a command). */
function spool(t: NestedTracer, span: string, c: { plugin: string; start: number; end?: string; env?: string; argv?: string[]; traceparent?: string; out?: string }): void {
  const calls = join(t.dir, 'calls');
  const path = `/opt/cni/bin/${c.plugin}`;
  const third = c.argv ? (c.traceparent ?? '') : (c.env ?? '');
  const fourth = c.argv ? c.argv.join('\0') : '{}';
  const head = `${c.argv ? 'c1' : 'v1'} ${c.start} ${Buffer.byteLength(c.plugin)} ${Buffer.byteLength(path)} ${Buffer.byteLength(third)} ${Buffer.byteLength(fourth)}\n`;
  writeFileSync(join(calls, `${span}.begin`), head + c.plugin + path + third + fourth);
  if (c.out !== undefined) writeFileSync(join(calls, `${span}.out`), c.out);
  if (c.end !== undefined) writeFileSync(join(calls, `${span}.end`), c.end);
}

test('rule: the calls a delegate made are journaled before its end, under their callers, failed only when they finished badly (a command\'s exit status is its answer); a failure\'s output loses the shim directory', async () => {
  const t = NestedTracer.create(join(root, 'run'), 'abcdef0123456789', bin, [bin]);
  assert.ok(t instanceof NestedTracer, String(t));
  try {
    const now = monotonicNs();
    const f = fake((_p, req) => {
      const tp = req.env.TRACEPARENT!;
      spool(t, '1111111111111111', { plugin: 'host-local', start: Number(now), end: `exit 0 ${now + 5n} 2 0`, env: `CNI_COMMAND=ADD\0TRACEPARENT=${tp}`, out: '{}' });
      spool(t, '2222222222222222', { plugin: 'killed', start: Number(now + 1n), end: `signal 9 ${now + 6n} 0 0`, env: 'CNI_COMMAND=ADD' });
      spool(t, '3333333333333333', { plugin: 'odd', start: Number(now + 2n), end: `signal 200 ${now + 6n} 0 0` });
      spool(t, '4444444444444444', { plugin: 'iptables', start: Number(now + 3n), end: `exit 1 ${now + 7n} 0 0`, argv: ['iptables', '-C', 'X'], traceparent: tp });
      spool(t, '5555555555555555', { plugin: 'running', start: Number(now + 4n) });
      spool(t, '6666666666666666', { plugin: 'failing', start: Number(now + 5n), end: `exit 2 ${now + 8n} 0 0`, env: 'CNI_COMMAND=ADD' });
      return failed({ exitCode: 1, stdout: Buffer.from(`{"code":7,"msg":"no plugin in [${t.binDir} ${bin}]"}`), stderr: Buffer.from(`path ${t.binDir}:${bin}`) });
    });
    const { out, records } = await run('ADD', entry({ delegates: [A] }), f, { nested: t });
    assert.equal(f.calls[0]!.env.CNI_PATH, t.cniPath, 'the delegate finds the shims first');
    const step = records[0]!;
    const ends = records.filter((r) => r.rec === 'step.end');
    assert.deepEqual(ends.map((r) => r.spanId), ['1111111111111111', '2222222222222222', '3333333333333333', '4444444444444444', '6666666666666666', step.spanId], 'children end before their delegate');
    const by = (span: string) => ({ begin: records.find((r) => r.rec === 'step.begin' && r.spanId === span)!, end: ends.find((r) => r.spanId === span) });
    assert.deepEqual(records.filter((r) => r.rec === 'step.begin').map((r) => r.parentSpanId), [undefined, step.spanId, step.spanId, step.spanId, step.spanId, step.spanId, step.spanId]);
    assert.deepEqual([by('1111111111111111').end!.status, by('1111111111111111').end!.exitCode, by('1111111111111111').end!.signal, 'error' in by('1111111111111111').end!], ['ok', 0, null, false]);
    assert.deepEqual([by('2222222222222222').end!.status, by('2222222222222222').end!.exitCode, by('2222222222222222').end!.signal], ['error', null, 'SIGKILL']);
    assert.deepEqual((by('2222222222222222').end!.error as { msg: string }).msg, 'netplugin failed with no error message: signal: killed');
    assert.equal(by('3333333333333333').end!.signal, 'SIG200');
    assert.deepEqual([by('4444444444444444').end!.status, by('4444444444444444').end!.exitCode, 'error' in by('4444444444444444').end!], ['error', 1, false]);
    assert.deepEqual([by('5555555555555555').begin.rec, by('5555555555555555').end], ['step.begin', undefined]);
    assert.deepEqual([by('6666666666666666').end!.status, by('6666666666666666').end!.error], ['error', { code: 0, msg: 'netplugin failed with no error message: exit status 2' }]);
    // The runtime reads the failure as it would without tracing.
    assert.deepEqual([out.exitCode, out.stdout.toString()], [1, `{"code":7,"msg":"no plugin in [${bin}]"}`]);
    assert.equal(String((ends.at(-1)!.stderr as { text: string }).text), `path ${bin}`);
    // A success's output is the delegate's, untouched.
    const clean = fake(() => ok(`{"note":"${t.binDir}"}`));
    const good = await run('ADD', entry({ delegates: [A] }), clean, { nested: t });
    assert.equal(good.out.stdout.toString(), `{"note":"${t.binDir}"}`);
  } finally {
    t.dispose();
  }
});

test('rule: with commands traced, delegates get PATH with the command shims first; without PATH, nesting or commands it stays; a failure to make them is one stderr line', async () => {
  const t = NestedTracer.create(join(root, 'run-cmd'), '0123456789abcdef', bin, [bin]);
  assert.ok(t instanceof NestedTracer, String(t));
  try {
    const e = { ...entry({ delegates: [A] }), commands: ['ip'] };
    const f = fake(() => ok('{}'));
    await run('ADD', e, f, { nested: t }, { PATH: '/usr/sbin:/usr/bin' });
    assert.equal(f.calls[0]!.env.PATH, `${t.dir}/cmd:/usr/sbin:/usr/bin`);
    for (const [ctxExtra, env, ent] of [[{ nested: t }, {}, e], [{}, { PATH: '/usr/bin' }, e], [{ nested: t }, { PATH: '/usr/bin' }, { ...e, commands: [] }]] as const) {
      const g = fake(() => ok('{}'));
      const r = await run('ADD', ent, g, ctxExtra, env);
      assert.equal(g.calls[0]!.env.PATH, (env as { PATH?: string }).PATH);
      assert.equal(r.stderr, '');
    }
  } finally {
    t.dispose();
  }
  // A tracer whose directory is gone cannot link the command shims: PATH as given, one line.
  const gone = NestedTracer.create(join(root, 'run-gone'), '1123456789abcdef', bin, [bin]);
  assert.ok(gone instanceof NestedTracer, String(gone));
  rmSync(gone.dir, { recursive: true });
  try {
    const f = fake(() => ok('{}'));
    const r = await run('ADD', { ...entry({ delegates: [A] }), commands: ['ip'] }, f, { nested: gone }, { PATH: '/usr/bin' });
    assert.equal(f.calls[0]!.env.PATH, '/usr/bin');
    assert.match(r.stderr, /^cni-trace: command tracing off for this call, the network operation is unaffected: cannot prepare command tracing in .*: ENOENT\n$/);
  } finally {
    gone.dispose();
  }
});
