/**
 * The journal as the agent exports it, checked against the journal itself: every invocation is
 * one trace whose root `CNI <COMMAND>` holds one `<plugin> <COMMAND>` span per step, a nested
 * call's span under its caller's, all with the journal's own ids (src/agent/spans.ts).
 */
import assert from 'node:assert/strict';
import { InvocationIndex, type Invocation } from '../../src/journal/invocations.ts';
import { readJournal } from '../../src/journal/reader.ts';
import { agentOnce } from './agent-process.ts';
import { OtlpReceiver, type ReceivedSpan } from './otlp-receiver.ts';

/** The journal's invocations, folded as tail/show/the agent fold them. */
export function journalInvocations(journalDir: string): Invocation[] {
  const index = new InvocationIndex();
  for (const rec of readJournal(journalDir)) index.add(rec);
  return index.list();
}

/** Exports the journal once with `cni-trace agent --once` to a real OTLP receiver; returns the spans. */
export async function exportedSpans(journalDir: string, stateDir: string): Promise<ReceivedSpan[]> {
  const receiver = new OtlpReceiver();
  await receiver.start();
  try {
    const run = await agentOnce(['--journal', journalDir, '--state-dir', stateDir], { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint });
    assert.equal(run.exitCode, 0, run.stderr);
    return [...receiver.spans];
  } finally {
    await receiver.stop();
  }
}

/** Asserts the spans are exactly the invocations' traces, step for step. */
export function assertTraceShape(invocations: readonly Invocation[], spans: readonly ReceivedSpan[]): void {
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  assert.equal(spans.length, invocations.reduce((n, i) => n + 1 + i.steps.length, 0), 'one span per invocation and per step');
  for (const inv of invocations) {
    const root = byId.get(inv.spanId);
    assert.ok(root, `${inv.command} ${inv.containerId}: its root span`);
    assert.deepEqual([root.traceId, root.name, root.attributes['cni.command']], [inv.traceId, `CNI ${inv.command}`, inv.command]);
    for (const step of inv.steps) {
      const s = byId.get(step.spanId);
      assert.ok(s, `${inv.command}: ${step.plugin}'s span`);
      assert.equal(s.name, `${step.plugin} ${step.command}`);
      assert.equal(s.traceId, inv.traceId);
      assert.equal(s.parentSpanId, step.parentSpanId ?? inv.spanId, `${step.plugin} sits under ${step.depth > 0 ? 'its caller' : 'the root'}`);
      assert.equal(s.attributes['cni.plugin.type'], step.plugin);
    }
  }
}
