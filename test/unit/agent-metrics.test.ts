/**
 * The agent's metrics (src/agent/metrics.ts) as a collector and a Prometheus see them: pushed
 * over OTLP/HTTP (JSON or protobuf, with the configured headers) to a real server on 127.0.0.1,
 * and served on /metrics. Which calls count where: plugins by type, command and depth; traced
 * commands apart, their exits not errors; errors by CNI code, exit or abandonment.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { emptyResource } from '@opentelemetry/resources';
import { resolveConfig } from '../../src/agent/config.ts';
import { agentMetrics } from '../../src/agent/metrics.ts';
import type { Invocation, Step } from '../../src/journal/invocations.ts';
import { OtlpReceiver } from '../support/otlp-receiver.ts';
import { freePort } from '../support/ports.ts';
import { selfSignedCert } from '../support/tls-cert.ts';

const NOW_NS = BigInt(Date.now()) * 1_000_000n;

function step(over: Partial<Step> & Pick<Step, 'plugin' | 'status'>): Step {
  return {
    spanId: 'b000000000000000', index: 0, command: 'ADD', path: null, startNs: String(NOW_NS), endNs: String(NOW_NS), durationMs: 10,
    exitCode: 0, signal: null, stdin: undefined, stdout: undefined, stderr: undefined, depth: 0, ...over,
  };
}

function invocation(over: Partial<Invocation>): Invocation {
  return {
    traceId: 't', spanId: 'a000000000000001', command: 'ADD', containerId: 'c', netns: '/var/run/netns/x', ifname: 'eth0', network: 'n', cniVersion: '1.0.0', pod: { namespace: 'd', name: 'p' },
    pid: 1, startNs: String(NOW_NS), endNs: String(NOW_NS), durationMs: 250, exitCode: 0, status: 'ok', env: {}, stdin: {}, stdout: undefined, steps: [], ...over,
  };
}

/** One failed ADD with every kind of step, an abandoned DEL and a good ADD. */
const CALLS: Invocation[] = [
  invocation({
    status: 'error', error: { code: 7, msg: 'no' }, exitCode: 1, durationMs: 250, steps: [
      step({ plugin: 'bridge', status: 'ok', durationMs: 100 }),
      step({ plugin: 'host-local', status: 'error', depth: 1, durationMs: 20, error: { code: 11, msg: 'exhausted' }, exitCode: 1 }),
      step({ plugin: 'portmap', status: 'error', exitCode: 2 }),
      step({ plugin: 'killed', status: 'error', exitCode: null, signal: 'SIGKILL' }),
      step({ plugin: 'odd', status: 'error', exitCode: null }),
      step({ plugin: 'stuck', status: 'abandoned', durationMs: null, exitCode: null }),
      step({ plugin: 'later', status: 'skipped', durationMs: 0, exitCode: null, skipped: 'an earlier plugin failed' }),
      step({ plugin: 'running', status: 'in-flight', durationMs: null, exitCode: null }),
      step({ plugin: 'iptables', status: 'error', argv: ['iptables', '-L'], durationMs: 5, exitCode: 1, depth: 1 }),
      step({ plugin: 'ip', status: 'ok', argv: ['ip', 'link'], durationMs: null, depth: 1 }),
    ],
  }),
  invocation({ command: 'DEL', status: 'abandoned', durationMs: null, exitCode: null, endNs: null }),
  invocation({ command: 'ADD', status: 'ok', durationMs: 50, steps: [step({ plugin: 'bridge', status: 'ok', durationMs: 30 })] }),
];

type Point = Record<string, unknown> & { attributes: Record<string, unknown> };

/** The data points of a metric, keyed by their attributes (sorted, as text). */
function points(metrics: OtlpReceiver['metrics'], name: string): Map<string, Point> {
  const out = new Map<string, Point>();
  for (const m of metrics.filter((x) => x.name === name)) {
    for (const p of m.dataPoints) out.set(JSON.stringify(Object.entries(p.attributes).sort()), p);
  }
  return out;
}
/** A sum's or gauge's value (counters come as doubles or ints, by encoding). */
const value = (p: Point | undefined): number => Number(p?.asInt ?? p?.asDouble ?? 0);
const key = (attrs: Record<string, unknown>): string => JSON.stringify(Object.entries(attrs).sort());

