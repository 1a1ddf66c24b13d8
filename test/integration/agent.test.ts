/**
 * The agent exports what the real wrapper recorded over the real plugins, driven by libcni,
 * to a real OTLP/HTTP receiver: one trace per invocation with the journal's ids and times,
 * the span tree, names and attributes, errors, stderr events, the DEL→ADD link, the
 * runtime's parent span and an abandoned call.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { wrapConflist } from '../../src/cli/conflist.ts';
import type { JsonObject } from '../../src/config/wrapper-entry.ts';
import { InvocationIndex, type Invocation } from '../../src/journal/invocations.ts';
import { readJournal } from '../../src/journal/reader.ts';
import { ownTime } from '../../src/view/own-time.ts';
import { agentOnce } from '../support/agent-process.ts';
import { subnetFor } from '../support/chains.ts';
import { runDriver, type DriverCall } from '../support/driver.ts';
import { DEBIAN_CNI, installCniTrace, installFixtures } from '../support/fixtures.ts';
import { OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver.ts';
import { iptablesState, keepSysctl, restoreIptables, Sandbox } from '../support/sandbox.ts';

const sb = new Sandbox('agent');
const receiver = new OtlpReceiver();
const journal = join(sb.dir, 'journal');
const bin = join(sb.dir, 'bin');
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
let invocations: Invocation[] = [];
let spans: ReceivedSpan[] = [];
let agentStderr = '';

before(async () => {
  installCniTrace(bin);
  installFixtures(bin, ['fx-noisy', 'fx-fail', 'fx-slow']);
  const restoreForward = await keepSysctl('net.ipv4.ip_forward');
  const ipt = await iptablesState();
  sb.onCleanup(async () => { await restoreIptables(ipt); await restoreForward(); });
  await receiver.start();
  sb.onCleanup(() => receiver.stop());

  const bridge = sb.name('ctab');
  sb.ownLink(bridge);
  const write = (name: string, plugins: JsonObject[]): string => {
    const file = join(sb.dir, `${name}.conflist`);
    writeFileSync(file, JSON.stringify(wrapConflist({ cniVersion: '1.0.0', name: sb.name(name), plugins }, { journalDir: journal })));
    return file;
  };
  const good = write('ctag', [
    { type: 'bridge', bridge, ipam: { type: 'host-local', ranges: [[{ subnet: subnetFor(sb, 30) }]], dataDir: join(sb.dir, 'ipam') } },
    { type: 'fx-noisy', fx: { mode: 'huge', bytes: 300 } },
  ]);
  const failing = write('ctaf', [{ type: 'loopback' }, { type: 'fx-fail', fx: { mode: 'fail', code: 133, msg: 'range exhausted', exit: 2 } }]);
  const hanging = write('ctah', [{ type: 'loopback' }, { type: 'fx-slow', fx: { mode: 'hang' } }]);
  const netns = await sb.netns('a');
  const base = { netns, path: [bin, DEBIAN_CNI], cacheDir: join(sb.dir, 'cache'), args: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=cart-1;K8S_POD_UID=uid-cart-1' };
  const call = (conflist: string, id: string, extra: Partial<DriverCall> = {}): DriverCall => ({ ...base, conflist, id, ...extra });
  assert.equal((await runDriver('add', call(good, 'ctr-ok', { env: { TRACEPARENT } }))).outcome.ok, true);
  assert.equal((await runDriver('del', call(good, 'ctr-ok'))).outcome.ok, true);
  assert.equal((await runDriver('add', call(failing, 'ctr-bad'))).outcome.ok, false);
  assert.equal((await runDriver('add', call(hanging, 'ctr-hang', { timeout: '2s' }))).outcome.ok, false);

  const index = new InvocationIndex();
  for (const r of readJournal(journal)) index.add(r);
  invocations = index.list();
  assert.equal(invocations.length, 4);
  const run = await agentOnce(['--journal', journal, '--state-dir', join(sb.dir, 'state'), '--abandon-after', '1s', '--node-name', 'node-7'],
    { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test' });
  agentStderr = run.stderr;
  assert.equal(run.exitCode, 0, run.stderr);
  spans = receiver.spans;
});
after(() => sb.cleanup());

const byId = (id: string): ReceivedSpan => {
  const s = spans.find((x) => x.spanId === id);
  assert.ok(s, `span ${id} was received`);
  return s;
};
const inv = (command: string, containerId: string): Invocation => {
  const found = invocations.find((i) => i.command === command && i.containerId === containerId);
  assert.ok(found);
  return found;
};

test('every journaled invocation arrives once, as a root span with one child per step, with the journal\'s ids and times', () => {
  const expected = invocations.reduce((n, i) => n + 1 + i.steps.length, 0);
  assert.equal(spans.length, expected);
  // cni-trace's own time: "cni-trace" events on the root, one per gap, and the total.
  for (const i of invocations) {
    const own = ownTime(i);
    const root = spans.find((s) => s.spanId === i.spanId)!;
    assert.deepEqual(root.events.filter((e) => e.name === 'cni-trace').map((e) => [e.attributes['cni.own_time.phase'], e.timeNs]),
      own?.gaps.map((g) => [g.phase, String(g.startNs)]) ?? [], `${i.command} ${i.containerId}`);
    if (own) assert.ok(Math.abs(Number(root.attributes['cni.own_time.ms']) - own.ms) < 1e-6);
  }
  assert.ok([...receiver.counts().values()].every((n) => n === 1), 'no duplicates');
  for (const i of invocations) {
    const root = byId(i.spanId);
    assert.equal(root.traceId, i.traceId);
    assert.equal(root.name, `CNI ${i.command}`);
    assert.equal(root.startNs, i.startNs);
    if (i.endNs) assert.equal(root.endNs, i.endNs);
    for (const step of i.steps) {
      const s = byId(step.spanId);
      assert.equal(s.traceId, i.traceId);
      assert.equal(s.parentSpanId, step.parentSpanId ?? i.spanId, `${step.plugin} is a child of the root, or of its caller when nested`);
      assert.equal(s.name, `${step.plugin} ${step.command}`);
      assert.equal(s.startNs, step.startNs);
      if (step.endNs) assert.equal(s.endNs, step.endNs);
    }
  }
});

test('the root joins the runtime\'s trace from TRACEPARENT and carries the pod, container and network attributes', () => {
  const add = inv('ADD', 'ctr-ok');
  const root = byId(add.spanId);
  assert.equal(root.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
  assert.equal(root.parentSpanId, '00f067aa0ba902b7');
  assert.equal(root.kind, 2, 'SERVER');
  for (const [k, v] of Object.entries({
    'k8s.pod.name': 'cart-1', 'k8s.namespace.name': 'shop', 'k8s.pod.uid': 'uid-cart-1', 'k8s.node.name': 'node-7',
    'container.id': 'ctr-ok', 'network.interface.name': 'eth0', 'cni.command': 'ADD', 'cni.network.name': sb.name('ctag'), 'cni.version': '1.0.0',
  })) assert.equal(root.attributes[k], v, k);
  assert.match(String(root.attributes['cni.netns']), /netns/);
  assert.match(String((root.attributes['cni.result.ips'] as string[])[0]), /^10\.250\.\d+\.2\/24$/);
  assert.equal(root.status.code, 0, 'UNSET');
  const bridge = byId(add.steps[0]!.spanId);
  assert.equal(bridge.attributes['cni.plugin.type'], 'bridge');
  assert.equal(bridge.attributes['process.executable.path'], '/usr/lib/cni/bridge');
  assert.equal(bridge.attributes['process.exit.code'], 0);
  assert.equal(bridge.kind, 3, 'CLIENT');
  assert.deepEqual({ service: root.resource['service.name'], node: root.resource['k8s.node.name'], env: root.resource['deployment.environment'] }, { service: 'cni-trace', node: 'node-7', env: 'test' });
  assert.equal(typeof root.resource['host.name'], 'string');
});

test('nested tracing: host-local\'s span is a child of bridge\'s, inside it in time, with its own attributes', () => {
  for (const command of ['ADD', 'DEL']) {
    const i = inv(command, 'ctr-ok');
    const bridge = byId(i.steps.find((st) => st.plugin === 'bridge')!.spanId);
    const ipamStep = i.steps.find((st) => st.plugin === 'host-local');
    assert.ok(ipamStep, `${command}: bridge's host-local call was traced`);
    const ipam = byId(ipamStep.spanId);
    assert.equal(ipam.parentSpanId, bridge.spanId);
    assert.equal(ipam.traceId, bridge.traceId);
    assert.equal(ipam.name, `host-local ${command}`);
    assert.ok(BigInt(ipam.startNs) >= BigInt(bridge.startNs) && BigInt(ipam.endNs) <= BigInt(bridge.endNs), 'bridge covers host-local');
    assert.equal(ipam.attributes['cni.step.depth'], 1);
    assert.equal(ipam.attributes['process.executable.path'], '/usr/lib/cni/host-local');
  }
});

test('a step\'s stderr lines become span events, bounded', () => {
  const noisy = byId(inv('ADD', 'ctr-ok').steps.find((st) => st.plugin === 'fx-noisy')!.spanId);
  assert.ok(noisy.events.length > 0 && noisy.events.length <= 21);
  assert.equal(noisy.events.at(-1)?.name, 'stderr');
});

test('the DEL trace links to the ADD trace of the same container and interface', () => {
  const add = inv('ADD', 'ctr-ok');
  const del = byId(inv('DEL', 'ctr-ok').spanId);
  assert.deepEqual(del.links.map((l) => [l.traceId, l.spanId]), [[add.traceId, add.spanId]]);
  assert.notEqual(del.traceId, add.traceId, 'one trace per pod network operation');
});

test('a failed invocation and its failed step have status ERROR with the CNI error', () => {
  const bad = inv('ADD', 'ctr-bad');
  const root = byId(bad.spanId);
  assert.deepEqual(root.status, { code: 2, message: 'range exhausted' });
  assert.equal(root.attributes['cni.error.code'], 133);
  assert.equal(root.attributes['error.type'], 'cni.133');
  const step = byId(bad.steps[1]!.spanId);
  assert.deepEqual(step.status, { code: 2, message: 'range exhausted' });
  assert.equal(step.attributes['process.exit.code'], 2);
  assert.equal(byId(bad.steps[0]!.spanId).status.code, 0);
});

test('a killed wrapper\'s invocation arrives as abandoned, ending at its last record', () => {
  const hung = inv('ADD', 'ctr-hang');
  const root = byId(hung.spanId);
  assert.equal(root.status.code, 2);
  assert.match(root.status.message ?? '', /abandoned/);
  assert.equal(root.attributes['cni.abandoned'], true);
  const lastRecordNs = [hung.startNs!, ...hung.steps.flatMap((s) => [s.startNs, s.endNs])].filter((x): x is string => x !== null).map(BigInt).reduce((a, b) => (a > b ? a : b));
  assert.equal(root.endNs, String(lastRecordNs));
  const slow = byId(hung.steps[1]!.spanId);
  assert.equal(slow.attributes['cni.abandoned'], true);
  assert.equal(slow.status.code, 2);
});

test('the agent logs a status line with what it read and exported', () => {
  assert.match(agentStderr, /status: read \d+ records, exported 4 invocations \(\d+ spans\), retries 0, dropped 0/);
});

test('over http/protobuf the same journal arrives as the same spans and metrics as over http/json, in fewer bytes', async () => {
  const proto = new OtlpReceiver();
  await proto.start();
  try {
    const run = await agentOnce(['--journal', journal, '--state-dir', join(sb.dir, 'state-protobuf'), '--abandon-after', '1s', '--node-name', 'node-7', '--protocol', 'http/protobuf'],
      { OTEL_EXPORTER_OTLP_ENDPOINT: proto.endpoint, OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test' });
    assert.equal(run.exitCode, 0, run.stderr);
    assert.match(run.stderr, /\(http\/protobuf; headers/);
    assert.deepEqual([...new Set(proto.encodings)], ['protobuf']);
    assert.deepEqual([...new Set(receiver.encodings)], ['json']);
    const bySpan = (list: readonly ReceivedSpan[]): ReceivedSpan[] => [...list].sort((a, b) => a.spanId.localeCompare(b.spanId));
    assert.deepEqual(bySpan(proto.spans), bySpan(spans), 'every span, attribute, event, link and status alike');
    // Metrics: the same series and values (their timestamps are the export's own).
    const series = (r: OtlpReceiver): unknown[] => r.metrics.flatMap((m) => m.dataPoints.map((p) => ({
      name: m.name, unit: m.unit, kind: m.kind, attributes: p.attributes,
      value: m.kind === 'histogram' ? { count: Number(p.count), sum: Number(p.sum), buckets: (p.bucketCounts as unknown[]).map(Number), bounds: p.explicitBounds } : Number(p.asInt ?? p.asDouble),
    }))).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
    assert.ok(series(proto).length > 0, 'metrics arrived');
    assert.deepEqual(series(proto), series(receiver));
    const bytes = (r: OtlpReceiver): number => r.bodyBytes.reduce((a, b) => a + b, 0);
    console.log(`# the same ${spans.length} spans and metrics: ${bytes(receiver)} bytes as JSON, ${bytes(proto)} as protobuf (${(bytes(receiver) / bytes(proto)).toFixed(1)} ×)`);
    assert.ok(bytes(proto) < bytes(receiver));
  } finally {
    await proto.stop();
  }
});

test('grpc is refused at start, saying what to use instead', async () => {
  const run = await agentOnce(['--journal', journal, '--state-dir', join(sb.dir, 'state-grpc')], { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint });
  assert.notEqual(run.exitCode, 0);
  assert.match(run.stderr, /: OTEL_EXPORTER_OTLP_PROTOCOL: grpc is not supported; the agent speaks OTLP\/HTTP\. Use http\/protobuf or http\/json/);
  assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
});
