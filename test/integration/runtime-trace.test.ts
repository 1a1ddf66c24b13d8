/**
 * Joining the runtime's trace through libcni itself: the driver built against the upstream
 * libcni commit that passes the context's span to plugins as TRACEPARENT (test/driver/otel)
 * holds a runtime span in its context, never in the env; the exported ADD is that span's child.
 * Without a span the call is a root, as before; and Debian's libcni 1.1.2, given the same span,
 * passes nothing on (what containerd 1.6 and podman 4 ship).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { wrapConflist } from '../../src/cli/conflist.ts';
import { InvocationIndex, type Invocation } from '../../src/journal/invocations.ts';
import { readJournal } from '../../src/journal/reader.ts';
import { agentOnce } from '../support/agent-process.ts';
import { runDriver, type DriverCall } from '../support/driver.ts';
import { DEBIAN_CNI, installCniTrace } from '../support/fixtures.ts';
import { OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver.ts';
import { Sandbox } from '../support/sandbox.ts';

const sb = new Sandbox('rttrace');
const receiver = new OtlpReceiver();
const journal = join(sb.dir, 'journal');
const RUNTIME_TRACE = '0af7651916cd43dd8448eb211c80319c';
const RUNTIME_SPAN = 'b7ad6b7169203331';
let invocations: Invocation[] = [];
let spans: ReceivedSpan[] = [];

before(async () => {
  const bin = join(sb.dir, 'bin');
  installCniTrace(bin);
  await receiver.start();
  sb.onCleanup(() => receiver.stop());
  const conflist = join(sb.dir, 'lo.conflist');
  writeFileSync(conflist, JSON.stringify(wrapConflist({ cniVersion: '1.0.0', name: sb.name('ctrt'), plugins: [{ type: 'loopback' }] }, { journalDir: journal })));
  const netns = await sb.netns('rt');
  const call = (id: string, extra: Partial<DriverCall>): DriverCall => ({ conflist, netns, id, path: [bin, DEBIAN_CNI], cacheDir: join(sb.dir, 'cache'), args: `IgnoreUnknown=1;K8S_POD_NAMESPACE=rt;K8S_POD_NAME=${id}`, ...extra });
  const traceparent = `00-${RUNTIME_TRACE}-${RUNTIME_SPAN}-01`;
  // The driver's own env has no TRACEPARENT: only libcni can put it in the plugin's.
  assert.equal(process.env.TRACEPARENT, undefined);
  for (const [id, extra] of [
    ['upstream-span', { libcni: 'upstream', traceparent }],
    ['upstream-none', { libcni: 'upstream' }],
    ['debian-span', { traceparent }],
  ] as Array<[string, Partial<DriverCall>]>) {
    const r = await runDriver('add', call(id, extra));
    assert.equal(r.outcome.ok, true, `${id}: ${JSON.stringify(r.outcome.error)}`);
  }
  const index = new InvocationIndex();
  for (const r of readJournal(journal)) index.add(r);
  invocations = index.list().filter((i) => i.command === 'ADD');
  const run = await agentOnce(['--journal', journal, '--state-dir', join(sb.dir, 'state')], { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint });
  assert.equal(run.exitCode, 0, run.stderr);
  spans = receiver.spans;
});
after(() => sb.cleanup());

const root = (id: string): ReceivedSpan => {
  const inv = invocations.find((i) => i.containerId === id);
  assert.ok(inv, `${id} journaled`);
  const span = spans.find((s) => s.spanId === inv.spanId);
  assert.ok(span, `${id} exported`);
  return span;
};

test('upstream libcni with a runtime span in its context: cni-trace\'s span is that span\'s child, in its trace', () => {
  const span = root('upstream-span');
  assert.equal(span.name, 'CNI ADD');
  assert.equal(span.traceId, RUNTIME_TRACE);
  assert.equal(span.parentSpanId, RUNTIME_SPAN);
  const step = spans.find((s) => s.parentSpanId === span.spanId);
  assert.equal(step?.name, 'loopback ADD', 'the delegate under it, in the same trace');
  assert.equal(step?.traceId, RUNTIME_TRACE);
});

test('upstream libcni with no span: a root span in a trace of its own, as today', () => {
  const span = root('upstream-none');
  assert.equal(span.parentSpanId, '');
  assert.notEqual(span.traceId, RUNTIME_TRACE);
  assert.match(span.traceId, /^[0-9a-f]{32}$/);
});

test('Debian\'s libcni 1.1.2 (containerd 1.6, podman 4) given the same span passes nothing: a root span', () => {
  const span = root('debian-span');
  assert.equal(span.parentSpanId, '');
  assert.notEqual(span.traceId, RUNTIME_TRACE);
});
