/**
 * The agent's export loop (src/agent/agent.ts) over a real journal in a temp dir, through a
 * fake sink at the exporter boundary that answers as told: batches in order, backoff on a
 * failure worth a retry, a refused batch dropped and counted, the bounds that pause reading,
 * what the agent reports (status.json) and logs, and what it remembers as exported.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { emptyResource } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { Agent } from '../../src/agent/agent.ts';
import { CHECKPOINT_FILE } from '../../src/agent/checkpoint.ts';
import { resolveConfig } from '../../src/agent/config.ts';
import type { ExportOutcome } from '../../src/agent/exporter.ts';
import { STATUS_FILE } from '../../src/agent/status.ts';
import type { Invocation } from '../../src/journal/invocations.ts';
import { Journal } from '../../src/journal/writer.ts';
import { INV, invocationBegin, invocationEnd, ns, stepRecords } from '../support/records.ts';

const root = mkdtempSync(join(tmpdir(), 'cnitrace-unit-export-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** The sink at the exporter boundary: keeps each batch, answers with the next outcome given (else accepts). */
class Sink {
  readonly batches: ReadableSpan[][] = [];
  readonly answers: ExportOutcome[] = [];
  exportSpans = async (spans: ReadableSpan[]): Promise<ExportOutcome> => {
    this.batches.push(spans);
    return this.answers.shift() ?? { ok: true };
  };
  shutdown = async (): Promise<void> => {};
  /** The invocations (root spans) of each batch. */
  roots(): string[][] {
    return this.batches.map((b) => b.filter((s) => s.name.startsWith('CNI ')).map((s) => s.spanContext().spanId));
  }
}

const retry = (error: string): ExportOutcome => ({ ok: false, error, retryable: true });
const refuse = (error: string): ExportOutcome => ({ ok: false, error, retryable: false });

/** The span id of the i-th invocation. */
const id = (i: number): string => `c${i.toString(16).padStart(15, '0')}`;
/** Epoch ms of a journal time (ms offset from the records' fixed instant). */
const ms = (offset: number): number => Number(BigInt(ns(offset)) / 1_000_000n);

interface Setup {
  readonly dir: string;
  readonly journal: string;
  readonly state: string;
  readonly writer: Journal;
  readonly sink: Sink;
  readonly lines: string[];
  readonly clock: { now: number };
  agent(opts?: { flags?: Record<string, string>; onReady?: (inv: Invocation) => void; sink?: Sink }): Agent;
}

let n = 0;
function setup(): Setup {
  const dir = join(root, `case-${++n}`);
  const journal = join(dir, 'journal');
  const state = join(dir, 'state');
  const writer = new Journal({ dir: journal, maxFileBytes: 256 << 20, maxFiles: 10, onDegraded: (r) => assert.fail(r) });
  const sink = new Sink();
  const lines: string[] = [];
  const clock = { now: ms(1000) };
  return {
    dir, journal, state, writer, sink, lines, clock,
    agent: (opts = {}) => new Agent(resolveConfig({ journal, 'state-dir': state, 'abandon-after': '1h', ...opts.flags }, {}), {
      sink: opts.sink ?? sink, resource: emptyResource(), log: (l) => lines.push(l), nowMs: () => clock.now,
      ...(opts.onReady ? { onReady: opts.onReady } : {}),
    }),
  };
}

/** An ended invocation without steps: its begin and end. */
function call(w: Journal, i: number, atMs = i): void {
  w.append(invocationBegin({ spanId: id(i), containerId: `ctr-${i}`, startNs: ns(atMs), env: {}, stdin: {}, delegates: [] }));
  w.append(invocationEnd({ spanId: id(i), endNs: ns(atMs + 1), durationNs: '1000000' }));
}

async function drain(agent: Agent): Promise<void> {
  while (await agent.tick() > 0) { /* caught up */ }
}

test('rule: the queue is exported in batches of --batch invocations, in journal order, and counted', async () => {
  const s = setup();
  for (let i = 0; i < 5; i++) call(s.writer, i);
  const agent = s.agent({ flags: { batch: '2' } });
  await drain(agent);
  assert.deepEqual(s.sink.roots(), [[id(0), id(1)], [id(2), id(3)], [id(4)]]);
  const st = agent.status();
  assert.deepEqual([st.recordsRead, st.invocationsExported, st.spansExported, st.queued, st.dropped, st.retries, st.lastError], [10, 5, 5, 0, 0, 0, null]);
  assert.equal(agent.idle(), true, 'nothing queued, nothing left to read');
  const cp = JSON.parse(readFileSync(join(s.state, CHECKPOINT_FILE), 'utf8')) as { exported: string[] };
  assert.deepEqual(cp.exported, [0, 1, 2, 3, 4].map(id), 'the checkpoint remembers what was exported, in order');
});

