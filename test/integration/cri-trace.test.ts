/**
 * One trace from the kubelet's call down to each plugin, over the real programs: containerd 2.x
 * (built from its module by scripts/tools.sh; its go-cni and libcni 1.3.1 pass the CNI call's
 * span to the plugin as TRACEPARENT) with its OTLP tracing on, sending to the OpenTelemetry
 * Collector that runs the shipped collector-config/otel-collector.yaml, which sends to Jaeger v2;
 * RunPodSandbox, StopPodSandbox and RemovePodSandbox through the CRI (test/cri) on the full chain
 * wrapped by cni-trace; `cni-trace agent --once` exporting the journal to the same collector; the
 * traces read back through Jaeger's query API.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { wrapConflist } from '../../src/cli/conflist.ts';
import type { JsonObject } from '../../src/config/wrapper-entry.ts';
import { InvocationIndex, type Invocation } from '../../src/journal/invocations.ts';
import { readJournal } from '../../src/journal/reader.ts';
import { agentOnce } from '../support/agent-process.ts';
import { ensureTools, jaegerTrace, startCollector, startJaeger, tag, type JaegerSpan, type JaegerTrace } from '../support/backends.ts';
import { fullBridgeChain } from '../support/chains.ts';
import { CONTAINERD2_BIN, Containerd, containerdAvailable } from '../support/containerd.ts';
import { DEBIAN_CNI, installCniTrace } from '../support/fixtures.ts';
import { Sandbox } from '../support/sandbox.ts';

const sb = new Sandbox('critrace');
const bin = join(sb.dir, 'bin');
const journalDir = join(sb.dir, 'journal');
const CHAIN = ['bridge', 'portmap', 'bandwidth', 'tuning', 'firewall'];
const RPC = (name: string): string => `runtime.v1.RuntimeService/${name}`;
let network = '';
let chain: JsonObject = {};
let sandboxId = '';
let invocations: Invocation[] = [];
let containerd: Containerd | null = null;
const traces = new Map<string, JaegerTrace>();

const parentOf = (s: JaegerSpan): string | undefined => s.references.find((r) => r.refType === 'CHILD_OF')?.spanID;
const service = (t: JaegerTrace, s: JaegerSpan): string | undefined => t.processes[s.processID]?.serviceName;

/** Polls Jaeger until the trace has a span `ok` accepts for each of `wanted` (both services export on their own schedule). */
async function traceWith(queryUrl: string, traceId: string, wanted: ReadonlyArray<(t: JaegerTrace) => boolean>, timeoutMs = 30_000): Promise<JaegerTrace> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const t = await jaegerTrace(queryUrl, traceId);
    if (t && wanted.every((ok) => ok(t))) return t;
    if (Date.now() > end) throw new Error(`trace ${traceId} incomplete after ${timeoutMs} ms: ${t ? t.spans.map((s) => `${service(t, s)}:${s.operationName}`).join(', ') : 'not in Jaeger'}`);
    await sleep(200);
  }
}

