/**
 * The records one invocation leaves in the journal (src/plugin/recorder.ts), called directly
 * with a real journal in a temp dir and hand-made exec outcomes (no process runs): the trace
 * context, each record's fields, what is redacted, nested calls and traced commands, and that
 * a record that cannot be built turns tracing off instead of failing the call.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { CniEnv } from '../../src/cni/env.ts';
import { cniError } from '../../src/cni/errors.ts';
import { credentialKeyMatcher } from '../../src/config/redact.ts';
import type { JsonObject } from '../../src/config/wrapper-entry.ts';
import type { ExecOutcome } from '../../src/invoke/exec.ts';
import { bootId } from '../../src/journal/boot.ts';
import { ACTIVE_FILE, Journal } from '../../src/journal/writer.ts';
import type { NestedCall } from '../../src/plugin/nested.ts';
import { InvocationRecorder, type RecorderOptions } from '../../src/plugin/recorder.ts';
import { epochNs, epochNsAt } from '../../src/trace/clock.ts';

const root = mkdtempSync(join(tmpdir(), 'cnitrace-unit-recorder-'));
after(() => rmSync(root, { recursive: true, force: true }));

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';
const SECRET = 'hunter2-secret';
const ENV: CniEnv = { command: 'DEL', containerId: 'ctr1', netns: '/var/run/netns/x', ifname: 'eth0', args: 'K8S_POD_NAMESPACE=shop;K8S_POD_NAME=cart', path: '/opt/cni/bin' };

type Rec = Record<string, unknown>;
let seq = 0;

/** A recorder over a fresh journal; `records()` reads back what it wrote, line by line. */
function recorder(opts: Partial<RecorderOptions> = {}): { r: InvocationRecorder; records: () => Rec[]; degraded: string[]; dir: string } {
  const dir = join(root, `j-${seq++}`);
  const degraded: string[] = [];
  const journal = new Journal({ dir, maxFileBytes: 1 << 20, maxFiles: 2, onDegraded: (why) => degraded.push(why) });
  const r = new InvocationRecorder({ journal, env: {}, isCredential: credentialKeyMatcher(['mykey']), captureMaxBytes: 64, ...opts });
  const records = (): Rec[] => {
    r.flush();
    const file = join(dir, ACTIVE_FILE);
    return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Rec) : [];
  };
  return { r, records, degraded, dir };
}

function outcome(o: Partial<ExecOutcome> = {}): ExecOutcome {
  return { exitCode: 0, signal: null, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), stderrBytes: 0, spawnError: null, pid: 4242, startMono: 1_000n, endMono: 5_000n, ...o };
}

function call(c: Partial<NestedCall> = {}): NestedCall {
  return {
    spanId: 'aaaaaaaaaaaaaaaa', plugin: 'host-local', path: '/opt/cni/bin/host-local', startNs: 1_000_000n, endNs: 1_000_700n, exitCode: 0, signal: null,
    env: {}, stdin: Buffer.alloc(0), stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), stdoutBytes: 0, stderrBytes: 0, ...c,
  };
}

test('rule: an invocation joins the runtime\'s trace from TRACEPARENT (trace id, parent span, flags); without a valid one it starts its own, flags 01', () => {
  const joined = recorder({ env: { TRACEPARENT: `00-${TRACE}-${PARENT}-00` } });
  joined.r.begin(ENV, 'net', '1.0.0', {}, []);
  const begin = joined.records()[0]!;
  assert.deepEqual([begin.traceId, begin.parentSpanId, begin.traceFlags], [TRACE, PARENT, '00']);
  assert.equal(joined.r.traceId, TRACE);
  const step = joined.r.stepBegin(0, 'bridge', '/opt/cni/bin/bridge', {});
  assert.equal(step.traceparent, `00-${TRACE}-${step.spanId}-00`, 'a delegate\'s spans nest under its step, with the runtime\'s flags');
  for (const env of [{}, { TRACEPARENT: 'garbage' }]) {
    const own = recorder({ env });
    own.r.begin(ENV, 'net', '1.0.0', {}, []);
    const rec = own.records()[0]!;
    assert.match(String(rec.traceId), /^[0-9a-f]{32}$/);
    assert.notEqual(rec.traceId, TRACE);
    assert.equal('parentSpanId' in rec, false, 'no parent');
    assert.equal(rec.traceFlags, '01');
    assert.match(own.r.stepBegin(0, 'bridge', null, {}).traceparent, new RegExp(`^00-${String(rec.traceId)}-[0-9a-f]{16}-01$`));
  }
});

