/**
 * The agent's span model (src/agent/spans.ts) from hand-built invocations: a root span per
 * invocation and a span per step, nested calls under their caller at every depth, the DEL's
 * link to its ADD, status, attributes, stderr events and times.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { emptyResource } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { hrTime, MAX_STDERR_EVENTS, MAX_STDERR_LINE, spansFromInvocation, stderrEvents } from '../../src/agent/spans.ts';
import { InvocationIndex, type Invocation, type Step } from '../../src/journal/invocations.ts';
import type { JournalRecord } from '../../src/journal/record.ts';
import { CHAIN, chainRecords, INV, invocationBegin, invocationEnd, ns, RUNTIME_SPAN, stepRecords, TRACE } from '../support/records.ts';

const opts = { resource: emptyResource(), nodeName: 'node-1' };

function assemble(records: JournalRecord[], alive = false): Invocation {
  const index = new InvocationIndex(() => alive);
  for (const r of records) index.add(r);
  return index.get(INV)!;
}

function byName(spans: ReadableSpan[], name: string): ReadableSpan {
  const s = spans.find((x) => x.name === name);
  assert.ok(s, `a span named ${name}`);
  return s;
}

test('rule: a nested call\'s span is a child of its caller\'s span at depths 1, 2 and 3; a delegate\'s is a child of the root', () => {
  const spans = spansFromInvocation(assemble(chainRecords()), opts);
  assert.equal(spans.length, 1 + CHAIN.length, 'a root and one span per step');
  const root = spans[0]!;
  assert.equal(root.name, 'CNI ADD');
  assert.equal(root.spanContext().spanId, INV);
  for (const s of spans) assert.equal(s.spanContext().traceId, TRACE, `${s.name}: the journal's trace id`);
  const parentOf = (name: string): string | undefined => byName(spans, name).parentSpanContext?.spanId;
  assert.equal(parentOf('bridge ADD'), INV, 'a delegate (depth 0) is a child of the invocation');
  assert.equal(parentOf('portmap ADD'), INV, 'a delegate (depth 0) is a child of the invocation');
  assert.equal(parentOf('host-local ADD'), CHAIN[0]!.spanId, 'depth 1: a child of the delegate that ran it, not of the root');
  assert.equal(parentOf('static ADD'), CHAIN[1]!.spanId, 'depth 2: a child of the nested call that ran it, not of the root');
  assert.equal(parentOf('leaf ADD'), CHAIN[2]!.spanId, 'depth 3: a child of the nested call that ran it, not of the root');
  for (const spec of CHAIN) assert.equal(byName(spans, `${spec.plugin} ADD`).spanContext().spanId, spec.spanId, `${spec.plugin}: the journal's span id`);
  assert.deepEqual(spans.map((s) => s.attributes['cni.step.depth']), [undefined, undefined, 1, 2, 3, undefined], 'cni.step.depth only on nested calls, with their depth');
});

test('the root span: a server span under the runtime\'s span (remote), with the call\'s identity and result as attributes', () => {
  const [root] = spansFromInvocation(assemble(chainRecords()), opts);
  assert.ok(root);
  assert.equal(root.kind, SpanKind.SERVER);
  assert.deepEqual(root.parentSpanContext, { traceId: TRACE, spanId: RUNTIME_SPAN, traceFlags: 1, isRemote: true });
  assert.deepEqual(root.status, { code: SpanStatusCode.UNSET });
  assert.deepEqual(root.startTime, [1_790_000_000, 0]);
  assert.deepEqual(root.endTime, [1_790_000_000, 100_000_000]);
  assert.deepEqual(root.duration, [0, 100_000_000]);
  assert.deepEqual(root.links, []);
  assert.deepEqual(root.attributes, {
    'cni.command': 'ADD', 'cni.network.name': 'podnet', 'cni.version': '1.0.0', 'cni.netns': '/var/run/netns/n1',
    'container.id': 'ctr-nested', 'network.interface.name': 'eth0', 'k8s.pod.name': 'pod-1', 'k8s.pod.uid': 'uid-1',
    'k8s.namespace.name': 'ns1', 'k8s.node.name': 'node-1', 'process.exit.code': 0, 'process.pid': 4242,
    'cni.result.ips': ['10.1.2.3/24', 'fd00::3/64'],
    // cni-trace's own time (decision 27): what of the call no delegate's step covers.
    'cni.own_time.ms': 31,
  });
  assert.equal(root.ended, true);
  assert.deepEqual(root.instrumentationScope.name, 'cni-trace');
});

test('a step span: a client span named "<plugin> <COMMAND>" with its times, path and exit code', () => {
  const spans = spansFromInvocation(assemble(chainRecords()), opts);
  const leaf = byName(spans, 'leaf ADD');
  assert.equal(leaf.kind, SpanKind.CLIENT);
  assert.deepEqual(leaf.parentSpanContext, { traceId: TRACE, spanId: CHAIN[2]!.spanId, traceFlags: 1 }, 'a local parent');
  assert.deepEqual([leaf.startTime, leaf.endTime, leaf.duration], [[1_790_000_000, 15_000_000], [1_790_000_000, 20_000_000], [0, 5_000_000]]);
  assert.deepEqual(leaf.status, { code: SpanStatusCode.UNSET });
  assert.deepEqual(leaf.attributes, {
    'cni.plugin.type': 'leaf', 'cni.command': 'ADD', 'cni.step.index': 0, 'cni.step.depth': 3, 'process.executable.path': '/opt/cni/bin/leaf',
    'process.exit.code': 0, 'container.id': 'ctr-nested', 'network.interface.name': 'eth0',
  });
  assert.deepEqual(leaf.events, []);
});

test('status: a plugin error is ERROR with its message and CNI code; a silent failure names the exit code; the root carries the call\'s error', () => {
  const records = [
    invocationBegin({ parentSpanId: undefined }),
    ...stepRecords({ spanId: 'c000000000000000', plugin: 'bridge', startMs: 1, endMs: 10, end: { status: 'error', exitCode: 1, error: { code: 11, msg: 'no IP', details: 'pool empty' } } }),
    ...stepRecords({ spanId: 'c000000000000001', plugin: 'portmap', index: 1, startMs: 11, endMs: 12, end: { status: 'error', exitCode: 2 } }),
    invocationEnd({ status: 'error', exitCode: 1, error: { code: 11, msg: 'no IP', details: 'pool empty' } }),
  ];
  const [root, bridge, portmap] = spansFromInvocation(assemble(records), opts);
  assert.equal(root!.parentSpanContext, undefined, 'no TRACEPARENT: a root span');
  assert.deepEqual(root!.status, { code: SpanStatusCode.ERROR, message: 'no IP' });
  assert.equal(root!.attributes['error.type'], 'cni.11');
  assert.deepEqual([root!.attributes['cni.error.code'], root!.attributes['cni.error.msg'], root!.attributes['cni.error.details']], [11, 'no IP', 'pool empty']);
  assert.deepEqual(bridge!.status, { code: SpanStatusCode.ERROR, message: 'no IP' });
  assert.equal(bridge!.attributes['error.type'], 'cni.11');
  assert.deepEqual(portmap!.status, { code: SpanStatusCode.ERROR, message: 'plugin failed with exit code 2' });
  assert.equal(portmap!.attributes['process.exit.code'], 2);
});

test('an abandoned invocation ends at its last record with ERROR; its unfinished step too, and a step never begun has no span', () => {
  const records = [
    invocationBegin(),
    ...stepRecords({ spanId: 'd000000000000000', plugin: 'bridge', startMs: 1, endMs: null }),
  ];
  const inv = assemble(records, false);
  assert.equal(inv.status, 'abandoned');
  const spans = spansFromInvocation(inv, { ...opts, abandonedAtNs: ns(30) });
  assert.equal(spans.length, 2);
  const [root, bridge] = spans;
  assert.deepEqual(root!.endTime, [1_790_000_000, 30_000_000]);
  assert.equal(root!.status.code, SpanStatusCode.ERROR);
  assert.match(root!.status.message!, /^abandoned/);
  assert.equal(root!.attributes['cni.abandoned'], true);
  assert.equal(root!.attributes['error.type'], 'abandoned');
  assert.deepEqual(bridge!.endTime, [1_790_000_000, 30_000_000], 'an unfinished step ends with its invocation');
  assert.match(bridge!.status.message!, /^abandoned: the plugin was still running/);
  assert.equal(bridge!.attributes['cni.abandoned'], true);
  // Only an end record: nothing to anchor a trace.
  assert.deepEqual(spansFromInvocation(assemble([invocationEnd()]), opts), []);
});

test('an in-flight step (its wrapper still runs) is marked unfinished', () => {
  const inv = assemble([invocationBegin(), ...stepRecords({ spanId: 'd000000000000001', plugin: 'bridge', startMs: 1, endMs: null }), invocationEnd()], true);
  const bridge = spansFromInvocation(inv, opts)[1]!;
  assert.deepEqual(bridge.status, { code: SpanStatusCode.ERROR, message: 'unfinished' });
  assert.deepEqual(bridge.endTime, [1_790_000_000, 100_000_000]);
});

test('links: a DEL links to the ADD it undoes; an ADD never carries a link', () => {
  const add = { traceId: 'e'.repeat(32), spanId: 'e'.repeat(16) };
  const del = assemble([invocationBegin({ command: 'DEL' }), invocationEnd({ command: 'DEL' })]);
  const [root] = spansFromInvocation(del, { ...opts, addLink: add });
  assert.equal(root!.name, 'CNI DEL');
  assert.deepEqual(root!.links, [{ context: { traceId: add.traceId, spanId: add.spanId, traceFlags: 1 }, attributes: { 'cni.link': 'the ADD this DEL undoes' } }]);
  assert.equal(root!.attributes['cni.result.ips'], undefined, 'a DEL has no result IPs');
  const [addRoot] = spansFromInvocation(assemble(chainRecords()), { ...opts, addLink: add });
  assert.deepEqual(addRoot!.links, []);
});

test('events: one stderr event per non-blank line at the step\'s end, lines and count bounded, truncation said', () => {
  const long = 'x'.repeat(MAX_STDERR_LINE + 10);
  const stderr = `first\n\n  \n${long}\n`;
  const inv = assemble([invocationBegin(), ...stepRecords({ spanId: 'd000000000000002', plugin: 'bridge', startMs: 1, endMs: 7, end: { stderr: { text: stderr, bytes: stderr.length, truncated: false } } }), invocationEnd()]);
  const bridge = spansFromInvocation(inv, opts)[1]!;
  assert.deepEqual(bridge.events.map((e) => [e.name, e.attributes?.['cni.stderr.line'], e.time]), [
    ['stderr', 'first', [1_790_000_000, 7_000_000]],
    ['stderr', `${'x'.repeat(MAX_STDERR_LINE)}…`, [1_790_000_000, 7_000_000]],
  ]);
  const many = Array.from({ length: MAX_STDERR_EVENTS + 5 }, (_, i) => `line ${i}`).join('\n');
  const step = { stderr: { text: many, bytes: 9999, truncated: true } } as unknown as Step;
  const events = stderrEvents(step, [1, 2]);
  assert.equal(events.length, MAX_STDERR_EVENTS + 1);
  assert.equal(events[MAX_STDERR_EVENTS - 1]!.attributes?.['cni.stderr.line'], `line ${MAX_STDERR_EVENTS - 1}`);
  assert.deepEqual(events.at(-1), { name: 'stderr truncated', time: [1, 2], attributes: { 'cni.stderr.lines': MAX_STDERR_EVENTS + 5, 'cni.stderr.bytes': 9999 }, droppedAttributesCount: 0 });
  const cut = { stderr: { text: 'one\n', bytes: 5000, truncated: true } } as unknown as Step;
  assert.deepEqual(stderrEvents(cut, [0, 0]).map((e) => e.name), ['stderr', 'stderr truncated'], 'a truncated capture is said even when its lines fit');
  assert.equal(stderrEvents({ stderr: { text: 'a\nb', bytes: 3, truncated: false } } as unknown as Step, [0, 0]).length, 2, 'no truncation event when all fit');
  assert.deepEqual(stderrEvents({} as Step, [0, 0]), [], 'no stderr, no event');
});

test('hrTime splits epoch ns exactly (beyond 2^53); a step ending before it started lasts 0', () => {
  assert.deepEqual(hrTime('1790000000123456789'), [1_790_000_000, 123_456_789]);
  assert.deepEqual(hrTime('999999999'), [0, 999_999_999]);
  assert.deepEqual(hrTime('1000000000'), [1, 0]);
  const inv = assemble([invocationBegin(), ...stepRecords({ spanId: 'd000000000000003', plugin: 'bridge', startMs: 9, endMs: 4 }), invocationEnd()]);
  assert.deepEqual(spansFromInvocation(inv, opts)[1]!.duration, [0, 0]);
});

test('attributes: empty values are left out; infra container, signal, skip reason and a cut stderr\'s size are carried', () => {
  const records = [
    invocationBegin({ pod: { namespace: '', name: 'p', infraContainerId: 'infra-1' }, netns: '' }),
    ...stepRecords({ spanId: 'd000000000000004', plugin: 'bridge', startMs: 1, endMs: 2, end: { status: 'error', exitCode: null, signal: 'SIGKILL', stderr: { text: 'x\n', bytes: 70_000, truncated: true } } }),
    ...stepRecords({ spanId: 'd000000000000005', plugin: 'portmap', index: 1, startMs: 3, endMs: 3, end: { status: 'skipped', skipped: 'portmap does not speak 1.1.0' } }),
    invocationEnd({ stdout: { text: '{"cniVersion":"1.0.0","ips":[{"address":5},{"interface":0},{"address":"10.0.0.9/24"}]}', bytes: 90, truncated: false } }),
  ];
  const [root, bridge, portmap] = spansFromInvocation(assemble(records), opts);
  assert.equal(root!.attributes['cni.pod.infra_container_id'], 'infra-1');
  assert.equal('k8s.namespace.name' in root!.attributes, false, 'an empty namespace is no attribute');
  assert.equal('cni.netns' in root!.attributes, false, 'an empty netns is no attribute');
  assert.deepEqual(root!.attributes['cni.result.ips'], ['10.0.0.9/24'], 'only string addresses');
  assert.equal(bridge!.attributes['cni.signal'], 'SIGKILL');
  assert.equal(bridge!.attributes['cni.stderr.bytes'], 70_000);
  assert.equal('process.exit.code' in bridge!.attributes, false);
  assert.equal(portmap!.attributes['cni.skipped'], 'portmap does not speak 1.1.0');
  assert.equal('cni.stderr.bytes' in portmap!.attributes, false, 'a whole stderr says no size');
  assert.deepEqual([bridge!.links, portmap!.links], [[], []], 'a step has no links');
  const noIps = assemble([invocationBegin(), invocationEnd({ stdout: { text: '{"cniVersion":"1.0.0"}', bytes: 22, truncated: false } })]);
  assert.equal('cni.result.ips' in spansFromInvocation(noIps, opts)[0]!.attributes, false, 'a result without ips');
  const cut = assemble([invocationBegin(), invocationEnd({ stdout: { text: '{"ips":[{"address":"10.0.0.1/24"}', bytes: 9000, truncated: true } })]);
  assert.equal('cni.result.ips' in spansFromInvocation(cut, opts)[0]!.attributes, false, 'a cut result is not read');
});

test('events at their bounds: a line of exactly MAX_STDERR_LINE is whole; exactly MAX_STDERR_EVENTS lines need no truncation event', () => {
  const exact = 'y'.repeat(MAX_STDERR_LINE);
  assert.deepEqual(stderrEvents({ stderr: { text: exact, bytes: exact.length, truncated: false } } as unknown as Step, [0, 0]).map((e) => e.attributes?.['cni.stderr.line']), [exact]);
  const twenty = Array.from({ length: MAX_STDERR_EVENTS }, (_, i) => `l${i}`).join('\n');
  const events = stderrEvents({ stderr: { text: twenty, bytes: twenty.length, truncated: false } } as unknown as Step, [0, 0]);
  assert.equal(events.length, MAX_STDERR_EVENTS);
  assert.ok(events.every((e) => e.name === 'stderr'));
});

test('more lines than MAX_STDERR_EVENTS are said even when the capture is whole; the root has no stderr events; a step without its begin has no span', () => {
  const many = Array.from({ length: MAX_STDERR_EVENTS + 1 }, (_, i) => `m${i}`).join('\n');
  const events = stderrEvents({ stderr: { text: many, bytes: many.length, truncated: false } } as unknown as Step, [0, 0]);
  assert.deepEqual(events.at(-1)?.attributes, { 'cni.stderr.lines': MAX_STDERR_EVENTS + 1, 'cni.stderr.bytes': many.length });
  const endOnly = stepRecords({ spanId: 'd000000000000006', plugin: 'lost', startMs: 1, endMs: 2 })[1]!;
  const spans = spansFromInvocation(assemble([invocationBegin(), endOnly, invocationEnd()]), opts);
  assert.deepEqual(spans.map((s) => s.name), ['CNI ADD'], 'no span for a step whose begin was not read');
  assert.deepEqual(spans[0]!.events.map((e) => e.name), ['cni-trace'], 'only cni-trace\'s own time, the whole call here');
});
