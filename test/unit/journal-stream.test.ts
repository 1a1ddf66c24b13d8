/**
 * The streaming reading core (issue 19 item 2, issue 23), over real journal files in a temp dir
 * written by the wrapper's own recorder and writer: reading backwards across rotated files and
 * chunk boundaries, a partial newest line, a file rotated away during a read, `--since` skipping
 * files, readers that stop once they have their answer, and stats over more samples than a call
 * can take as arguments.
 */
import assert from 'node:assert/strict';
import { appendFileSync, closeSync, fstatSync, mkdtempSync, openSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { writeInvocation } from '../../bench/synthetic-journal.ts';
import { statsReport } from '../../src/cli/stats.ts';
import { tail } from '../../src/cli/tail.ts';
import { invocationsNewestFirst } from '../../src/journal/assemble.ts';
import { journalFiles } from '../../src/journal/files.ts';
import type { Invocation } from '../../src/journal/invocations.ts';
import { linesBackward, linesForward } from '../../src/journal/lines.ts';
import { journalRecords, readJournal, readJournalTail, recordsNewestFirst, type ReadStats } from '../../src/journal/reader.ts';
import type { InvocationBegin, JournalRecord } from '../../src/journal/record.ts';
import { Journal } from '../../src/journal/writer.ts';
import { LatencyTable } from '../../src/view/latency.ts';
import { percentile } from '../../src/view/stats.ts';

const root = mkdtempSync(join(tmpdir(), 'cnitrace-unit-stream-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** A journal of `n` two-step ADDs (pods pod-0 …) in files of ~`fileBytes`. */
function journalOf(name: string, n: number, fileBytes = 40_000): string {
  const dir = join(root, name);
  const journal = new Journal({ dir, maxFileBytes: fileBytes, maxFiles: 1000, onDegraded: (r) => assert.fail(r) });
  for (let i = 0; i < n; i++) writeInvocation(journal, i);
  return dir;
}


test('newest first is write order reversed, across rotated files and chunks smaller than a line', () => {
  const dir = journalOf('backward', 60);
  assert.ok(journalFiles(dir).length > 3, 'the journal rotated');
  const forward = readJournal(dir);
  for (const chunkBytes of [97, 4096, 1 << 20]) {
    const stats: ReadStats = { records: 0, skipped: 0 };
    const backward = [...recordsNewestFirst(dir, { stats, chunkBytes })];
    assert.deepEqual(backward, [...forward].reverse(), `chunks of ${chunkBytes}`);
    assert.deepEqual(stats, { records: forward.length, skipped: 0 });
    assert.deepEqual([...journalRecords(dir, { chunkBytes })], forward, `forward in chunks of ${chunkBytes}`);
  }
});

test('lines backward and forward agree on every line\'s offset and length, blank and unterminated lines too', () => {
  const path = join(root, 'lines-file');
  appendFileSync(path, '\nfirst\n\nsecond ünïcode line\nthird\nunterminated');
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    for (const chunk of [1, 2, 5, 1 << 20]) {
      const fwd = [...linesForward(fd, 0, size, chunk)];
      assert.deepEqual([...linesBackward(fd, size, chunk)], [...fwd].reverse(), `chunks of ${chunk}`);
      assert.deepEqual(fwd.map((l) => l.text), ['', 'first', '', 'second ünïcode line', 'third', 'unterminated']);
      assert.equal(fwd.at(-1)!.whole, false);
      assert.equal(fwd.reduce((n, l) => n + l.bytes, 0), size, 'the lines cover the file');
    }
  } finally {
    closeSync(fd);
  }
});

test('a partial newest line is counted and skipped; the whole records before it are read, newest first and by tail --last', () => {
  const dir = journalOf('partial', 30);
  const whole = readJournal(dir);
  appendFileSync(join(dir, 'journal.jsonl'), JSON.stringify(whole.at(-1)).slice(0, 200)); // a write torn by a full disk
  const stats: ReadStats = { records: 0, skipped: 0 };
  assert.deepEqual([...recordsNewestFirst(dir, { stats })], [...whole].reverse());
  assert.deepEqual(stats, { records: whole.length, skipped: 1 });
  const lines: string[] = [];
  tail({ journal: dir, json: true, follow: false, colour: false, write: (l) => lines.push(l), last: 2 });
  assert.deepEqual(lines.map((l) => (JSON.parse(l) as { pod: { name: string } }).pod.name), ['pod-28', 'pod-29']);
});

test('a file rotated away during a read is read to its end through the descriptor held, never mixed with its successor', () => {
  // One active file of ~1.5 MiB (more than one 1 MiB chunk), rotated and replaced while the
  // first records are being delivered: every reader still gives exactly the old file's records.
  const readers: Array<[string, (dir: string, each: (rec: JournalRecord) => void) => void]> = [
    ['readJournalTail (the TUI)', (dir, each) => { readJournalTail(dir, 1000, each); }],
    ['journalRecords (tail, stats)', (dir, each) => { for (const rec of journalRecords(dir)) each(rec); }],
    ['recordsNewestFirst (tail --last, show)', (dir, each) => { for (const rec of recordsNewestFirst(dir)) each(rec); }],
  ];
  for (const [name, read] of readers) {
    const dir = journalOf(`rotated-${name.split(' ')[0]}`, 500, 64 << 20);
    const before = readJournal(dir);
    const got: JournalRecord[] = [];
    read(dir, (rec) => {
      if (got.length === 0) {
        renameSync(join(dir, 'journal.jsonl'), join(dir, `journal-${'9'.repeat(19)}-1.jsonl`));
        const next = new Journal({ dir, maxFileBytes: 64 << 20, maxFiles: 1000, onDegraded: (r) => assert.fail(r) });
        for (let i = 1000; i < 1010; i++) writeInvocation(next, i);
      }
      got.push(rec);
    });
    const expected = name.startsWith('recordsNewestFirst') ? [...before].reverse() : before;
    assert.equal(got.length, expected.length, `${name}: every record of the file read, none of the new one`);
    assert.deepEqual(got, expected, name);
  }
});

/** Invocation `i` of a journal whose invocations start `i` minutes apart: one real invocation's records, re-timed and re-named. */
function minuteApart(template: readonly JournalRecord[], i: number): JournalRecord[] {
  const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0');
  const shift = (ns: string): string => String(BigInt(ns) + BigInt(i) * 60_000_000_000n);
  const ids = new Map<string, string>();
  const id = (old: string): string => ids.get(old) ?? ids.set(old, hex(i * 16 + ids.size + 1, 16)).get(old)!;
  return template.map((r) => {
    const traceId = hex(i + 1, 32);
    if (r.rec === 'invocation.begin') return { ...r, traceId, spanId: id(r.spanId), startNs: shift(r.startNs), pod: { ...r.pod, name: `pod-${i}` } };
    if (r.rec === 'invocation.end') return { ...r, traceId, spanId: id(r.spanId), endNs: shift(r.endNs) };
    if (r.rec === 'step.begin') return { ...r, traceId, invocationSpanId: id(r.invocationSpanId), spanId: id(r.spanId), startNs: shift(r.startNs) };
    return { ...r, traceId, invocationSpanId: id(r.invocationSpanId), spanId: id(r.spanId), endNs: shift(r.endNs) };
  });
}

test('--since skips the files whose successor began a minute and more before it, and finds the same invocations', () => {
  const template = readJournal(journalOf('since-template', 1));
  const dir = join(root, 'since');
  const journal = new Journal({ dir, maxFileBytes: 20_000, maxFiles: 1000, onDegraded: (r) => assert.fail(r) });
  for (let i = 0; i < 60; i++) for (const rec of minuteApart(template, i)) journal.append(rec);
  assert.ok(journalFiles(dir).length > 6, 'the journal rotated');
  const all = readJournal(dir);
  const sinceNs = BigInt((all.find((r) => r.rec === 'invocation.begin' && r.pod.name === 'pod-45') as InvocationBegin).startNs);
  const stats: ReadStats = { records: 0, skipped: 0 };
  const read = [...journalRecords(dir, { sinceNs, stats })];
  assert.ok(stats.records < all.length / 2, `the older files are not read: ${stats.records} of ${all.length} records`);
  assert.deepEqual(read, all.slice(all.length - read.length), 'a suffix of the journal, in order');
  assert.ok(read.some((r) => r.rec === 'invocation.begin' && r.pod.name === 'pod-44'), 'from a file that may hold records since then');
  assert.equal(statsReport(dir, { sinceNs }).invocations, 15, 'pods 45 to 59, as without skipping');
  const lines: string[] = [];
  tail({ journal: dir, json: true, follow: false, colour: false, write: (l) => lines.push(l), filter: { sinceNs } });
  assert.deepEqual(lines.map((l) => (JSON.parse(l) as { pod: { name: string } }).pod.name), Array.from({ length: 15 }, (_, k) => `pod-${45 + k}`));
});

test('tail --last and show stop reading once they have their answer', () => {
  const dir = journalOf('early', 200, 20_000);
  const total = readJournal(dir).length;
  const stats: ReadStats = { records: 0, skipped: 0 };
  const found: string[] = [];
  for (const { inv } of invocationsNewestFirst(recordsNewestFirst(dir, { stats }))) {
    found.push(inv.pod.name ?? '?');
    if (found.length === 3) break;
  }
  assert.deepEqual(found, ['pod-199', 'pod-198', 'pod-197']);
  assert.ok(stats.records <= 4 * 6, `a few invocations' records read, not the journal's ${total}: ${stats.records}`);
});

test('stats keeps exact counts and max, and percentiles within 0.1 % of the exact ones, over more samples than a call takes as arguments', () => {
  const table = new LatencyTable();
  const samples: number[] = [];
  let seed = 7;
  const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let i = 0; i < 300_000; i++) {
    const ms = Math.round(Math.exp(random() * 9) * 100) / 1000; // 0.1 ms … ~800 ms, µs precision
    samples.push(ms);
    const inv = { command: 'ADD', status: 'ok', durationMs: ms, steps: [] } as unknown as Invocation;
    table.add(inv);
  }
  const [row] = table.rows();
  assert.equal(row!.count, 300_000);
  assert.equal(row!.max, samples.reduce((m, x) => Math.max(m, x), 0));
  for (const p of [50, 95, 99] as const) {
    const exact = percentile(samples, p);
    const got = row![`p${p}`];
    assert.ok(Math.abs(got - exact) <= exact * 0.001 + 0.001, `p${p}: ${got} against exact ${exact}`);
  }
});