test('rule: the invocation\'s begin holds its identity, the pod, the CNI env (CNI_ARGS redacted), the redacted entry, its delegates, pid and boot id', () => {
  const env = { CNI_COMMAND: 'DEL', CNI_ARGS: `K8S_POD_NAME=cart;MYKEY=${SECRET}`, CNI_IFNAME: 'eth0', CNI_UNSET: undefined, TRACESTATE: 'k=v', TRACEPARENT: 'garbage', PATH: '/bin', HOME: '/root', XCNI_NO: 'x' };
  const { r, records } = recorder({ env });
  const before = epochNs();
  const stdin: JsonObject = { cniVersion: '1.0.0', name: 'net', mykey: SECRET, delegates: [{ type: 'bridge' }] };
  r.begin(ENV, 'net', '1.0.0', stdin, ['bridge', 'portmap']);
  const after = epochNs();
  const rec = records()[0]!;
  assert.equal(rec.spanId, r.spanId);
  assert.match(r.spanId, /^[0-9a-f]{16}$/);
  assert.deepEqual(
    [rec.rec, rec.v, rec.command, rec.containerId, rec.netns, rec.ifname, rec.network, rec.cniVersion],
    ['invocation.begin', 1, 'DEL', 'ctr1', '/var/run/netns/x', 'eth0', 'net', '1.0.0'],
  );
  assert.deepEqual(rec.pod, { namespace: 'shop', name: 'cart' });
  assert.deepEqual(rec.env, { CNI_COMMAND: 'DEL', CNI_ARGS: 'K8S_POD_NAME=cart;MYKEY=[REDACTED]', CNI_IFNAME: 'eth0', TRACESTATE: 'k=v', TRACEPARENT: 'garbage' });
  assert.deepEqual(rec.stdin, { cniVersion: '1.0.0', name: 'net', mykey: '[REDACTED]', delegates: [{ type: 'bridge' }] });
  assert.deepEqual(rec.delegates, ['bridge', 'portmap']);
  assert.equal(rec.pid, process.pid);
  assert.equal(rec.bootId, bootId());
  assert.ok(BigInt(String(rec.startNs)) >= before - 1_000_000_000n && BigInt(String(rec.startNs)) <= after, 'started when the recorder was made');
  // A variable the runtime left unset is not recorded, CNI_ARGS included.
  const unset = recorder({ env: { CNI_ARGS: undefined, CNI_COMMAND: 'ADD' } });
  unset.r.begin(ENV, 'net', '1.0.0', {}, []);
  assert.deepEqual([unset.degraded, unset.records()[0]!.env], [[], { CNI_COMMAND: 'ADD' }]);
  // The front's pid when the runtime exec'd the front.
  const front = recorder({ pid: 99999 });
  front.r.begin(ENV, 'net', '1.0.0', {}, []);
  assert.equal(front.records()[0]!.pid, 99999);
});

test('rule: a step\'s begin and end name the step under the invocation, with the command, path, redacted config, outcome and captures', () => {
  const { r, records } = recorder();
  r.begin(ENV, 'net', '1.0.0', {}, ['bridge']);
  const step = r.stepBegin(2, 'bridge', '/opt/cni/bin/bridge', { name: 'net', mykey: SECRET });
  assert.deepEqual([step.index, step.plugin], [2, 'bridge']);
  assert.notEqual(step.spanId, r.spanId);
  const stdout = Buffer.from(`{"ips":[],"note":"token=${SECRET}"}`);
  const stderr = Buffer.from('y'.repeat(100));
  r.stepEnd(step, outcome({ exitCode: 3, signal: 'SIGKILL', stdout, stderr, stderrBytes: 5000 }), 'error',
    cniError(7, `bad mykey=${SECRET}`, `see mykey=${SECRET}`));
  const [, begin, end] = records();
  const key = { v: 1, traceId: r.traceId, invocationSpanId: r.spanId, spanId: step.spanId, index: 2, plugin: 'bridge', command: 'DEL' };
  assert.deepEqual(begin, { rec: 'step.begin', ...key, path: '/opt/cni/bin/bridge', startNs: String(epochNsAt(step.startMono)), stdin: { name: 'net', mykey: '[REDACTED]' } });
  assert.deepEqual(end, {
    rec: 'step.end', ...key, endNs: String(epochNsAt(5_000n)), durationNs: '4000', pid: 4242, exitCode: 3, signal: 'SIGKILL', status: 'error',
    error: { code: 7, msg: 'bad mykey=[REDACTED]', details: 'see mykey=[REDACTED]' },
    stdout: { text: '{"ips":[],"note":"token=[REDACTED]"}', bytes: stdout.length, truncated: false },
    stderr: { text: 'y'.repeat(64), bytes: 5000, truncated: true },
  });
});