before(async () => {
  await ensureTools();
  // Built by the set-up above: a missing piece fails the test, it never skips it.
  const missing = containerdAvailable(CONTAINERD2_BIN);
  if (missing) throw new Error(missing);
  installCniTrace(bin);
  await sb.keepHostNetwork();
  const jaeger = await startJaeger(sb.dir);
  sb.onCleanup(() => jaeger.stop());
  const collector = await startCollector(sb.dir, { jaeger: jaeger.otlpGrpc, nodeName: 'collector-node' });
  sb.onCleanup(() => collector.stop());

  const spec = fullBridgeChain(sb, join(sb.dir, 'ipam'));
  spec.links.forEach((l) => sb.ownLink(l));
  network = spec.conflist.name as string;
  chain = spec.conflist;
  const cd = await Containerd.start({
    dir: join(sb.dir, 'cd'), conflist: wrapConflist(spec.conflist, { journalDir }), pluginDirs: [bin, DEBIAN_CNI], binDir: CONTAINERD2_BIN,
    // containerd's tracing is configured by the OTel SDK's variables only (its docs/tracing.md);
    // a short batch delay so the spans are in Jaeger within the test's wait.
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: collector.otlpHttp, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf', OTEL_SERVICE_NAME: 'containerd', OTEL_BSP_SCHEDULE_DELAY: '200' },
  });
  containerd = cd;
  // Also when a step below fails; the last test downs it first and checks what was left.
  sb.onCleanup(async () => { await cd.down(); });
  const run = await cd.run({
    name: 'web-0', namespace: `ns-${sb.id}`, uid: `uid-${sb.id}`, hostname: 'web-0',
    portMappings: [{ protocol: 'TCP', containerPort: 80, hostPort: 30000 + (parseInt(sb.id.slice(0, 3), 16) % 20000) }],
    annotations: { 'kubernetes.io/ingress-bandwidth': '8M', 'kubernetes.io/egress-bandwidth': '8M' },
  });
  assert.ok(run.ok, `RunPodSandbox: ${run.message}\n${cd.log().slice(-3000)}`);
  sandboxId = run.id!;
  assert.ok((await cd.stop(sandboxId)).ok, 'StopPodSandbox');
  assert.ok((await cd.remove(sandboxId)).ok, 'RemovePodSandbox');

  const index = new InvocationIndex();
  for (const r of readJournal(journalDir)) index.add(r);
  invocations = index.list().filter((i) => i.command !== 'VERSION');
  assert.deepEqual(invocations.map((i) => i.command), ['ADD', 'DEL', 'DEL'], 'RunPodSandbox\'s ADD, StopPodSandbox\'s and RemovePodSandbox\'s DELs');
  const agent = await agentOnce(['--journal', journalDir, '--state-dir', join(sb.dir, 'state'), '--node-name', 'node-7'], { OTEL_EXPORTER_OTLP_ENDPOINT: collector.otlpHttp });
  assert.equal(agent.exitCode, 0, agent.stderr);
  const rpcs = ['RunPodSandbox', 'StopPodSandbox', 'RemovePodSandbox'];
  for (const [i, inv] of invocations.entries()) {
    const has = (svc: string, op: string) => (t: JaegerTrace): boolean => t.spans.some((s) => s.operationName === op && service(t, s) === svc);
    const t = await traceWith(jaeger.queryUrl, inv.traceId, [has('containerd', RPC(rpcs[i]!)), ...inv.steps.map((st) => (x: JaegerTrace) => x.spans.some((s) => s.spanID === st.spanId))])
      .catch((e: Error) => { throw new Error(`${e.message}\ncontainerd log:\n${cd.log().slice(-3000)}\ncollector log:\n${collector.log().slice(-3000)}`); });
    traces.set(inv.traceId, t);
  }
});
after(() => sb.cleanup());

test('RunPodSandbox is one trace in Jaeger: containerd\'s CRI span, its CNI setup span, cni-trace\'s invocation span and a span per plugin under it', () => {
  const add = invocations[0]!;
  const trace = traces.get(add.traceId)!;
  const byId = new Map(trace.spans.map((s) => [s.spanID, s]));
  const one = (svc: string, op: string): JaegerSpan => {
    const found = trace.spans.filter((s) => s.operationName === op && service(trace, s) === svc);
    assert.equal(found.length, 1, `one ${svc} span "${op}" in the trace: ${trace.spans.map((s) => s.operationName).join(', ')}`);
    return found[0]!;
  };
  /** The names from `s` up to the root. */
  const lineage = (s: JaegerSpan): string[] => {
    const names: string[] = [];
    for (let cur: JaegerSpan | undefined = s; cur; cur = byId.get(parentOf(cur) ?? '')) names.push(`${service(trace, cur)}:${cur.operationName}`);
    return names;
  };

  const rpc = one('containerd', RPC('RunPodSandbox'));
  assert.equal(parentOf(rpc), undefined, 'the CRI call is the root (the test\'s client sends no trace context; a traced kubelet\'s would be its parent)');
  const setup = one('containerd', 'cni.setup_pod_network');
  assert.equal(tag(setup.tags, 'sandbox.id'), sandboxId, 'containerd\'s CNI setup span names the sandbox');
  const root = one('cni-trace', 'CNI ADD');
  assert.equal(root.spanID, add.spanId, 'the journal\'s invocation span');
  assert.equal(add.traceId, rpc.traceID);
  // go-cni opens a span per network (loopback's and ours) under its Setup span; libcni passes
  // the one for ours to the plugin, cni-trace, as TRACEPARENT.
  const attach = byId.get(parentOf(root) ?? '');
  assert.ok(attach, 'cni-trace\'s span has its parent in the trace');
  assert.equal(tag(attach.tags, 'cni.name'), network, 'the parent is go-cni\'s span for this network');
  assert.deepEqual(lineage(root), [
    'cni-trace:CNI ADD', `containerd:${attach.operationName}`, 'containerd:cni.Setup', 'containerd:cni.setup_pod_network',
    'containerd:cri.sandbox.run', `containerd:${RPC('RunPodSandbox')}`,
  ]);
  const plugins = trace.spans.filter((s) => parentOf(s) === root.spanID).sort((a, b) => a.startTime - b.startTime);
  assert.deepEqual(plugins.map((s) => `${service(trace, s)}:${s.operationName}`), CHAIN.map((p) => `cni-trace:${p} ADD`), 'a span per plugin in chain order');
  const ipam = one('cni-trace', 'host-local ADD');
  assert.equal(parentOf(ipam), plugins[0]!.spanID, 'host-local under bridge');
  for (const [outer, inner] of [[rpc, setup], [setup, root], [root, ipam]] as const) {
    assert.ok(inner.startTime >= outer.startTime && inner.startTime + inner.duration <= outer.startTime + outer.duration, `${outer.operationName} covers ${inner.operationName}`);
  }
  assert.equal(tag(root.tags, 'k8s.pod.name'), 'web-0');
  assert.equal(tag(root.tags, 'container.id'), sandboxId);
  assert.deepEqual(trace.spans.flatMap((s) => s.warnings ?? []), [], 'Jaeger found nothing to warn about (unknown parents, clock skew)');
});