async function pushed(protocol: 'http/json' | 'http/protobuf'): Promise<OtlpReceiver> {
  const r = new OtlpReceiver();
  await r.start();
  try {
    const cfg = resolveConfig({ 'metric-interval': '1000', timeout: '10000', header: ['x-tenant=blue'] }, { OTEL_EXPORTER_OTLP_ENDPOINT: r.endpoint, OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: protocol });
    const m = agentMetrics(cfg, emptyResource(), () => 3, () => {});
    assert.ok(m);
    for (const inv of CALLS) m.record(inv);
    await m.shutdown();
  } finally {
    await r.stop();
  }
  return r;
}

for (const protocol of ['http/json', 'http/protobuf'] as const) {
  test(`rule: the metrics are pushed over OTLP/HTTP (${protocol}) with the configured headers when the agent stops`, async () => {
    const r = await pushed(protocol);
    assert.ok(r.encodings.length > 0);
    assert.ok(r.encodings.every((e) => e === (protocol === 'http/json' ? 'json' : 'protobuf')));
    assert.equal(r.headers[0]!['x-tenant'], 'blue');
    const names = new Set(r.metrics.map((m) => m.name));
    for (const n of ['cni.plugin.duration', 'cni.invocation.duration', 'cni.plugin.errors', 'cni.invocation.errors', 'cni.invocations.in_flight', 'cni.command.duration', 'cni.findings']) assert.ok(names.has(n), n);
    assert.equal(r.metrics.find((m) => m.name === 'cni.plugin.duration')!.unit, 's');
  });
}

test('rule: plugin and invocation durations are recorded in seconds per plugin, command and depth; steps that did not run or still run are not', async () => {
  const r = await pushed('http/json');
  const plugin = points(r.metrics, 'cni.plugin.duration');
  const at = (plugin: string, depth: number, command = 'ADD'): Point | undefined => plugin === '' ? undefined : points(r.metrics, 'cni.plugin.duration').get(key({ 'cni.plugin.type': plugin, 'cni.command': command, 'cni.step.depth': depth }));
  assert.equal(Number(at('bridge', 0)!.count), 2);
  assert.ok(Math.abs(Number(at('bridge', 0)!.sum) - 0.13) < 1e-9, 'seconds: 100 ms + 30 ms');
  assert.equal(Number(at('host-local', 1)!.count), 1);
  assert.deepEqual([...plugin.values()].map((p) => p.attributes['cni.plugin.type']).sort(), ['bridge', 'host-local', 'killed', 'odd', 'portmap'], 'no duration for an abandoned, skipped or in-flight step, nor for a command');
  const inv = points(r.metrics, 'cni.invocation.duration');
  assert.deepEqual([...inv.keys()], [key({ 'cni.command': 'ADD' })], 'the abandoned DEL has no duration');
  assert.equal(Number(inv.get(key({ 'cni.command': 'ADD' }))!.count), 2);
  assert.ok(Math.abs(Number(inv.get(key({ 'cni.command': 'ADD' }))!.sum) - 0.3) < 1e-9);
});