test('rule: records wait in a queue until flush (end flushes), are written in the order made, and keep the times of when they were made', () => {
  const dir = join(root, `j-${seq++}`);
  const journal = new Journal({ dir, maxFileBytes: 1 << 20, maxFiles: 2, onDegraded: (why) => assert.fail(why) });
  const r = new InvocationRecorder({ journal, env: {}, isCredential: credentialKeyMatcher([]), captureMaxBytes: 64 });
  const written = (): string[] => existsSync(join(dir, ACTIVE_FILE)) ? readFileSync(join(dir, ACTIVE_FILE), 'utf8').split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as Rec).rec as string) : [];
  r.begin(ENV, 'net', '1.0.0', {}, ['a', 'b']);
  const a = r.stepBegin(0, 'a', '/bin/a', {});
  assert.deepEqual(written(), [], 'nothing is written before a flush');
  const madeAt = epochNsAt(a.startMono);
  const wait = Date.now() + 5;
  while (Date.now() < wait) { /* the flush comes measurably later */ }
  r.flush();
  assert.deepEqual(written(), ['invocation.begin', 'step.begin']);
  r.flush();
  assert.equal(written().length, 2, 'a flush with nothing queued writes nothing');
  r.stepEnd(a, outcome(), 'ok');
  const b = r.stepBegin(1, 'b', '/bin/b', {});
  r.stepEnd(b, outcome(), 'ok');
  assert.equal(written().length, 2);
  r.end(0, '{}');
  assert.deepEqual(written(), ['invocation.begin', 'step.begin', 'step.end', 'step.begin', 'step.end', 'invocation.end']);
  const rec = readFileSync(join(dir, ACTIVE_FILE), 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Rec);
  assert.equal(rec[1]!.startNs, String(madeAt), 'a step\'s start is when its begin was made, not when it was written');
});

test('rule: a step that never ran ends with no pid, exit code, signal or output, timed from its begin; an error without details has none; a skip says why', () => {
  const { r, records } = recorder();
  const step = r.stepBegin(0, 'gone', null, {});
  r.stepEnd(step, null, 'error', cniError(7, 'not found'));
  const skipped = r.stepBegin(1, 'old', '/bin/old', {});
  r.stepEnd(skipped, null, 'skipped', undefined, 'plugin does not speak 1.1.0');
  const [b0, e0, , e1] = records();
  assert.equal(b0!.command, 'ADD', 'before begin() the command is ADD');
  assert.equal(b0!.path, null);
  const empty = { text: '', bytes: 0, truncated: false };
  assert.deepEqual([e0!.pid, e0!.exitCode, e0!.signal, e0!.stdout, e0!.stderr, e0!.error], [null, null, null, empty, empty, { code: 7, msg: 'not found' }]);
  assert.ok(BigInt(String(e0!.durationNs)) >= 0n);
  assert.ok(BigInt(String(e0!.endNs)) >= BigInt(String(b0!.startNs)));
  assert.equal('skipped' in e0!, false);
  assert.deepEqual([e1!.status, e1!.skipped, 'error' in e1!], ['skipped', 'plugin does not speak 1.1.0', false]);
});

test('rule: a nested plugin call is journaled under its parent with its own CNI command, redacted stdin and env; one not finished has no end', () => {
  const { r, records } = recorder();
  r.begin({ ...ENV, command: 'ADD' }, 'net', '1.0.0', {}, []);
  const env = { CNI_COMMAND: 'DEL', CNI_ARGS: `MYKEY=${SECRET}`, TRACEPARENT: `00-${TRACE}-${PARENT}-01`, PATH: '/bin' };
  const nested = call({
    env, stdin: Buffer.from(`{"mykey":"${SECRET}"}`), stdout: Buffer.from('{"ok":true}'), stdoutBytes: 11,
    stderr: Buffer.from('e'.repeat(64)), stderrBytes: 70,
  });
  r.nestedStep(1, PARENT, nested, outcome({ exitCode: 2, signal: null }), 'error', cniError(11, `no mykey=${SECRET}`));
  const [, begin, end] = records();
  const key = { v: 1, traceId: r.traceId, invocationSpanId: r.spanId, spanId: 'aaaaaaaaaaaaaaaa', index: 1, plugin: 'host-local', command: 'DEL' };
  assert.deepEqual(begin, {
    rec: 'step.begin', ...key, path: '/opt/cni/bin/host-local', startNs: '1000000', stdin: { mykey: '[REDACTED]' }, parentSpanId: PARENT,
    env: { CNI_COMMAND: 'DEL', CNI_ARGS: 'MYKEY=[REDACTED]', TRACEPARENT: env.TRACEPARENT },
  });
  assert.deepEqual(end, {
    rec: 'step.end', ...key, endNs: '1000700', durationNs: '700', pid: null, exitCode: 2, signal: null, status: 'error',
    error: { code: 11, msg: 'no mykey=[REDACTED]' },
    stdout: { text: '{"ok":true}', bytes: 11, truncated: false }, stderr: { text: 'e'.repeat(64), bytes: 70, truncated: true },
  });
  // Not JSON: only its size; no CNI_COMMAND: none; still running: no end; an end before its start: 0 long.
  r.nestedStep(2, PARENT, call({ spanId: 'bbbbbbbbbbbbbbbb', stdin: Buffer.from('not json'), endNs: null }), outcome(), 'ok');
  r.nestedStep(3, PARENT, call({ spanId: 'cccccccccccccccc', endNs: 999_000n }), outcome({ exitCode: null, signal: 'SIGTERM' }), 'error');
  const rest = records().slice(3);
  assert.deepEqual(rest.map((x) => [x.rec, x.spanId]), [['step.begin', 'bbbbbbbbbbbbbbbb'], ['step.begin', 'cccccccccccccccc'], ['step.end', 'cccccccccccccccc']]);
  assert.deepEqual([rest[0]!.stdin, rest[0]!.command, rest[0]!.env], ['(not JSON: 8 bytes)', '', {}]);
  assert.deepEqual([rest[2]!.durationNs, rest[2]!.exitCode, rest[2]!.signal, 'error' in rest[2]!], ['0', null, 'SIGTERM', false]);
});