test('StopPodSandbox\'s and RemovePodSandbox\'s DELs each join the trace of their own CRI call', () => {
  for (const [inv, name] of [[invocations[1]!, 'StopPodSandbox'], [invocations[2]!, 'RemovePodSandbox']] as const) {
    const trace = traces.get(inv.traceId)!;
    const byId = new Map(trace.spans.map((s) => [s.spanID, s]));
    const root = byId.get(inv.spanId);
    assert.ok(root, `${name}: cni-trace's DEL in the trace`);
    assert.equal(root.operationName, 'CNI DEL');
    let top = root;
    while (byId.has(parentOf(top) ?? '')) top = byId.get(parentOf(top)!)!;
    assert.equal(top.operationName, RPC(name), `${name}: the trace's root is the CRI call`);
    assert.equal(service(trace, top), 'containerd');
    assert.ok(trace.spans.some((s) => s.operationName === 'cni.Remove' && service(trace, s) === 'containerd'), `${name}: go-cni's Remove span`);
    assert.deepEqual(trace.spans.filter((s) => parentOf(s) === root.spanID).sort((a, b) => a.startTime - b.startTime).map((s) => s.operationName), [...CHAIN].reverse().map((p) => `${p} DEL`));
  }
  assert.notEqual(invocations[1]!.traceId, invocations[2]!.traceId, 'two CRI calls, two traces');
});

test('containerd 2.x leaves nothing behind: no sandbox, container, shim, netns mount or libcni cache file', async () => {
  assert.ok(containerd, 'containerd ran');
  assert.deepEqual(await containerd.down(), [], 'what containerd\'s clean-up had to remove itself');
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(sb.dir));
  assert.deepEqual(mounts, []);
});

test('containerd 2.x with its tracing off passes no TRACEPARENT: cni-trace\'s invocation is a root, as under 1.6', { timeout: 120_000 }, async () => {
  const journal = join(sb.dir, 'journal-untraced');
  const cd = await Containerd.start({ dir: join(sb.dir, 'cd-untraced'), conflist: wrapConflist(chain, { journalDir: journal }), pluginDirs: [bin, DEBIAN_CNI], binDir: CONTAINERD2_BIN });
  try {
    const run = await cd.run({ name: 'web-1', namespace: `ns-${sb.id}`, uid: `uid-${sb.id}-1` });
    assert.ok(run.ok, `RunPodSandbox: ${run.message}`);
    assert.ok((await cd.stop(run.id!)).ok && (await cd.remove(run.id!)).ok, 'stop and remove');
  } finally {
    assert.deepEqual(await cd.down(), [], 'containerd\'s clean-up');
  }
  const index = new InvocationIndex();
  for (const r of readJournal(journal)) index.add(r);
  const calls = index.list().filter((i) => i.command !== 'VERSION');
  assert.deepEqual(calls.map((i) => i.command), ['ADD', 'DEL', 'DEL']);
  for (const inv of calls) {
    assert.equal(inv.env.TRACEPARENT, undefined, `${inv.command}: no TRACEPARENT in the plugin's env`);
    assert.equal(inv.parentSpanId, undefined, `${inv.command}: a root span`);
  }
  // And the traced run's calls had one each (what the traces above were built from).
  for (const inv of invocations) assert.match(inv.env.TRACEPARENT ?? '', new RegExp(`^00-${inv.traceId}-[0-9a-f]{16}-01$`), `${inv.command}: containerd's TRACEPARENT`);
});
