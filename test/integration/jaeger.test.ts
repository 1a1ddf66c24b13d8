/**
 * The path a user's first try takes, over the real programs: pods set up and torn down through a
 * wrapped chain of the real plugins (libcni), `cni-trace agent --once` exporting the journal to the
 * OpenTelemetry Collector (built from collector-config/builder-config.yaml) running the shipped
 * collector-config/otel-collector.yaml — only its env placeholders set —, the collector exporting
 * to Jaeger v2, and the traces read back through Jaeger's query API, the one its UI reads. Once
 * over http/json and once over http/protobuf, each with its own pods. Tempo's exporter points at
 * a closed port: one backend down must not hold the other up.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { InvocationIndex, type Invocation } from '../../src/journal/invocations.ts';
import { readJournal } from '../../src/journal/reader.ts';
import { agentOnce } from '../support/agent-process.ts';
import { ensureTools, startCollector, startJaeger, tag, waitForTraces, type Collector, type Jaeger, type JaegerSpan, type JaegerTrace } from '../support/backends.ts';
import { failingChain, fullBridgeChain, writeConflists } from '../support/chains.ts';
import { runDriver, type DriverCall } from '../support/driver.ts';
import { DEBIAN_CNI, installCniTrace, installFixtures } from '../support/fixtures.ts';
import { iptablesState, keepSysctl, restoreIptables, Sandbox } from '../support/sandbox.ts';

const sb = new Sandbox('jaeger');
const bin = join(sb.dir, 'bin');
const ENCODINGS = ['http/json', 'http/protobuf'] as const;
type Encoding = typeof ENCODINGS[number];
const CHAIN_ORDER = ['bridge', 'portmap', 'bandwidth', 'tuning', 'firewall'];

interface Run {
  invocations: Invocation[];
  traces: Map<string, JaegerTrace>;
  agentStderr: string;
}
const runs = new Map<Encoding, Run>();
let jaeger: Jaeger;
let collector: Collector;

before(async () => {
  await ensureTools();
  installCniTrace(bin);
  installFixtures(bin, ['fx-fail']);
  const restoreForward = await keepSysctl('net.ipv4.ip_forward');
  const ipt = await iptablesState();
  sb.onCleanup(async () => { await restoreIptables(ipt); await restoreForward(); });
  jaeger = await startJaeger(sb.dir);
  sb.onCleanup(() => jaeger.stop());
  collector = await startCollector(sb.dir, { jaeger: jaeger.otlpGrpc, nodeName: 'collector-node' });
  sb.onCleanup(() => collector.stop());

  const full = fullBridgeChain(sb, join(sb.dir, 'ipam'));
  const failing = failingChain(sb, join(sb.dir, 'ipam-fail'));
  for (const l of [...full.links, ...failing.links]) sb.ownLink(l);
  for (const encoding of ENCODINGS) {
    const tagName = encoding === 'http/json' ? 'j' : 'p';
    const journal = join(sb.dir, `journal-${tagName}`);
    const good = writeConflists(sb, full, journal, tagName).wrapped;
    const bad = writeConflists(sb, failing, journal, tagName).wrapped;
    const pod = (name: string, id: string, conflist: string, capArgs?: Record<string, unknown>): DriverCall => ({
      conflist, id, path: [bin, DEBIAN_CNI], cacheDir: join(sb.dir, 'cache'),
      args: `IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=${name};K8S_POD_UID=uid-${name}`,
      ...(capArgs ? { capArgs } : {}),
    });
    const cart = { ...pod(`cart-${tagName}`, `ctr-cart-${tagName}`, good, full.capArgs), netns: await sb.netns(`c${tagName}`) };
    const pay = { ...pod(`pay-${tagName}`, `ctr-pay-${tagName}`, bad), netns: await sb.netns(`p${tagName}`) };
    assert.equal((await runDriver('add', cart)).outcome.ok, true);
    assert.equal((await runDriver('del', cart)).outcome.ok, true);
    assert.equal((await runDriver('add', pay)).outcome.ok, false);

    const index = new InvocationIndex();
    for (const r of readJournal(journal)) index.add(r);
    const invocations = index.list();
    assert.equal(invocations.length, 3);
    const agent = await agentOnce(['--journal', journal, '--state-dir', join(sb.dir, `state-${tagName}`), '--node-name', 'node-7', '--protocol', encoding],
      { OTEL_EXPORTER_OTLP_ENDPOINT: collector.otlpHttp });
    assert.equal(agent.exitCode, 0, agent.stderr);
    const traces = await waitForTraces(jaeger.queryUrl, new Map(invocations.map((i) => [i.traceId, 1 + i.steps.length])))
      .catch((e: Error) => { throw new Error(`${e.message}\ncollector log:\n${collector.log().slice(-3000)}`); });
    runs.set(encoding, { invocations, traces, agentStderr: agent.stderr });
  }
});
after(() => sb.cleanup());

const find = (run: Run, command: string, pod: string): { inv: Invocation; trace: JaegerTrace } => {
  const inv = run.invocations.find((i) => i.command === command && i.pod.name === pod);
  assert.ok(inv, `${command} of ${pod} was journaled`);
  return { inv, trace: run.traces.get(inv.traceId)! };
};
const span = (trace: JaegerTrace, spanId: string): JaegerSpan => {
  const s = trace.spans.find((x) => x.spanID === spanId);
  assert.ok(s, `span ${spanId} is in trace ${trace.traceID}`);
  return s;
};
const parentOf = (s: JaegerSpan): string | undefined => s.references.find((r) => r.refType === 'CHILD_OF')?.spanID;
const us = (ns: string): number => Number(BigInt(ns) / 1000n);

for (const encoding of ENCODINGS) {
  const t = encoding === 'http/json' ? 'j' : 'p';
  const run = (): Run => runs.get(encoding)!;

  describe(`over ${encoding}`, () => {
    test('the agent spoke the encoding asked for', () => {
      assert.match(run().agentStderr, new RegExp(`\\(${encoding.replace('/', '\\/')}; headers`));
    });

    test('one trace per pod network operation, each span once, with the journal\'s ids and times, and no Jaeger warnings', () => {
      for (const inv of run().invocations) {
        const trace = run().traces.get(inv.traceId)!;
        assert.equal(trace.spans.length, 1 + inv.steps.length, `${inv.command} of ${inv.pod.name}`);
        assert.deepEqual(trace.spans.map((s) => s.spanID).sort(), [inv.spanId, ...inv.steps.map((s) => s.spanId)].sort());
        const root = span(trace, inv.spanId);
        assert.equal(root.operationName, `CNI ${inv.command}`);
        assert.equal(parentOf(root), undefined, 'the root has no parent (no TRACEPARENT)');
        // Jaeger keeps microseconds: the start truncated, the duration truncated on its own.
        assert.equal(root.startTime, us(inv.startNs!));
        assert.equal(root.duration, us(String(BigInt(inv.endNs!) - BigInt(inv.startNs!))));
        assert.deepEqual(trace.spans.flatMap((s) => s.warnings ?? []), [], 'Jaeger found nothing to warn about (clock skew, unknown parents)');
        assert.equal(trace.warnings ?? null, null);
      }
    });

    test('the pod\'s name finds its trace: Jaeger\'s search by service, operation and k8s.pod.name', async () => {
      const { inv } = find(run(), 'ADD', `cart-${t}`);
      const q = new URLSearchParams({ service: 'cni-trace', operation: 'CNI ADD', tags: JSON.stringify({ 'k8s.pod.name': `cart-${t}` }), limit: '20', lookback: '1h' });
      const res = await fetch(`${jaeger.queryUrl}/api/traces?${q}`);
      assert.equal(res.status, 200);
      const found = (await res.json() as { data: JaegerTrace[] }).data.map((x) => x.traceID);
      assert.deepEqual(found, [inv.traceId]);
      const services = (await (await fetch(`${jaeger.queryUrl}/api/services`)).json() as { data: string[] }).data;
      assert.ok(services.includes('cni-trace'), services.join(', '));
    });

    test('one child span per plugin in chain order, host-local nested under bridge and inside it in time', () => {
      for (const command of ['ADD', 'DEL']) {
        const { inv, trace } = find(run(), command, `cart-${t}`);
        const root = span(trace, inv.spanId);
        const children = trace.spans.filter((s) => parentOf(s) === root.spanID).sort((a, b) => a.startTime - b.startTime);
        const order = command === 'ADD' ? CHAIN_ORDER : [...CHAIN_ORDER].reverse();
        assert.deepEqual(children.map((s) => s.operationName), order.map((p) => `${p} ${command}`));
        const bridge = children.find((s) => s.operationName === `bridge ${command}`)!;
        const ipam = trace.spans.find((s) => s.operationName === `host-local ${command}`);
        assert.ok(ipam, `${command}: host-local's span`);
        assert.equal(parentOf(ipam), bridge.spanID);
        assert.ok(ipam.startTime >= bridge.startTime && ipam.startTime + ipam.duration <= bridge.startTime + bridge.duration, 'bridge covers host-local');
        assert.equal(tag(ipam.tags, 'cni.step.depth'), 1);
        assert.equal(tag(ipam.tags, 'process.executable.path'), '/usr/lib/cni/host-local');
        for (const s of children) {
          assert.equal(tag(s.tags, 'span.kind'), 'client');
          assert.equal(tag(s.tags, 'process.exit.code'), 0);
          assert.equal(tag(s.tags, 'process.executable.path'), `/usr/lib/cni/${String(tag(s.tags, 'cni.plugin.type'))}`);
        }
      }
    });

    test('the k8s and container semantic-convention attributes, on the span and on the process (resource)', () => {
      const { inv, trace } = find(run(), 'ADD', `cart-${t}`);
      const root = span(trace, inv.spanId);
      for (const [k, v] of Object.entries({
        'k8s.pod.name': `cart-${t}`, 'k8s.namespace.name': 'shop', 'k8s.pod.uid': `uid-cart-${t}`, 'container.id': `ctr-cart-${t}`,
        'network.interface.name': 'eth0', 'cni.command': 'ADD', 'cni.version': '1.0.0', 'span.kind': 'server',
      })) assert.equal(tag(root.tags, k), v, k);
      assert.match(String(tag(root.tags, 'cni.netns')), /netns/);
      // An array attribute reaches Jaeger as its JSON text (Jaeger tags have no array type).
      assert.match(String(tag(root.tags, 'cni.result.ips')), /^\["10\.250\.\d+\.\d+\/24"\]$/);
      assert.equal(tag(root.tags, 'otel.scope.name'), 'cni-trace');
      const process = trace.processes[root.processID]!;
      assert.equal(process.serviceName, 'cni-trace');
      // The agent's node, kept: the collector's resource processor only inserts its own where none is.
      assert.equal(tag(process.tags, 'k8s.node.name'), 'node-7');
      assert.equal(typeof tag(process.tags, 'host.name'), 'string');
      // resource_detection's system detector adds what the agent does not send.
      assert.equal(tag(process.tags, 'os.type'), 'linux');
    });

    test('a failed ADD: error status with the plugin\'s message on the root and on the failing plugin; the plugins after it never ran', () => {
      const { inv, trace } = find(run(), 'ADD', `pay-${t}`);
      const root = span(trace, inv.spanId);
      assert.equal(tag(root.tags, 'error'), true);
      assert.equal(tag(root.tags, 'otel.status_code'), 'ERROR');
      assert.equal(tag(root.tags, 'otel.status_description'), 'fixture refuses');
      assert.equal(tag(root.tags, 'cni.error.code'), 142);
      assert.equal(tag(root.tags, 'error.type'), 'cni.142');
      const failed = trace.spans.find((s) => s.operationName === 'fx-fail ADD');
      assert.ok(failed);
      assert.equal(tag(failed.tags, 'error'), true);
      assert.equal(tag(failed.tags, 'otel.status_description'), 'fixture refuses');
      assert.equal(tag(failed.tags, 'process.exit.code'), 3);
      const bridge = trace.spans.find((s) => s.operationName === 'bridge ADD')!;
      assert.equal(tag(bridge.tags, 'error'), undefined);
      assert.equal(tag(bridge.tags, 'otel.status_code'), undefined);
      assert.ok(!trace.spans.some((s) => s.operationName === 'portmap ADD' && !tag(s.tags, 'cni.skipped')), 'portmap did not run');
    });

    test('the DEL\'s trace links to its ADD\'s', () => {
      const add = find(run(), 'ADD', `cart-${t}`).inv;
      const { inv, trace } = find(run(), 'DEL', `cart-${t}`);
      assert.notEqual(inv.traceId, add.traceId);
      assert.deepEqual(span(trace, inv.spanId).references.map((r) => [r.refType, r.traceID, r.spanID]), [['FOLLOWS_FROM', add.traceId, add.spanId]]);
    });
  });
}

test('both encodings gave Jaeger the same spans, tag for tag', () => {
  const shape = (run: Run): unknown[] => run.invocations.map((inv) => {
    const trace = run.traces.get(inv.traceId)!;
    return trace.spans.map((s) => ({
      op: s.operationName, parent: trace.spans.find((p) => p.spanID === parentOf(s))?.operationName ?? null,
      // Per-run values (names, ids) left out; cni-trace's own time by key only (a whole number of ms is an int, else a double).
      tags: s.tags.filter((x) => !/^(k8s\.pod\.(name|uid)|container\.id|cni\.netns|cni\.network\.name|cni\.result\..*|process\.pid)$/.test(x.key))
        .map((x) => (/^cni\.own_time\./.test(x.key) ? x.key : `${x.key}=${x.type}:${JSON.stringify(x.value)}`)).sort(),
      logs: s.logs.length,
    })).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
  });
  assert.deepEqual(shape(runs.get('http/protobuf')!), shape(runs.get('http/json')!));
});