test('rule: a traced command is journaled under the invocation\'s command with its redacted argv and no stdin or env', () => {
  const { r, records } = recorder();
  r.begin(ENV, 'net', '1.0.0', {}, []);
  const cmd = call({ plugin: 'ip', path: '/usr/sbin/ip', argv: ['ip', '--password', SECRET, 'link'], env: { TRACEPARENT: `00-${TRACE}-${PARENT}-01`, CNI_COMMAND: 'ADD' } });
  r.nestedStep(4, PARENT, cmd, outcome({ exitCode: 1 }), 'ok');
  const [, begin, end] = records();
  assert.deepEqual(begin, {
    rec: 'step.begin', v: 1, traceId: r.traceId, invocationSpanId: r.spanId, spanId: 'aaaaaaaaaaaaaaaa', index: 4, plugin: 'ip', command: 'DEL',
    path: '/usr/sbin/ip', startNs: '1000000', stdin: null, parentSpanId: PARENT, argv: ['ip', '--password', '[REDACTED]', 'link'],
  });
  assert.deepEqual([end!.command, end!.exitCode, end!.status], ['DEL', 1, 'ok']);
});

test('rule: the invocation\'s end holds the exit code, its status, the error and what the runtime got, redacted', () => {
  for (const [code, status] of [[0, 'ok'], [1, 'error'], [2, 'error']] as const) {
    const { r, records } = recorder();
    r.begin(ENV, 'net', '1.0.0', {}, []);
    const stdout = `{"a":"token=${SECRET}","caf\u00e9":1}`;
    r.end(code, code === 0 ? stdout : Buffer.from(stdout), code === 0 ? undefined : cniError(4, `mykey=${SECRET}`));
    const [begin, end] = records();
    assert.deepEqual({ ...end, endNs: 0, durationNs: 0 }, {
      rec: 'invocation.end', v: 1, traceId: r.traceId, spanId: r.spanId, command: 'DEL', endNs: 0, durationNs: 0, exitCode: code, status,
      ...(code === 0 ? {} : { error: { code: 4, msg: 'mykey=[REDACTED]' } }),
      stdout: { text: '{"a":"token=[REDACTED]","caf\u00e9":1}', bytes: Buffer.byteLength(stdout), truncated: false },
    });
    const duration = BigInt(String(end!.durationNs));
    assert.ok(duration > 0n);
    assert.equal(BigInt(String(end!.endNs)) - duration, BigInt(String(begin!.startNs)), 'the duration runs from the begin');
  }
});

test('rule: no journal records nothing; a degraded one is not written to; a record that cannot be built turns tracing off with its reason, never throws', () => {
  const none = new InvocationRecorder({ journal: null, env: {}, isCredential: () => false, captureMaxBytes: 64 });
  none.begin(ENV, 'net', '1.0.0', {}, []);
  none.end(0, '');
  // A config whose reading throws (redaction reads every key).
  const hostile = (thrown: unknown): JsonObject => Object.defineProperty({}, 'x', { enumerable: true, get: () => { throw thrown; } }) as JsonObject;
  for (const [thrown, reason] of [[new Error('boom'), 'cannot record this call: boom'], ['a string', 'cannot record this call: a string'], [undefined, 'cannot record this call: undefined']] as const) {
    const { r, records, degraded } = recorder();
    r.begin(ENV, 'net', '1.0.0', {}, []);
    r.stepBegin(0, 'bridge', '/bin/bridge', hostile(thrown));
    r.end(0, '{}');
    assert.deepEqual(degraded, [reason]);
    assert.deepEqual(records().map((x) => x.rec), ['invocation.begin'], 'nothing after tracing went off');
  }
});
