/**
 * Records of the wrong shape among good ones (issue 17.6): a line of valid JSON with a field
 * of the wrong type, a missing field or a value nested too deep is skipped and counted like a
 * torn line by every reader — tail, show, stats, the TUI's loader, the agent's source and the
 * agent itself — and the good records around it are all there. Extra fields are accepted.
 * Then a seeded, time-bounded fuzz of record shapes with the same property.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { emptyResource } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { benchJournal, writeInvocation } from '../../bench/synthetic-journal.ts';
import { Agent } from '../../src/agent/agent.ts';
import { resolveConfig } from '../../src/agent/config.ts';
import { JournalSource, type PositionedRecord } from '../../src/agent/source.ts';
import { renderInvocation, show } from '../../src/cli/show.ts';
import { statsReport, renderStats } from '../../src/cli/stats.ts';
import { invocationLine, tail } from '../../src/cli/tail.ts';
import { InvocationIndex } from '../../src/journal/invocations.ts';
import { readJournal, readJournalTail, type ReadStats } from '../../src/journal/reader.ts';
import { MAX_DEPTH } from '../../src/journal/record-schema.ts';
import type { JournalRecord } from '../../src/journal/record.ts';
import { ACTIVE_FILE } from '../../src/journal/writer.ts';
import { spansFromInvocation } from '../../src/agent/spans.ts';
import { deepJson, recordMutants } from '../support/fuzz-records.ts';

const root = mkdtempSync(join(tmpdir(), 'cnitrace-unit-shapes-'));
after(() => rmSync(root, { recursive: true, force: true }));
let seq = 0;

/** `n` invocations written by the wrapper's recorder and journal; returns their lines. */
function goodLines(n: number): string[] {
  const dir = join(root, `good-${seq++}`);
  const journal = benchJournal(dir);
  for (let i = 0; i < n; i++) writeInvocation(journal, i);
  return readFileSync(join(dir, ACTIVE_FILE), 'utf8').split('\n').filter(Boolean);
}

/** A journal directory holding `lines`. */
function journalOf(lines: readonly string[]): string {
  const dir = join(root, `j-${seq++}`);
  mkdirSync(dir, { mode: 0o700 });
  writeFileSync(join(dir, ACTIVE_FILE), lines.map((l) => l + '\n').join(''), { mode: 0o600 });
  return dir;
}

/** `line` with `change` applied to its record. */
function edit(line: string, change: (rec: Record<string, unknown>) => void): string {
  const rec = JSON.parse(line) as Record<string, unknown>;
  change(rec);
  return JSON.stringify(rec);
}

const tailJson = (dir: string): Array<Record<string, unknown>> => {
  const out: string[] = [];
  tail({ journal: dir, json: true, follow: false, colour: false, write: (l) => out.push(l) });
  return out.map((l) => JSON.parse(l) as Record<string, unknown>);
};

const drain = (source: JournalSource): PositionedRecord[] => {
  const out: PositionedRecord[] = [];
  for (let got = source.poll(1 << 20); got.length > 0; got = source.poll(1 << 20)) for (const p of got) out.push(p);
  return out;
};

/** Every invocation the agent exports from `dir` (its root spans), through a sink that keeps what it is given. */
async function agentExports(dir: string): Promise<{ roots: ReadableSpan[]; skipped: number; log: string[] }> {
  const spans: ReadableSpan[] = [];
  const log: string[] = [];
  const cfg = resolveConfig({ journal: dir, 'state-dir': join(root, `state-${seq++}`), 'abandon-after': '1h' }, {});
  const agent = new Agent(cfg, {
    sink: { exportSpans: async (batch) => { for (const span of batch) spans.push(span); return { ok: true }; }, shutdown: async () => {} },
    resource: emptyResource(), log: (l) => log.push(l),
  });
  while (await agent.tick() > 0) { /* until caught up */ }
  return { roots: spans.filter((s) => s.parentSpanContext === undefined), skipped: agent.status().skippedLines, log };
}