test('rule: a failure worth a retry keeps the batch and backs off 500 ms, doubling to 30 s; a success resets it', async () => {
  const s = setup();
  call(s.writer, 0);
  for (let k = 1; k <= 8; k++) s.sink.answers.push(retry(`E${k}`));
  const agent = s.agent();
  const start = s.clock.now;
  await agent.tick();
  assert.equal(s.sink.batches.length, 1);
  const waits = [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000];
  for (const [k, wait] of waits.entries()) {
    assert.equal(s.lines.at(-1), `warning: export failed, retrying in ${wait} ms: E${k + 1}`);
    assert.equal(agent.status().retries, k + 1);
    assert.equal(agent.status().lastError, `E${k + 1}`);
    assert.equal(agent.status().queued, 1, 'the batch is kept');
    assert.equal(agent.idle(), false, 'a queued batch is not idle');
    s.clock.now += wait - 1;
    await agent.exportReady();
    assert.equal(s.sink.batches.length, k + 1, 'not tried again before the backoff ran out');
    s.clock.now += 1;
    await agent.exportReady();
    assert.equal(s.sink.batches.length, k + 2, 'tried again when it ran out');
  }
  assert.ok(s.clock.now > start);
  const st = agent.status();
  assert.deepEqual([st.queued, st.invocationsExported, st.lastError, st.retries], [0, 1, null, 8], 'accepted at the ninth attempt');
  call(s.writer, 1);
  s.sink.answers.push(retry('again'));
  await agent.tick();
  assert.equal(s.lines.at(-1), 'warning: export failed, retrying in 500 ms: again', 'the backoff starts over after a success');
});

test('rule: the last error in the status names an endpoint without its credentials', async () => {
  const s = setup();
  call(s.writer, 0);
  s.sink.answers.push(retry('http://u:pa55word@collector:4318/v1/traces: HTTP 503'));
  const agent = s.agent();
  await agent.tick();
  assert.equal(agent.status().lastError, 'http://u:[REDACTED]@collector:4318/v1/traces: HTTP 503');
});

test('rule: a batch refused for good is dropped, counted and logged, the next batch goes on, and a restart does not send it again', async () => {
  const s = setup();
  for (let i = 0; i < 3; i++) call(s.writer, i);
  s.sink.answers.push(refuse('HTTP 400 Bad Request'));
  const agent = s.agent({ flags: { batch: '2' } });
  await drain(agent);
  assert.deepEqual(s.sink.roots(), [[id(0), id(1)], [id(2)]], 'the refused batch is not retried; the next one is sent');
  assert.ok(s.lines.includes('error: the collector refused a batch of 2 invocations for good, dropping it: HTTP 400 Bad Request'), s.lines.join('\n'));
  const st = agent.status();
  assert.deepEqual([st.dropped, st.refused, st.invocationsExported, st.retries, st.queued, st.pendingBytes], [2, 2, 1, 0, 0, 0]);
  const again = new Sink();
  await drain(s.agent({ sink: again }));
  assert.deepEqual(again.batches, [], 'a refused batch is not sent again after a restart');
});

test('rule: a refused last batch is remembered too: the checkpoint is saved after it', async () => {
  const s = setup();
  call(s.writer, 0);
  s.sink.answers.push(refuse('HTTP 413'));
  await drain(s.agent());
  const cp = JSON.parse(readFileSync(join(s.state, CHECKPOINT_FILE), 'utf8')) as { exported: string[] };
  assert.deepEqual(cp.exported, [id(0)]);
});

test('rule: an end without its begin is dropped: nothing is sent for it and it is not counted as exported', async () => {
  const s = setup();
  s.writer.append(invocationEnd({ spanId: id(7) }));
  const agent = s.agent();
  await drain(agent);
  assert.deepEqual(s.sink.batches, [], 'no request with nothing in it');
  assert.deepEqual([agent.status().dropped, agent.status().invocationsExported, agent.status().queued], [1, 0, 0]);
  s.writer.append(invocationEnd({ spanId: id(8) }));
  call(s.writer, 9);
  await drain(agent);
  assert.deepEqual(s.sink.roots(), [[id(9)]]);
  assert.deepEqual([agent.status().dropped, agent.status().invocationsExported], [2, 1], 'in a batch with others, only the others count as exported');
});

