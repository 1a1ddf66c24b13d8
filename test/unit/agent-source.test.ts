/**
 * The agent's positioned journal reader: records come out in the order they were written,
 * across rotated files and however small the read budget, and resume at given offsets.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { JournalSource, type PositionedRecord } from '../../src/agent/source.ts';
import type { StepBegin } from '../../src/journal/record.ts';
import { Journal } from '../../src/journal/writer.ts';

const root = mkdtempSync(join(tmpdir(), 'cnitrace-unit-source-'));
after(() => rmSync(root, { recursive: true, force: true }));

function record(i: number): StepBegin {
  return { rec: 'step.begin', v: 1, traceId: 'a'.repeat(32), invocationSpanId: 'b'.repeat(16), spanId: i.toString(16).padStart(16, '0'), index: i, plugin: 'p', command: 'ADD', path: null, startNs: String(i), stdin: { pad: 'x'.repeat(5000) } };
}

function drain(source: JournalSource, budget: number): PositionedRecord[] {
  const out: PositionedRecord[] = [];
  for (let round = 0; round < 10_000; round++) {
    const got = source.poll(budget);
    if (got.length === 0) return out;
    for (const p of got) out.push(p);
  }
  throw new Error('never drained');
}

test('records come out in write order across rotated files, even with a tiny read budget', () => {
  const dir = join(root, 'order');
  // ~5 KB records in 200 KB files: files larger than one read, budgets smaller and larger.
  const journal = new Journal({ dir, maxFileBytes: 200_000, maxFiles: 1000, onDegraded: (r) => assert.fail(r) });
  for (let i = 0; i < 60; i++) journal.append(record(i));
  for (const budget of [1, 100_000, 150_000, 1 << 20]) {
    const got = drain(new JournalSource(dir, {}, () => assert.fail('nothing is corrupt')), budget);
    assert.deepEqual(got.map((p) => (p.rec as StepBegin).index), Array.from({ length: 60 }, (_, i) => i), `budget ${budget}`);
  }
});

test('a source resumes at the offsets it is given and reads only what follows', () => {
  const dir = join(root, 'resume');
  const journal = new Journal({ dir, maxFileBytes: 30_000, maxFiles: 1000, onDegraded: (r) => assert.fail(r) });
  for (let i = 0; i < 20; i++) journal.append(record(i));
  const first = new JournalSource(dir, {}, () => {});
  const all = drain(first, 1 << 20);
  const cut = all[7]!;
  // Resume: files before the cut's file are done; its file resumes at the cut.
  const start: Record<string, number> = {};
  for (const [file, offset] of first.offsets()) start[file] = offset;
  for (const p of all) if (all.indexOf(p) >= 7) start[p.file] = Math.min(start[p.file]!, p.at);
  start[cut.file] = cut.at;
  const resumed = drain(new JournalSource(dir, start, () => {}), 1 << 20);
  assert.deepEqual(resumed.map((p) => (p.rec as StepBegin).index), Array.from({ length: 13 }, (_, i) => i + 7));
});
