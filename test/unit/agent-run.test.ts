/**
 * Running the agent (src/agent/run.ts): --once's exit codes and messages, the daemon's loop
 * (status lines, one export in flight, stopping), the disabled mode, the resource, and the
 * final metrics push. Over a real journal in a temp dir; the collector is a real OTLP/HTTP
 * server on 127.0.0.1 or a fake sink at the exporter boundary.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { resolveConfig, type AgentConfig } from '../../src/agent/config.ts';
import type { ExportOutcome, SpanSink } from '../../src/agent/exporter.ts';
import { agentResource, runAgent } from '../../src/agent/run.ts';
import { STATUS_FILE } from '../../src/agent/status.ts';
import { Journal } from '../../src/journal/writer.ts';
import { OtlpReceiver } from '../support/otlp-receiver.ts';
import { chainRecords, CHAIN, INV, invocationBegin, invocationEnd, ns } from '../support/records.ts';

const root = mkdtempSync(join(tmpdir(), 'cnitrace-unit-run-'));
after(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
/** A journal dir holding `calls` ended invocations (the first the nested chain), and a state dir. */
function journalWith(calls: number): { journal: string; state: string } {
  const dir = join(root, `case-${++n}`);
  const journal = join(dir, 'journal');
  const w = new Journal({ dir: journal, maxFileBytes: 1 << 20, maxFiles: 10, onDegraded: (r) => assert.fail(r) });
  for (const r of chainRecords()) w.append(r);
  for (let i = 1; i < calls; i++) {
    const spanId = `e${i.toString(16).padStart(15, '0')}`;
    w.append(invocationBegin({ spanId, containerId: `ctr-${i}`, startNs: ns(200 + i) }));
    w.append(invocationEnd({ spanId, endNs: ns(201 + i) }));
  }
  return { journal, state: join(dir, 'state') };
}

function config(flags: Record<string, string | boolean>, env: NodeJS.ProcessEnv = {}): AgentConfig {
  return resolveConfig(flags, { OTEL_METRICS_EXPORTER: 'none', ...env });
}

/** A sink at the exporter boundary answering with the outcomes given (then accepting). */
function sink(answers: ExportOutcome[] = []): SpanSink & { batches: ReadableSpan[][]; shut: number } {
  const s = {
    batches: [] as ReadableSpan[][], shut: 0,
    exportSpans: async (spans: ReadableSpan[]): Promise<ExportOutcome> => { s.batches.push(spans); return answers.shift() ?? { ok: true }; },
    shutdown: async (): Promise<void> => { s.shut++; },
  };
  return s;
}

const never = new Promise<void>(() => {});

/** The daemon's stop signal, and the way to give it. */
function stopper(): { stopped: Promise<void>; stop: () => void } {
  let stop = (): void => {};
  const stopped = new Promise<void>((resolve) => { stop = resolve; });
  return { stopped, stop };
}

/** Appends one ended invocation to the journal, as the wrapper would. */
function appendCall(journal: string, spanId: string): void {
  const w = new Journal({ dir: journal, maxFileBytes: 1 << 20, maxFiles: 10, onDegraded: (r) => assert.fail(r) });
  w.append(invocationBegin({ spanId, containerId: `ctr-${spanId}`, startNs: ns(500) }));
  w.append(invocationEnd({ spanId, endNs: ns(501) }));
}