test('rule: reading pauses while 2048 invocations wait for export, and goes on once they are exported', async () => {
  const s = setup();
  for (let i = 0; i < 2048; i++) call(s.writer, i);
  const agent = s.agent({ flags: { batch: '4096' } });
  while (agent.read() > 0) { /* read all, export nothing */ }
  assert.equal(agent.status().queued, 2048);
  call(s.writer, 2048);
  assert.equal(agent.read(), 0, 'a full queue: nothing read');
  assert.ok(agent.status().backlogBytes > 0, 'the journal holds what was not read');
  await agent.exportReady();
  assert.equal(agent.read(), 2, 'read again once the queue drained');
});

/** An open invocation whose step records hold about 26 MiB (stderr captures near 64 KiB each). */
function bigOpen(w: Journal, spanId: string): void {
  w.append(invocationBegin({ spanId, containerId: `ctr-${spanId}`, startNs: ns(0) }));
  const stderr = 'x'.repeat(60_000);
  for (let k = 0; k < 440; k++) {
    for (const r of stepRecords({ spanId: `d${k.toString(16).padStart(15, '0')}`, plugin: 'p', index: k, startMs: 1, endMs: 2, end: { stderr: { text: stderr, bytes: stderr.length, truncated: false } } })) {
      w.append({ ...r, ...(r.rec === 'step.begin' || r.rec === 'step.end' ? { invocationSpanId: spanId } : {}) } as never);
    }
  }
}

test('rule: with nothing queued the agent reads on past 24 MiB held, to find the end of what is open', async () => {
  const s = setup();
  bigOpen(s.writer, INV);
  s.writer.append(invocationEnd({ spanId: INV, endNs: ns(10) }));
  const agent = s.agent();
  while (agent.read() > 0) { /* catch up */ }
  assert.equal(agent.status().backlogBytes, 0, 'all read');
  assert.equal(agent.status().queued, 1, 'the end was found');
});

test('rule: with invocations queued, reading pauses once the records held pass 24 MiB', async () => {
  const s = setup();
  call(s.writer, 0);
  bigOpen(s.writer, INV);
  const agent = s.agent();
  let reads = 0;
  while (agent.read() > 0) reads++;
  const st = agent.status();
  assert.ok(reads > 1);
  assert.ok(st.pendingBytes > 24 << 20, `${st.pendingBytes} bytes held`);
  assert.ok(st.backlogBytes > 0, 'the rest waits in the journal');
  await agent.exportReady();
  assert.ok(agent.read() > 0, 'reading goes on once the queue drained');
});

test('rule: an invocation is abandoned exactly when it has been silent for abandon-after since its latest record', async () => {
  const s = setup();
  s.writer.append(invocationBegin({ spanId: INV, startNs: ns(0) }));
  // Its latest record is a step's end at 50 ms; a step begun at 10 ms is written after it.
  const [b, e] = stepRecords({ spanId: 'b000000000000009', plugin: 'bridge', startMs: 10, endMs: 50 });
  s.writer.append(b!);
  s.writer.append(e!);
  s.writer.append(stepRecords({ spanId: 'b00000000000000a', plugin: 'late', startMs: 10, endMs: null })[0]!);
  const agent = s.agent({ flags: { 'abandon-after': '2s' } });
  s.clock.now = ms(50) + 1999;
  await drain(agent);
  assert.equal(agent.inFlight, 1, 'silent for 1999 ms');
  assert.equal(s.sink.batches.length, 0, 'nothing sent yet');
  s.clock.now = ms(50) + 2000;
  await agent.tick();
  assert.equal(agent.inFlight, 0);
  assert.deepEqual(s.sink.roots(), [[INV]]);
  const rootSpan = s.sink.batches[0]!.find((x) => x.name === 'CNI ADD')!;
  assert.equal(rootSpan.attributes['cni.abandoned'], true);
  assert.deepEqual(rootSpan.endTime, [Number(BigInt(ns(50)) / 1_000_000_000n), Number(BigInt(ns(50)) % 1_000_000_000n)], 'it ends at its latest record');
});