test('rule: errors count by CNI code, else exit code or signal, else abandonment; a traced command\'s exit is no error', async () => {
  const r = await pushed('http/protobuf');
  const errs = points(r.metrics, 'cni.plugin.errors');
  const count = (plugin: string, type: string, depth = 0): number => value(errs.get(key({ 'cni.plugin.type': plugin, 'cni.command': 'ADD', 'cni.step.depth': depth, 'error.type': type })));
  assert.equal(count('host-local', 'cni.11', 1), 1);
  assert.equal(count('portmap', 'exit.2'), 1);
  assert.equal(count('killed', 'exit.SIGKILL'), 1);
  assert.equal(count('odd', 'exit.?'), 1);
  assert.equal(count('stuck', 'abandoned'), 1);
  assert.equal(errs.size, 5, 'nothing else: not the traced iptables, not the good or skipped steps');
  const inv = points(r.metrics, 'cni.invocation.errors');
  assert.deepEqual([...inv.keys()].sort(), [key({ 'cni.command': 'ADD', 'error.type': 'cni.7' }), key({ 'cni.command': 'DEL', 'error.type': 'abandoned' })].sort());
  const cmd = points(r.metrics, 'cni.command.duration');
  assert.deepEqual([...cmd.keys()], [key({ 'process.command': 'iptables', 'cni.command': 'ADD' })], 'a command without a duration is not recorded');
  assert.ok(Math.abs(Number(cmd.values().next().value!.sum) - 0.005) < 1e-9);
});

test('rule: the calls in flight and the findings by kind are observed at each collection', async () => {
  const r = await pushed('http/json');
  const inFlight = points(r.metrics, 'cni.invocations.in_flight');
  assert.equal(value(inFlight.get(key({}))), 3);
  const findings = points(r.metrics, 'cni.findings');
  assert.deepEqual([...findings.values()].map((p) => p.attributes['cni.finding.kind']).sort(), ['abandoned', 'errors', 'ipam', 'leaked', 'retried', 'slow']);
  assert.ok(value(findings.get(key({ 'cni.finding.kind': 'errors' }))) >= 1, 'the failed ADD is a finding');
});

test('rule: with no metrics exporter and no Prometheus port there are no metrics', () => {
  assert.equal(agentMetrics(resolveConfig({}, { OTEL_METRICS_EXPORTER: 'none' }), emptyResource(), () => 0, () => {}), null);
});

test('rule: --prometheus-port serves the metrics on /metrics in Prometheus\' names, and says where', async () => {
  const port = await freePort();
  const lines: string[] = [];
  let started = (): void => {};
  const ready = new Promise<void>((resolve) => { started = resolve; });
  const cfg = resolveConfig({ 'prometheus-port': String(port) }, { OTEL_METRICS_EXPORTER: 'none' });
  const m = agentMetrics(cfg, emptyResource(), () => 2, (l) => { lines.push(l); started(); });
  assert.ok(m);
  try {
    await ready;
    assert.deepEqual(lines, [`serving Prometheus metrics on http://127.0.0.1:${port}/metrics`]);
    for (const inv of CALLS) m.record(inv);
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(text, /^cni_invocations_in_flight\{[^}]*\} 2$/m);
    assert.match(text, /^cni_plugin_duration_count\{cni_plugin_type="bridge",cni_command="ADD",cni_step_depth="0"[,}].* 2$/m);
    assert.match(text, /^cni_invocation_errors(_total)?\{cni_command="DEL",error_type="abandoned"[,}].* 1$/m);
    const BOUNDS = ['0.001', '0.0025', '0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '30', '60', '+Inf'];
    for (const name of ['cni_plugin_duration', 'cni_invocation_duration', 'cni_command_duration']) {
      const bounds = [...text.matchAll(new RegExp(`^${name}_bucket\\{[^}]*le="([^"]+)"\\}`, 'gm'))].map((b) => b[1]);
      assert.deepEqual(bounds.slice(0, BOUNDS.length), BOUNDS, `${name}: buckets from a fast IPAM call to a minute`);
      assert.match(text, new RegExp(`^# UNIT ${name} s$`, 'm'), `${name} is in seconds`);
    }
    for (const name of ['cni_plugin_duration', 'cni_invocation_duration', 'cni_command_duration', 'cni_plugin_errors', 'cni_invocation_errors', 'cni_invocations_in_flight', 'cni_findings']) {
      assert.match(text, new RegExp(`^# HELP ${name}(_total)? (?!description missing$)\\S`, 'm'), `${name} says what it counts`);
    }
  } finally {
    await m.shutdown();
  }
});