test('rule: --once sends everything pending to the collector in the configured encoding, pushes the metrics, logs where from and to, and exits 0', async () => {
  const r = new OtlpReceiver();
  await r.start();
  try {
    const { journal, state } = journalWith(2);
    // And one call still open (not abandoned: abandon-after is long), counted in flight.
    new Journal({ dir: journal, maxFileBytes: 1 << 20, maxFiles: 10, onDegraded: (e) => assert.fail(e) }).append(invocationBegin({ spanId: 'e0000000000000aa', containerId: 'ctr-open', startNs: ns(400) }));
    const cfg = resolveConfig({ journal, 'state-dir': state, once: true, 'abandon-after': '100000h' }, { OTEL_EXPORTER_OTLP_ENDPOINT: r.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' });
    const lines: string[] = [];
    assert.equal(await runAgent(cfg, { log: (l) => lines.push(l), stopped: never }), 0);
    assert.equal(lines[0], `following ${journal}, exporting to ${r.endpoint}/v1/traces (http/protobuf; headers: none), state in ${state}`);
    assert.equal(lines.at(-1), `status: read ${chainRecords().length + 3} records, exported 2 invocations (${CHAIN.length + 2} spans), retries 0, dropped 0, skipped lines 0, queued 0, in flight 1, lag 0.0 s, backlog 0 bytes`);
    assert.equal(r.counts().get(INV), 1);
    assert.equal(r.spans.length, CHAIN.length + 2);
    assert.ok(r.encodings.every((e) => e === 'protobuf'));
    const names = new Set(r.metrics.map((m) => m.name));
    assert.ok(names.has('cni.invocation.duration') && names.has('cni.plugin.duration'), 'the invocations were recorded and pushed as the agent stopped');
    const inv = r.metrics.find((m) => m.name === 'cni.invocation.duration')!;
    assert.equal(Number(inv.dataPoints[0]!.count), 2);
    const inFlight = r.metrics.find((m) => m.name === 'cni.invocations.in_flight')!;
    assert.equal(Number(inFlight.dataPoints[0]!.asInt ?? inFlight.dataPoints[0]!.asDouble), 1, 'the gauge reads the agent\'s calls in flight');
    assert.equal(JSON.parse(readFileSync(join(state, STATUS_FILE), 'utf8')).invocationsExported, 2, 'the last status is saved');
  } finally {
    await r.stop();
  }
});

test('rule: the start line names the headers (not their values) and the TLS files', async () => {
  const { journal, state } = journalWith(1);
  const cfg = config({ journal, 'state-dir': state, once: true, certificate: '/etc/ca.pem', 'client-key': '/etc/k.pem' }, { OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20s3cr3t,x-tenant=blue' });
  const lines: string[] = [];
  const s = sink();
  assert.equal(await runAgent(cfg, { log: (l) => lines.push(l), stopped: never, sink: s }), 0);
  assert.equal(lines[0], `following ${journal}, exporting to http://localhost:4318/v1/traces (http/json; headers: authorization=***, x-tenant=***; tls: ca /etc/ca.pem, key /etc/k.pem), state in ${state}`);
  assert.equal(s.shut, 1, 'the sink is shut down');
});

test('rule: --once exits 1 naming how many invocations the collector refused for good', async () => {
  const { journal, state } = journalWith(3);
  const lines: string[] = [];
  const s = sink([{ ok: false, error: 'HTTP 400', retryable: false }]);
  const code = await runAgent(config({ journal, 'state-dir': state, once: true, batch: '2' }), { log: (l) => lines.push(l), stopped: never, sink: s });
  assert.equal(code, 1);
  assert.ok(lines.includes('error: the collector refused 2 invocations for good (see above); they were not exported'), lines.join('\n'));
  assert.equal(s.batches.length, 2, 'the rest was still sent');
});

test('rule: --once gives up after --once-attempts failed attempts, exits 1 and says what is pending and why', async () => {
  const { journal, state } = journalWith(1);
  const lines: string[] = [];
  const s = sink([1, 2, 3].map((k) => ({ ok: false, error: `down ${k}`, retryable: true })));
  const code = await runAgent(config({ journal, 'state-dir': state, once: true, 'once-attempts': '2' }), { log: (l) => lines.push(l), stopped: never, sink: s });
  assert.equal(code, 1);
  assert.equal(s.batches.length, 2);
  assert.ok(lines.includes('error: the collector never accepted the export after 2 attempts; 1 invocations are still pending (they stay in the journal for the next run): down 2'), lines.join('\n'));
  assert.match(lines.at(-1)!, /^status: .*retries 2.*queued 1.*, last error: down 2$/);
});

test('rule: --once exports everything pending, also more than one round reads', async () => {
  const { journal, state } = journalWith(1);
  const w = new Journal({ dir: journal, maxFileBytes: 64 << 20, maxFiles: 10, onDegraded: (r) => assert.fail(r) });
  const big = 'y'.repeat(100_000);
  for (let i = 0; i < 30; i++) {
    const spanId = `f${i.toString(16).padStart(15, '0')}`;
    w.append(invocationBegin({ spanId, containerId: `ctr-big-${i}`, startNs: ns(300 + i) }));
    w.append(invocationEnd({ spanId, endNs: ns(301 + i), stdout: { text: big, bytes: big.length, truncated: false } }));
  }
  const s = sink();
  assert.equal(await runAgent(config({ journal, 'state-dir': state, once: true }), { log: () => {}, stopped: never, sink: s }), 0);
  assert.equal(s.batches.flat().filter((x) => x.name === 'CNI ADD').length, 31, 'about 3 MB of journal: every invocation');
});

test('rule: --once with an attempt that fails and one that succeeds exits 0', async () => {
  const { journal, state } = journalWith(1);
  const s = sink([{ ok: false, error: 'down', retryable: true }]);
  assert.equal(await runAgent(config({ journal, 'state-dir': state, once: true, 'once-attempts': '2' }), { log: () => {}, stopped: never, sink: s }), 0);
  assert.equal(s.batches.length, 2);
});

test('rule: disabled, the agent reads and sends nothing; --once exits 0 at once, the daemon when told to stop', async () => {
  const { journal, state } = journalWith(1);
  const lines: string[] = [];
  const s = sink();
  assert.equal(await runAgent(config({ journal, 'state-dir': state, once: true }, { OTEL_SDK_DISABLED: 'true' }), { log: (l) => lines.push(l), stopped: never, sink: s }), 0);
  assert.deepEqual(lines, ['OTEL_SDK_DISABLED is true: reading and exporting nothing']);
  const { stopped, stop } = stopper();
  let done = false;
  const daemon = runAgent(config({ journal, 'state-dir': state }, { OTEL_SDK_DISABLED: 'true' }), { log: () => {}, stopped, sink: s }).then((c) => { done = true; return c; });
  for (let k = 0; k < 20; k++) await tick();
  assert.equal(done, false, 'the daemon waits to be stopped');
  stop();
  assert.equal(await daemon, 0);
  assert.deepEqual(s.batches, []);
  assert.equal(existsSync(state), false, 'no state is made');
});

/** Calls `then` once status.json shows `exported` invocations exported (status.json is saved every round). */
function whenExported(state: string, exported: number, then: () => void): void {
  const file = join(state, STATUS_FILE);
  if (existsSync(file) && JSON.parse(readFileSync(file, 'utf8')).invocationsExported === exported) then();
  else setTimeout(() => whenExported(state, exported, then), 1);
}

/** A sink that accepts, and stops the daemon once status.json says the one invocation went out. */
function stopOnceExported(state: string, stop: () => void): SpanSink {
  return {
    exportSpans: async () => {
      whenExported(state, 1, stop);
      return { ok: true };
    },
    shutdown: async () => {},
  };
}

test('rule: the daemon exports what it reads, logs a status line every --status-every and once more when stopped', async () => {
  const { journal, state } = journalWith(1);
  const lines: string[] = [];
  const { stopped, stop } = stopper();
  const s = sink();
  const log = (l: string): void => {
    lines.push(l);
    if (s.batches.length > 0 && lines.filter((x) => x.startsWith('status: ')).length >= 2) stop();
  };
  assert.equal(await runAgent(config({ journal, 'state-dir': state, 'status-every': '1ms', interval: '1ms' }), { log, stopped, sink: s }), 0);
  assert.deepEqual(s.batches.map((b) => b[0]!.spanContext().spanId), [INV]);
  assert.ok(lines.filter((x) => x.startsWith('status: ')).length >= 3, 'periodic lines and the last one');
  assert.equal(s.shut, 1);
});

test('rule: with --status-every 0 the daemon logs no periodic status line, only the last one, and keeps status.json current', async () => {
  const { journal, state } = journalWith(1);
  const lines: string[] = [];
  const { stopped, stop } = stopper();
  const s = stopOnceExported(state, stop);
  assert.equal(await runAgent(config({ journal, 'state-dir': state, 'status-every': '0', interval: '1ms' }), { log: (l) => lines.push(l), stopped, sink: s }), 0);
  assert.equal(lines.filter((x) => x.startsWith('status: ')).length, 1);
  assert.match(lines.at(-1)!, /^status: read \d+ records, exported 1 invocations/);
});

test('rule: the daemon goes on exporting what arrives after its first export, and logs no status line before --status-every', async () => {
  const { journal, state } = journalWith(1);
  const lines: string[] = [];
  const { stopped, stop } = stopper();
  const s = sink();
  whenExported(state, 1, () => {
    appendCall(journal, 'e00000000000000e');
    whenExported(state, 2, stop);
  });
  assert.equal(await runAgent(config({ journal, 'state-dir': state, 'status-every': '1h', interval: '1ms' }), { log: (l) => lines.push(l), stopped, sink: s }), 0);
  assert.deepEqual(s.batches.map((b) => b[0]!.spanContext().spanId), [INV, 'e00000000000000e']);
  assert.equal(lines.filter((x) => x.startsWith('status: ')).length, 1, 'only the last one: an hour has not passed');
});

test('rule: a stopped daemon ships what became ready after its last round before it exits', async () => {
  const { journal, state } = journalWith(1);
  const { stopped, stop } = stopper();
  const s = sink();
  // status.json shows the first export: the loop has saved it and waits for its next round.
  whenExported(state, 1, () => {
    appendCall(journal, 'e00000000000000f');
    stop();
  });
  assert.equal(await runAgent(config({ journal, 'state-dir': state, 'status-every': '0', interval: '2s' }), { log: () => {}, stopped, sink: s }), 0);
  assert.deepEqual(s.batches.map((b) => b[0]!.spanContext().spanId), [INV, 'e00000000000000f']);
});

test('rule: the daemon has one export in flight at a time, reads on meanwhile, and waits for it when stopped', async () => {
  const { journal, state } = journalWith(1);
  const { stopped, stop } = stopper();
  let release = (): void => {};
  let calls = 0;
  let rounds = 0;
  const s: SpanSink = {
    exportSpans: () => { calls++; return new Promise((resolve) => { release = () => resolve({ ok: true }); }); },
    shutdown: async () => {},
  };
  const log = (l: string): void => {
    // Each round logs a status line (--status-every 1ms); after 5 rounds with the export held, let it go.
    if (!l.startsWith('status: ') || calls === 0) return;
    if (++rounds === 5) { release(); stop(); }
  };
  const code = await runAgent(config({ journal, 'state-dir': state, 'status-every': '1ms', interval: '1ms' }), { log, stopped, sink: s });
  assert.equal(code, 0);
  assert.equal(calls, 1, 'no second export of the same batch while the first was in flight');
  assert.equal(JSON.parse(readFileSync(join(state, STATUS_FILE), 'utf8')).invocationsExported, 1, 'the export in flight finished before the agent stopped');
});

test('rule: a sink that fails to shut down, or a metrics endpoint that is gone, does not change the exit code', async () => {
  const r = new OtlpReceiver();
  await r.start();
  const dead = `${r.endpoint}/v1/metrics`;
  await r.stop();
  const { journal, state } = journalWith(1);
  const cfg = resolveConfig({ journal, 'state-dir': state, once: true, timeout: '2000' }, { OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: dead });
  const s: SpanSink = { exportSpans: async () => ({ ok: true }), shutdown: async () => { throw new Error('already closed'); } };
  assert.equal(await runAgent(cfg, { log: () => {}, stopped: never, sink: s }), 0);
});

test('rule: the resource names the service, the host and the node; service.name is the configured one', () => {
  const cfg = { ...config({ 'node-name': 'node-7', 'service-name': 'cni-agent' }), resourceAttributes: { 'service.name': 'other', 'deployment.environment': 'prod', 'host.name': 'set-by-user' } };
  const attrs = agentResource(cfg).attributes;
  assert.equal(attrs['service.name'], 'cni-agent');
  assert.equal(attrs['k8s.node.name'], 'node-7');
  assert.equal(attrs['deployment.environment'], 'prod');
  assert.equal(attrs['host.name'], 'set-by-user', 'a configured attribute wins over the detected host name');
  assert.equal(agentResource(config({})).attributes['host.name'], hostname());
  assert.equal(agentResource(config({})).attributes['telemetry.sdk.language'], 'nodejs', 'the SDK\'s own attributes are kept');
});

test('rule: a daemon told to stop while it waits for the next interval returns at once and leaves no timer behind (the process can exit)', async () => {
  const { journal, state } = journalWith(1);
  const { stopped, stop } = stopper();
  const s = stopOnceExported(state, stop);
  const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const before = timers();
  // An hour's interval: caught up, the daemon waits on it when the stop comes.
  assert.equal(await runAgent(config({ journal, 'state-dir': state, interval: '3600s', 'status-every': '0' }), { log: () => {}, stopped, sink: s }), 0);
  assert.equal(timers(), before, 'no timer of the daemon is left running');
});