test('rule: a record of an ended invocation read after its end does not make it open again', async () => {
  const s = setup();
  call(s.writer, 0);
  s.sink.answers.push(retry('down'));
  const agent = s.agent();
  await agent.tick();
  s.writer.append(stepRecords({ spanId: 'b00000000000000b', plugin: 'late', startMs: 5, endMs: null }).map((r) => ({ ...r, invocationSpanId: id(0) }))[0] as never);
  s.clock.now += 10_000;
  agent.read();
  assert.equal(agent.inFlight, 0);
  await agent.exportReady();
  assert.deepEqual(s.sink.roots(), [[id(0)], [id(0)]], 'sent once more, as the retry');
});

test('rule: onReady hears of each invocation once, when it is queued, ended or abandoned; not of an end without a begin', async () => {
  const s = setup();
  const heard: string[] = [];
  call(s.writer, 0);
  s.writer.append(invocationEnd({ spanId: id(1) }));
  s.writer.append(invocationBegin({ spanId: id(2), containerId: 'ctr-2', startNs: ns(0) }));
  s.sink.answers.push(retry('down'));
  const agent = s.agent({ flags: { 'abandon-after': '1s' }, onReady: (inv) => heard.push(inv.spanId) });
  await agent.tick();
  s.clock.now += 10_000;
  await agent.tick();
  await agent.tick();
  assert.deepEqual(heard, [id(0), id(2)]);
});

test('rule: the status reports the lag behind the oldest unexported end, the time and the queue; status.json holds it', async () => {
  const s = setup();
  // Ends at 301, 101 and 201 ms, in that order: the oldest is neither the first nor the last.
  call(s.writer, 0, 300);
  call(s.writer, 1, 100);
  call(s.writer, 2, 200);
  s.sink.answers.push(retry('down'));
  const agent = s.agent();
  s.clock.now = ms(1101);
  await agent.tick();
  const st = agent.saveStatus();
  assert.equal(st.lagSeconds, 1, 'the oldest end is at 101 ms');
  assert.equal(st.updatedAt, new Date(ms(1101)).toISOString());
  assert.deepEqual([st.pid, st.queued, st.inFlight, st.recordsRead, st.backlogBytes, st.skippedLines], [process.pid, 3, 0, 6, 0, 0]);
  assert.ok(st.pendingBytes > 0);
  const file = join(s.state, STATUS_FILE);
  assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), JSON.parse(JSON.stringify(st)));
  assert.ok(readFileSync(file, 'utf8').endsWith('}\n'), 'a text file: it ends with a newline');
  assert.equal(statSync(file).mode & 0o777, 0o644, 'readable by doctor and agent --status');
  assert.equal(statSync(s.state).mode & 0o777, 0o700, 'the state dir is the agent\'s alone');
  s.clock.now = ms(0);
  assert.equal(agent.status().lagSeconds, 0, 'never negative');
  await agent.exportReady();
  s.clock.now = ms(1101) + 500;
  await agent.exportReady();
  assert.equal(agent.status().lagSeconds, 0, 'nothing waiting: no lag');
});

test('rule: a status or checkpoint that cannot be saved does not stop the agent; the checkpoint\'s failure is logged', async () => {
  const s = setup();
  call(s.writer, 0);
  const agent = s.agent();
  rmSync(s.state, { recursive: true });
  writeFileSync(s.state, 'not a directory');
  await drain(agent);
  assert.deepEqual(s.sink.roots(), [[id(0)]]);
  assert.ok(s.lines.some((l) => l.startsWith('warning: cannot save checkpoint: ')), s.lines.join('\n'));
  assert.equal(agent.saveStatus().invocationsExported, 1, 'the status is still returned');
});

test('rule: a line that is no record, and a journal file that is not safe to read, are logged with where', async () => {
  const s = setup();
  mkdirSync(s.journal, { recursive: true });
  writeFileSync(join(s.journal, 'journal.jsonl'), 'not a record\n');
  const agent = s.agent();
  await drain(agent);
  assert.ok(s.lines.includes(`warning: skipped a line that is not a whole record of a known shape (${join(s.journal, 'journal.jsonl')} at byte 0)`), s.lines.join('\n'));
  assert.equal(agent.status().skippedLines, 1);
  const t = setup();
  mkdirSync(t.journal, { recursive: true });
  writeFileSync(join(t.dir, 'elsewhere'), '');
  symlinkSync(join(t.dir, 'elsewhere'), join(t.journal, 'journal.jsonl'));
  await drain(t.agent());
  assert.ok(t.lines.includes(`warning: not reading ${join(t.journal, 'journal.jsonl')}: a symlink`), t.lines.join('\n'));
});