test('rule: a Prometheus port already taken is a warning, not a failure', async () => {
  const port = await freePort();
  let listening = (): void => {};
  const holding = new Promise<void>((resolve) => { listening = resolve; });
  const holder = agentMetrics(resolveConfig({ 'prometheus-port': String(port) }, { OTEL_METRICS_EXPORTER: 'none' }), emptyResource(), () => 0, () => listening());
  await holding;
  const lines: string[] = [];
  let told = (): void => {};
  const warned = new Promise<void>((resolve) => { told = resolve; });
  const m = agentMetrics(resolveConfig({ 'prometheus-port': String(port) }, { OTEL_METRICS_EXPORTER: 'none' }), emptyResource(), () => 0, (l) => { lines.push(l); told(); });
  await warned;
  assert.match(lines[0]!, /^warning: the Prometheus endpoint did not start: .*EADDRINUSE/);
  await m!.shutdown();
  await holder!.shutdown();
});

test('rule: metrics go over https trusting the configured CA, as the traces do', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cnitrace-unit-metrics-tls-'));
  try {
    const { key, cert, certPath } = selfSignedCert(dir);
    const r = new OtlpReceiver({ tls: { key, cert } });
    await r.start();
    try {
      const m = agentMetrics(resolveConfig({ certificate: certPath }, { OTEL_EXPORTER_OTLP_ENDPOINT: r.endpoint }), emptyResource(), () => 1, () => {});
      m!.record(CALLS[2]!);
      await m!.shutdown();
      assert.ok(r.metrics.some((x) => x.name === 'cni.invocation.duration'), 'received over https');
    } finally {
      await r.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('rule: metric pushes over https reuse one connection', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cnitrace-unit-metrics-keepalive-'));
  const { key, cert, certPath } = selfSignedCert(dir);
  let connections = 0;
  let requests = 0;
  let pushedTwice = (): void => {};
  const twice = new Promise<void>((resolve) => { pushedTwice = resolve; });
  const server = createTlsServer({ key, cert }, (req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      if (++requests === 2) pushedTwice();
    });
  });
  server.on('secureConnection', () => { connections++; });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const m = agentMetrics(resolveConfig({ certificate: certPath, 'metric-interval': '50', timeout: '5000' }, { OTEL_EXPORTER_OTLP_ENDPOINT: url }), emptyResource(), () => 1, () => {});
    await twice;
    await m!.shutdown();
    assert.ok(requests >= 2);
    assert.equal(connections, 1, 'one TLS handshake for every push');
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  }
});

test('rule: a failed metrics push is a warning on the agent\'s log, said once until a push works again, which is said too', async () => {
  const r = new OtlpReceiver();
  await r.start();
  r.failStatus = 400; // not retried by the exporter: each push fails at once
  r.failMetricsNext = 3;
  const lines: string[] = [];
  try {
    const cfg = resolveConfig({ 'metric-interval': '50', timeout: '2000' }, { OTEL_EXPORTER_OTLP_ENDPOINT: r.endpoint });
    const m = agentMetrics(cfg, emptyResource(), () => 1, (line) => lines.push(line));
    assert.ok(m);
    m.record(CALLS[2]!);
    const until = Date.now() + 10_000;
    while (r.metrics.length === 0 && Date.now() < until) await new Promise((res) => setTimeout(res, 20));
    await m.shutdown();
  } finally {
    await r.stop();
  }
  assert.ok(r.metrics.length > 0, 'a push got through after the failures');
  const said = lines.filter((l) => l.includes('pushing metrics'));
  assert.equal(said.length, 2, said.join('\n'));
  assert.match(said[0]!, new RegExp(`^warning: pushing metrics to ${r.endpoint}/v1/metrics failed: Bad Request \\(HTTP 400\\) \\(said again only after a push works\\)$`));
  assert.equal(said[1], `pushing metrics to ${r.endpoint}/v1/metrics works again`);
});
