/**
 * The agent's accounting of what it holds: every record read and not yet exported counts its
 * line's bytes (what bounds the agent's memory), freed exactly when its invocation is exported;
 * the checkpoint keeps each file's offset at the first record still pending, so a restarted
 * agent exports what was pending and nothing twice. Over a real journal in a temp dir, through
 * a sink that keeps what it is given (the collector's side is tested in integration).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { emptyResource } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { Agent } from '../../src/agent/agent.ts';
import { CHECKPOINT_FILE } from '../../src/agent/checkpoint.ts';
import { resolveConfig } from '../../src/agent/config.ts';
import type { JournalRecord } from '../../src/journal/record.ts';
import { Journal } from '../../src/journal/writer.ts';
import { chainRecords, INV, invocationBegin, invocationEnd, ns } from '../support/records.ts';

const root = mkdtempSync(join(tmpdir(), 'cnitrace-unit-pending-'));
after(() => rmSync(root, { recursive: true, force: true }));

const OTHER = 'a000000000000002';
const NOW_MS = Number(BigInt(ns(1000)) / 1_000_000n);
const lineBytes = (rec: JournalRecord): number => Buffer.byteLength(JSON.stringify(rec)) + 1;

function agentOn(journal: string, state: string, exported: ReadableSpan[]): Agent {
  const cfg = resolveConfig({ journal, 'state-dir': state, 'abandon-after': '1h' }, {});
  return new Agent(cfg, {
    sink: { exportSpans: async (batch) => { for (const s of batch) exported.push(s); return { ok: true }; }, shutdown: async () => {} },
    resource: emptyResource(), log: () => {},
    nowMs: () => NOW_MS, // the records' own time: the open invocation is not yet abandoned
  });
}

test('rule: the agent holds exactly the bytes of the records it has not exported, and frees them on export', async () => {
  const journal = join(root, 'journal');
  const state = join(root, 'state');
  const writer = new Journal({ dir: journal, maxFileBytes: 1 << 20, maxFiles: 10, onDegraded: (r) => assert.fail(r) });
  // The other invocation begins first and stays open; the nested one ends.
  const open = invocationBegin({ spanId: OTHER, containerId: 'ctr-open', startNs: ns(-5) });
  const done = chainRecords();
  writer.append(open);
  for (const r of done) writer.append(r);
  const exported: ReadableSpan[] = [];
  const agent = agentOn(journal, state, exported);
  assert.equal(agent.read(), 1 + done.length);
  const all = readFileSync(join(journal, 'journal.jsonl')).length;
  assert.equal(agent.status().pendingBytes, all, 'every record read is held: the sum of their lines\' bytes');
  assert.equal(agent.status().pendingBytes, [open, ...done].reduce((n, r) => n + lineBytes(r), 0));
  await agent.exportReady();
  assert.deepEqual(exported.filter((s) => s.name === 'CNI ADD').map((s) => s.spanContext().spanId), [INV], 'the ended invocation is exported');
  assert.equal(agent.status().pendingBytes, lineBytes(open), 'only the open invocation\'s record is held');
  const cp = JSON.parse(readFileSync(join(state, CHECKPOINT_FILE), 'utf8')) as { files: Record<string, number>; exported: string[] };
  assert.deepEqual(Object.values(cp.files), [0], 'the checkpoint stays at the open invocation\'s begin, the first pending record');
  assert.deepEqual(cp.exported, [INV]);

  // Restarted: the open invocation ends; it is exported once, the finished one not again.
  writer.append(invocationEnd({ spanId: OTHER, endNs: ns(200) }));
  const again: ReadableSpan[] = [];
  const restarted = agentOn(journal, state, again);
  while (await restarted.tick() > 0) { /* caught up */ }
  assert.deepEqual(again.filter((s) => s.name === 'CNI ADD').map((s) => s.spanContext().spanId), [OTHER]);
  assert.equal(restarted.status().pendingBytes, 0, 'nothing held once all is exported');
  const cp2 = JSON.parse(readFileSync(join(state, CHECKPOINT_FILE), 'utf8')) as { files: Record<string, number> };
  assert.deepEqual(Object.values(cp2.files), [readFileSync(join(journal, 'journal.jsonl')).length], 'everything before the end is exported');
});