test('rule: the agent remembers the last 20000 exported invocations, each once', async () => {
  const s = setup();
  mkdirSync(s.state, { recursive: true });
  const before = Array.from({ length: 20_001 }, (_, i) => id(100_000 + i));
  writeFileSync(join(s.state, CHECKPOINT_FILE), JSON.stringify({ version: 1, files: {}, exported: [...before, before[20_000]] }));
  call(s.writer, 0);
  await drain(s.agent());
  const cp = JSON.parse(readFileSync(join(s.state, CHECKPOINT_FILE), 'utf8')) as { exported: string[] };
  assert.deepEqual(cp.exported, [...before.slice(2), id(0)]);
});

test('rule: an invocation listed as exported in the checkpoint is not exported again', async () => {
  const s = setup();
  mkdirSync(s.state, { recursive: true });
  writeFileSync(join(s.state, CHECKPOINT_FILE), JSON.stringify({ version: 1, files: {}, exported: [id(0)] }));
  call(s.writer, 0);
  call(s.writer, 1);
  const agent = s.agent();
  await drain(agent);
  assert.deepEqual(s.sink.roots(), [[id(1)]]);
  assert.equal(agent.status().recordsRead, 4, 'its records are read, and passed over');
});

test('rule: after each accepted batch the checkpoint holds it, before the next batch is sent', async () => {
  const s = setup();
  for (let i = 0; i < 3; i++) call(s.writer, i);
  const onDisk: string[][] = [];
  const sink = new Sink();
  const agent = s.agent({ flags: { batch: '1' }, sink: Object.assign(sink, {
    exportSpans: async (spans: ReadableSpan[]) => {
      const file = join(s.state, CHECKPOINT_FILE);
      onDisk.push(existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { exported: string[] }).exported : []);
      sink.batches.push(spans);
      return { ok: true as const };
    },
  }) });
  await drain(agent);
  assert.deepEqual(onDisk, [[], [id(0)], [id(0), id(1)]], 'a kill re-sends at most the batch in flight');
});

test('rule: the checkpoint is written only when something was exported or refused', async () => {
  const s = setup();
  const agent = s.agent();
  await agent.tick();
  const file = join(s.state, CHECKPOINT_FILE);
  assert.equal(existsSync(file), false, 'nothing exported yet: no checkpoint');
  call(s.writer, 0);
  await drain(agent);
  assert.equal(existsSync(file), true);
  rmSync(file);
  await agent.tick();
  await agent.tick();
  assert.equal(existsSync(file), false, 'nothing new: not written again');
});

test('rule: an end read twice queues, tells and exports its invocation once', async () => {
  const s = setup();
  call(s.writer, 0);
  s.writer.append(invocationEnd({ spanId: id(0), endNs: ns(1), durationNs: '1000000' }));
  const heard: string[] = [];
  const agent = s.agent({ onReady: (inv) => heard.push(inv.spanId) });
  await drain(agent);
  assert.deepEqual(s.sink.roots(), [[id(0)]]);
  assert.deepEqual(heard, [id(0)]);
  assert.equal(agent.status().invocationsExported, 1);
});

test('rule: the agent is idle only when nothing is queued and nothing is left to read', async () => {
  const s = setup();
  const big = 'y'.repeat(100_000);
  for (let i = 0; i < 30; i++) {
    s.writer.append(invocationBegin({ spanId: id(i), containerId: `ctr-${i}`, startNs: ns(i) }));
    s.writer.append(invocationEnd({ spanId: id(i), endNs: ns(i + 1), stdout: { text: big, bytes: big.length, truncated: false } }));
  }
  const agent = s.agent();
  await agent.tick();
  assert.equal(agent.status().queued, 0, 'what one round read is exported');
  assert.ok(agent.status().backlogBytes > 0, 'about 3 MB: more than one round reads');
  assert.equal(agent.idle(), false);
  await drain(agent);
  assert.equal(agent.idle(), true);
  assert.equal(agent.status().invocationsExported, 30);
});