test('records of the wrong shape are skipped and counted by every reader; the good ones around them are all there', async () => {
  const good = goodLines(4); // 4 invocations × (begin, 2 × step begin/end, end)
  const [begin, stepBegin, stepEnd, , , end] = good;
  const bad = [
    edit(begin!, (r) => { r.startNs = { n: 1 }; }),
    edit(stepEnd!, (r) => { r.status = 5; }),
    edit(end!, (r) => { delete r.durationNs; }),
    edit(stepBegin!, (r) => { r.index = 'first'; }),
    edit(end!, (r) => { r.stdout = 'ok'; }),
    edit(begin!, (r) => { r.spanId = 'not-hex-at-all!!'; }),
    edit(begin!, (r) => { r.rec = 'invocation.started'; }),
    `{"rec":"invocation.begin","stdin":${deepJson(MAX_DEPTH + 1, 'array')}}`,
    edit(begin!, (r) => { r.stdin = JSON.parse(deepJson(MAX_DEPTH + 1, 'object')); }),
  ];
  // The bad lines between the good invocations; invocation 3 carries an extra field on every record.
  const lines = [...good.slice(0, 7), ...bad.slice(0, 4), ...good.slice(7, 18), ...bad.slice(4),
    ...good.slice(18).map((l) => edit(l, (r) => { r.addedInV2 = { nested: [1, 2] }; }))];
  const dir = journalOf(lines);

  const stats: ReadStats = { records: 0, skipped: 0 };
  assert.equal(readJournal(dir, stats).length, good.length);
  assert.deepEqual(stats, { records: good.length, skipped: bad.length });

  const printed = tailJson(dir);
  assert.deepEqual(printed.map((i) => i.containerId), ['c0', 'c1', 'c2', 'c3']);
  assert.ok(printed.every((i) => i.status === 'ok' && (i.steps as unknown[]).length === 2));
  assert.equal(statsReport(dir, {}).invocations, 4);
  assert.doesNotThrow(() => renderStats(statsReport(dir, {})));
  const inv = show(dir, { pod: 'pod-3', namespace: 'bench' });
  assert.ok(typeof inv !== 'string', String(inv));
  assert.match(renderInvocation(inv.inv, { colour: false, width: 100 }), /pod bench\/pod-3/);

  const tailRecs: JournalRecord[] = [];
  assert.equal(readJournalTail(dir, 100, (r) => tailRecs.push(r)), bad.length, 'the TUI loader counts them too');
  assert.equal(tailRecs.length, good.length);

  const skippedAt: number[] = [];
  const source = new JournalSource(dir, {}, (_f, at) => skippedAt.push(at));
  assert.equal(drain(source).length, good.length);
  assert.equal(source.skipped, bad.length);

  const agent = await agentExports(dir);
  assert.equal(agent.roots.length, 4, 'the agent exports every good invocation');
  assert.equal(agent.skipped, bad.length);
  assert.equal(agent.log.filter((l) => l.includes('not a whole record of a known shape')).length, bad.length);
});

test('fuzz: mutated records (every JSON type, dropped fields, deep and large values, extra fields) never make a reader throw nor lose a good record', async () => {
  const SEED = 20261717;
  const BUDGET_MS = 3000;
  const good = goodLines(3);
  const baseline = tailJson(journalOf(good));
  assert.equal(baseline.length, 3);
  const records = good.map((l) => JSON.parse(l) as Record<string, unknown>);
  const mutants = recordMutants(SEED, records);
  const started = Date.now();
  let cases = 0;
  let accepted = 0;
  for (let round = 0; Date.now() - started < BUDGET_MS && round < 400; round++) {
    // Each round: the good journal with 8 mutants spliced in at seeded places.
    const batch = Array.from({ length: 8 }, () => mutants.next().value!);
    cases += batch.length;
    const lines = [...good];
    batch.forEach((m, k) => lines.splice((round * 7 + k * 3) % (lines.length + 1), 0, m.line));
    const dir = journalOf(lines);
    const where = `seed ${SEED}, round ${round}: ${batch.map((m) => m.how).join(' | ')}`;
    try {
      const stats: ReadStats = { records: 0, skipped: 0 };
      const recs = readJournal(dir, stats);
      accepted += stats.records - good.length;
      const printed = tailJson(dir);
      for (const want of baseline) assert.deepEqual(printed.find((i) => i.spanId === want.spanId), want, `${where}: a good invocation changed or went missing`);
      // Whatever was accepted renders: lines, show, stats, spans.
      const index = new InvocationIndex(() => false);
      for (const r of recs) index.add(r);
      for (const i of index.list()) {
        invocationLine(i, true);
        renderInvocation(i, { colour: false, width: 80 });
        spansFromInvocation(i, { resource: emptyResource(), nodeName: 'n', abandonedAtNs: '1795851734423916188' });
      }
      renderStats(statsReport(dir, {}));
      const source = new JournalSource(dir, {}, () => {});
      assert.equal(drain(source).length, stats.records, where);
    } catch (e) {
      assert.fail(`${where}: ${(e as Error).stack}`);
    }
    rmSync(dir, { recursive: true });
  }
  const agent = await agentExports(journalOf([...good, ...Array.from({ length: 40 }, () => mutants.next().value!.line)]));
  for (const want of baseline) assert.ok(agent.roots.some((s) => s.spanContext().spanId === want.spanId), 'the agent exports every good invocation');
  assert.ok(cases >= 200, `only ${cases} cases in ${BUDGET_MS} ms`);
  console.log(`# record-shape fuzz: ${cases} mutants from seed ${SEED} in ${Date.now() - started} ms, ${accepted} still valid records, none thrown, none lost`);
});