test('a checkpoint in the middle of a file resumes at a line start: no record is skipped as garbage, none lost', async () => {
  const journal = join(root, 'journal-mid');
  const state = join(root, 'state-mid');
  const writer = new Journal({ dir: journal, maxFileBytes: 1 << 20, maxFiles: 10, onDegraded: (r) => assert.fail(r) });
  for (const r of chainRecords()) writer.append(r);
  const first: ReadableSpan[] = [];
  const a = agentOn(journal, state, first);
  while (await a.tick() > 0) { /* caught up */ }
  writer.append(invocationBegin({ spanId: OTHER, startNs: ns(300) }));
  writer.append(invocationEnd({ spanId: OTHER, endNs: ns(310) }));
  const second: ReadableSpan[] = [];
  const b = agentOn(journal, state, second);
  while (await b.tick() > 0) { /* caught up */ }
  assert.deepEqual(second.map((s) => s.spanContext().spanId), [OTHER]);
  assert.equal(b.status().skippedLines, 0);
  assert.equal(b.status().recordsRead, 2, 'only the records after the checkpoint were read');
});

// Rules of the agent that Stryker's survivors showed untested (issue 22).

function agentAt(journal: string, state: string, exported: ReadableSpan[], nowMs: number, abandonAfter = '1h'): Agent {
  const cfg = resolveConfig({ journal, 'state-dir': state, 'abandon-after': abandonAfter }, {});
  return new Agent(cfg, {
    sink: { exportSpans: async (batch) => { for (const s of batch) exported.push(s); return { ok: true }; }, shutdown: async () => {} },
    resource: emptyResource(), log: () => {}, nowMs: () => nowMs,
  });
}

test('rule: an invocation silent for abandon-after is exported once, as abandoned, and one silent for less is held', async () => {
  const journal = join(root, 'abandon');
  const writer = new Journal({ dir: journal, maxFileBytes: 1 << 20, maxFiles: 10, onDegraded: (r) => assert.fail(r) });
  writer.append(invocationBegin({ spanId: OTHER, startNs: ns(0) }));
  writer.append(invocationBegin({ spanId: INV, containerId: 'ctr-2', startNs: ns(50 * 60_000) }));
  const exported: ReadableSpan[] = [];
  const agent = agentAt(journal, join(root, 'abandon-state'), exported, Number(BigInt(ns(60 * 60_000 + 1)) / 1_000_000n));
  while (await agent.tick() > 0) { /* caught up */ }
  await agent.tick();
  const roots = exported.filter((s) => s.name === 'CNI ADD');
  assert.deepEqual(roots.map((s) => s.spanContext().spanId), [OTHER], 'silent for an hour: exported; for ten minutes: held');
  assert.equal(roots[0]!.attributes['cni.abandoned'], true, 'exported as abandoned');
  assert.deepEqual(roots[0]!.endTime, roots[0]!.startTime, 'it ends at its last record: here its begin');
  assert.equal(agent.status().pendingBytes > 0, true, 'the recent one is still held');
});

test('rule: a DEL is exported with a link to the ADD of its container, also when that ADD was exported before a restart', async () => {
  const journal = join(root, 'links');
  const state = join(root, 'links-state');
  const writer = new Journal({ dir: journal, maxFileBytes: 1 << 20, maxFiles: 10, onDegraded: (r) => assert.fail(r) });
  writer.append(invocationBegin({ spanId: INV, containerId: 'ctr-l', startNs: ns(0) }));
  writer.append(invocationEnd({ spanId: INV, endNs: ns(10) }));
  const first: ReadableSpan[] = [];
  const a = agentAt(journal, state, first, Number(BigInt(ns(20)) / 1_000_000n));
  while (await a.tick() > 0) { /* caught up */ }
  writer.append(invocationBegin({ spanId: OTHER, command: 'DEL', containerId: 'ctr-l', startNs: ns(30), env: { CNI_COMMAND: 'DEL' } }));
  writer.append(invocationEnd({ spanId: OTHER, command: 'DEL', endNs: ns(40) }));
  const second: ReadableSpan[] = [];
  const b = agentAt(journal, state, second, Number(BigInt(ns(50)) / 1_000_000n));
  while (await b.tick() > 0) { /* caught up */ }
  const del = second.find((s) => s.name === 'CNI DEL');
  assert.ok(del, 'the DEL is exported');
  assert.deepEqual(del.links.map((l) => l.context.spanId), [INV], 'linked to the ADD exported before the restart');
  assert.equal(second.filter((s) => s.name === 'CNI ADD').length, 0, 'the ADD is not exported again');
});
