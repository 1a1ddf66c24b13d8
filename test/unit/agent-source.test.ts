/**
 * The agent's positioned journal reader: records come out in the order they were written,
 * across rotated files and however small the read budget, and resume at given offsets.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs, { appendFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { loadCheckpoint, resumeOffsets, writeCheckpoint } from '../../src/agent/checkpoint.ts';
import { JournalSource, type PositionedRecord } from '../../src/agent/source.ts';
import type { StepBegin } from '../../src/journal/record.ts';
import { Journal } from '../../src/journal/writer.ts';

const root = mkdtempSync(join(tmpdir(), 'cnitrace-unit-source-'));
after(() => rmSync(root, { recursive: true, force: true }));

/**
 * Runs `act` (a real rotation) right after the next stat of `dir`'s journal.jsonl, the moment
 * between a reader's look at the directory and its read: node:fs's statSync is wrapped, calling
 * through, and the wrap is gone once it fired.
 */
const nodeFs = fs as { statSync: typeof fs.statSync };
const realStat = fs.statSync;
function beforeNextRead(dir: string, act: () => void): void {
  const active = join(dir, 'journal.jsonl');
  nodeFs.statSync = ((path: fs.PathLike, options?: fs.StatSyncOptions) => {
    const st = realStat(path, options);
    if (String(path) === active) {
      nodeFs.statSync = realStat;
      syncBuiltinESMExports();
      act();
    }
    return st;
  }) as typeof fs.statSync;
  syncBuiltinESMExports();
}
after(() => {
  nodeFs.statSync = realStat;
  syncBuiltinESMExports();
});

function record(i: number): StepBegin {
  return { rec: 'step.begin', v: 1, traceId: 'a'.repeat(32), invocationSpanId: 'b'.repeat(16), spanId: i.toString(16).padStart(16, '0'), index: i, plugin: 'p', command: 'ADD', path: null, startNs: String(i), stdin: { pad: 'x'.repeat(5000) } };
}

/** Polls until three polls in a row bring nothing (a file skipped in one poll is read in the next). */
function drain(source: JournalSource, budget: number): PositionedRecord[] {
  const out: PositionedRecord[] = [];
  for (let round = 0, empty = 0; round < 10_000; round++) {
    const got = source.poll(budget);
    empty = got.length === 0 ? empty + 1 : 0;
    if (empty === 3) return out;
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

/** The file's bytes, and each positioned record's line out of them. */
function lineAt(path: string, p: PositionedRecord): Buffer {
  return readFileSync(path).subarray(p.at, p.at + p.bytes);
}

test('rule: a record\'s byte count is its line\'s length with its "\\n", and lines follow each other with no gap', () => {
  const dir = join(root, 'bytes');
  const journal = new Journal({ dir, maxFileBytes: 1 << 20, maxFiles: 10, onDegraded: (r) => assert.fail(r) });
  const multibyte = (i: number): StepBegin => ({ ...record(i), stdin: { pad: 'é€😀'.repeat(i + 1) } });
  for (let i = 0; i < 5; i++) journal.append(multibyte(i));
  const path = join(dir, 'journal.jsonl');
  appendFileSync(path, '\n   \nnot a record\n'); // blank lines and garbage between records
  journal.append(multibyte(5));
  const skipped: number[] = [];
  const source = new JournalSource(dir, {}, (_f, at) => skipped.push(at));
  const got = drain(source, 1 << 20);
  assert.equal(got.length, 6);
  for (const p of got) {
    const line = lineAt(path, p);
    assert.equal(p.bytes, Buffer.byteLength(JSON.stringify(p.rec)) + 1, `record ${(p.rec as StepBegin).index}: bytes counts UTF-8 bytes and the "\\n"`);
    assert.equal(line.at(-1), 0x0a, 'the line ends at its "\\n"');
    assert.deepEqual(JSON.parse(line.toString('utf8')), p.rec, 'at..at+bytes is exactly the record\'s line');
  }
  for (let i = 1; i < 5; i++) assert.equal(got[i]!.at, got[i - 1]!.at + got[i - 1]!.bytes, `record ${i} starts where record ${i - 1} ends`);
  const garbageAt = got[4]!.at + got[4]!.bytes + 5; // after "\n" and "   \n"
  assert.deepEqual(skipped, [garbageAt], 'the garbage line is skipped where it is; blank lines are not counted');
  assert.equal(got[5]!.at, garbageAt + Buffer.byteLength('not a record\n'));
  assert.equal(got[5]!.at + got[5]!.bytes, statSync(path).size);
  assert.deepEqual([...source.offsets().values()], [statSync(path).size], 'the offset is the end of the last whole line');
  assert.equal(source.backlogBytes(), 0);
});

test('a partial last line waits: not handed out, not consumed, counted as backlog; whole, it comes once at its offset', () => {
  const dir = join(root, 'partial');
  const journal = new Journal({ dir, maxFileBytes: 1 << 20, maxFiles: 10, onDegraded: (r) => assert.fail(r) });
  for (let i = 0; i < 3; i++) journal.append(record(i));
  const path = join(dir, 'journal.jsonl');
  const whole = statSync(path).size;
  const line = `${JSON.stringify(record(3))}\n`;
  appendFileSync(path, line.slice(0, 1000));
  const source = new JournalSource(dir, {}, () => assert.fail('a partial line is not garbage'));
  assert.deepEqual(drain(source, 1).map((p) => (p.rec as StepBegin).index), [0, 1, 2]);
  assert.deepEqual([...source.offsets().values()], [whole], 'consumed up to the last whole line');
  assert.equal(source.backlogBytes(), 1000);
  assert.deepEqual(source.poll(1 << 20), [], 'still partial: nothing');
  appendFileSync(path, line.slice(1000));
  const rest = drain(source, 1 << 20);
  assert.deepEqual(rest.map((p) => [(p.rec as StepBegin).index, p.at, p.bytes]), [[3, whole, Buffer.byteLength(line)]]);
  assert.equal(source.backlogBytes(), 0);
});

test('rule: a file is read at an offset only while it is the inode the offset belongs to (rotated between the look and the read)', () => {
  const dir = join(root, 'race');
  const first = new Journal({ dir, maxFileBytes: 64 << 20, maxFiles: 10, onDegraded: (r) => assert.fail(r) });
  for (let i = 0; i < 5; i++) first.append(record(i));
  const skipped: number[] = [];
  const source = new JournalSource(dir, {}, (_f, at) => skipped.push(at));
  assert.equal(drain(source, 1 << 20).length, 5);
  for (let i = 5; i < 8; i++) first.append(record(i)); // written, not yet read
  // The writer rotates right after the source looked at journal.jsonl and before it opens it:
  // the new journal.jsonl is longer than the offset the source holds for the old one.
  beforeNextRead(dir, () => {
    renameSync(join(dir, 'journal.jsonl'), join(dir, `journal-${'1'.repeat(19)}-1.jsonl`));
    const next = new Journal({ dir, maxFileBytes: 64 << 20, maxFiles: 10, onDegraded: (r) => assert.fail(r) });
    for (let i = 100; i < 140; i++) next.append(record(i));
  });
  const got = drain(source, 1 << 20);
  assert.deepEqual(got.map((p) => (p.rec as StepBegin).index), [5, 6, 7, ...Array.from({ length: 40 }, (_, i) => 100 + i)],
    'the old file\'s rest, then the new file from its start: none lost, none twice');
  assert.deepEqual(skipped, [], 'no line read from the middle');
  const files = new Set(got.map((p) => p.file));
  assert.equal(files.size, 2);
  assert.equal(got[3]!.at, 0, 'the new file is read from 0');
});

test('a journal file truncated in place is read anew from its start', () => {
  const dir = join(root, 'truncated');
  const journal = new Journal({ dir, maxFileBytes: 64 << 20, maxFiles: 10, onDegraded: (r) => assert.fail(r) });
  for (let i = 0; i < 10; i++) journal.append(record(i));
  const skipped: number[] = [];
  const source = new JournalSource(dir, {}, (_f, at) => skipped.push(at));
  assert.equal(drain(source, 1 << 20).length, 10);
  const path = join(dir, 'journal.jsonl');
  truncateSync(path, 0);
  appendFileSync(path, `${JSON.stringify(record(50))}\n${JSON.stringify(record(51))}\n`);
  const got = drain(source, 1 << 20);
  assert.deepEqual(got.map((p) => [(p.rec as StepBegin).index, p.at]), [[50, 0], [51, got[0]!.bytes]]);
  assert.deepEqual(skipped, []);
});

test('a checkpoint resumes each file at its first pending record, else where reading stopped; it survives a reload', () => {
  const read = new Map([['f1', 900], ['f2', 500], ['f3', 40]]);
  const pending = new Map([['f1', new Map([[300, 1], [100, 2], [700, 1]])], ['f2', new Map<number, number>()]]);
  assert.deepEqual(resumeOffsets(read, pending), { f1: 100, f2: 500, f3: 40 });
  assert.deepEqual(resumeOffsets(new Map([['f1', 50]]), new Map([['f1', new Map([[80, 1]])]])), { f1: 50 }, 'never past where reading stopped');
  const state = join(root, 'state');
  mkdirSync(state);
  const log: string[] = [];
  assert.deepEqual(loadCheckpoint(state, (l) => log.push(l)), { version: 1, files: {}, exported: [] });
  assert.equal(log.length, 0, 'no checkpoint yet: no warning');
  writeCheckpoint(state, { version: 1, files: { f1: 100 }, exported: ['a'] });
  assert.deepEqual(loadCheckpoint(state, (l) => log.push(l)), { version: 1, files: { f1: 100 }, exported: ['a'] });
  writeFileSync(join(state, 'checkpoint.json'), '{"version":2,"files":{},"exported":[]}');
  assert.deepEqual(loadCheckpoint(state, (l) => log.push(l)).files, {});
  writeFileSync(join(state, 'checkpoint.json'), '{torn');
  assert.deepEqual(loadCheckpoint(state, (l) => log.push(l)).files, {});
  assert.equal(log.length, 2);
  assert.match(log[0]!, /unknown format/);
  assert.match(log[1]!, /cannot read checkpoint/);
});

test('resuming from a source\'s own offsets mid-file reads each record after them exactly once, also with a tiny budget', () => {
  const dir = join(root, 'resume-bytes');
  const journal = new Journal({ dir, maxFileBytes: 40_000, maxFiles: 1000, onDegraded: (r) => assert.fail(r) });
  for (let i = 0; i < 12; i++) journal.append(record(i));
  const first = new JournalSource(dir, {}, () => {});
  const got = first.poll(12_000); // stops after a few records, mid-file
  assert.ok(got.length > 0 && got.length < 12);
  const start = Object.fromEntries(first.offsets());
  const resumed = drain(new JournalSource(dir, start, () => assert.fail('resumed at a line start')), 1);
  assert.deepEqual([...got, ...resumed].map((p) => (p.rec as StepBegin).index), Array.from({ length: 12 }, (_, i) => i));
});

// Rules of the source that Stryker's survivors showed untested (issue 22).

test('rule: a file\'s id is the first 20 hex digits of its first line\'s sha1, and a file gets one only once it has a whole line', () => {
  const dir = join(root, 'ids');
  mkdirSync(dir);
  const path = join(dir, 'journal.jsonl');
  const line = `${JSON.stringify(record(1))}\n`;
  writeFileSync(path, line.slice(0, 100), { mode: 0o600 });
  const source = new JournalSource(dir, {}, () => assert.fail('a partial line is not garbage'));
  assert.deepEqual(source.poll(1 << 20), []);
  assert.deepEqual([...source.offsets().keys()], [], 'no whole line yet: no file id, nothing to checkpoint');
  appendFileSync(path, line.slice(100));
  assert.equal(source.poll(1 << 20).length, 1);
  const id = createHash('sha1').update(line.slice(0, -1)).digest('hex').slice(0, 20);
  assert.deepEqual([...source.offsets()], [[id, Buffer.byteLength(line)]], 'the id the checkpoint stores');
});

test('rule: one poll after a rotation reads the archive\'s rest and the new journal.jsonl, and keeps both files\' offsets', () => {
  const dir = join(root, 'rotate-one-poll');
  const first = new Journal({ dir, maxFileBytes: 64 << 20, maxFiles: 10, onDegraded: (r) => assert.fail(r) });
  for (let i = 0; i < 3; i++) first.append(record(i));
  const source = new JournalSource(dir, {}, () => assert.fail('nothing is corrupt'));
  assert.equal(source.poll(1 << 20).length, 3);
  first.append(record(3));
  renameSync(join(dir, 'journal.jsonl'), join(dir, `journal-${'1'.repeat(19)}-1.jsonl`));
  const next = new Journal({ dir, maxFileBytes: 64 << 20, maxFiles: 10, onDegraded: (r) => assert.fail(r) });
  for (let i = 10; i < 17; i++) next.append(record(i)); // longer than the old file's offset
  assert.deepEqual(source.poll(1 << 20).map((p) => (p.rec as StepBegin).index), [3, 10, 11, 12, 13, 14, 15, 16], 'both files in the same poll');
  assert.equal(source.offsets().size, 2, 'the archive and the new file');
});

test('rule: a file truncated in place leaves no offset under its old id', () => {
  const dir = join(root, 'truncated-ids');
  const journal = new Journal({ dir, maxFileBytes: 64 << 20, maxFiles: 10, onDegraded: (r) => assert.fail(r) });
  for (let i = 0; i < 4; i++) journal.append(record(i));
  const source = new JournalSource(dir, {}, () => {});
  drain(source, 1 << 20);
  const [oldId] = [...source.offsets().keys()];
  const path = join(dir, 'journal.jsonl');
  truncateSync(path, 0);
  appendFileSync(path, `${JSON.stringify(record(50))}\n`);
  assert.deepEqual(source.poll(1 << 20).map((p) => (p.rec as StepBegin).index), [50]);
  const ids = [...source.offsets().keys()];
  assert.equal(ids.length, 1, 'one file, one offset');
  assert.notEqual(ids[0], oldId, 'the old content\'s id is gone with it');
});

test('rule: an idle file keeps its position however many polls pass; a pruned one is forgotten after 20 polls', () => {
  const dir = join(root, 'idle');
  const journal = new Journal({ dir, maxFileBytes: 64 << 20, maxFiles: 10, onDegraded: (r) => assert.fail(r) });
  for (let i = 0; i < 3; i++) journal.append(record(i));
  const source = new JournalSource(dir, {}, () => {});
  assert.equal(source.poll(1 << 20).length, 3);
  for (let i = 0; i < 25; i++) assert.deepEqual(source.poll(1 << 20), [], 'nothing new');
  journal.append(record(3));
  assert.deepEqual(source.poll(1 << 20).map((p) => (p.rec as StepBegin).index), [3], 'only the new record, not the file again');
  assert.equal(source.offsets().size, 1);
  rmSync(join(dir, 'journal.jsonl'));
  for (let i = 0; i < 20; i++) source.poll(1 << 20);
  assert.equal(source.offsets().size, 1, 'missing for 20 polls: still remembered (a rename can hide a file)');
  source.poll(1 << 20);
  assert.equal(source.offsets().size, 0, 'missing for 21 polls: forgotten');
});

test('rule: a poll reads its budget of whole lines (at least 64 KiB at once), not the whole file', () => {
  const dir = join(root, 'budget');
  const journal = new Journal({ dir, maxFileBytes: 64 << 20, maxFiles: 10, onDegraded: (r) => assert.fail(r) });
  for (let i = 0; i < 100; i++) journal.append(record(i));
  const bytes = (got: PositionedRecord[]): number => got.reduce((n, p) => n + p.bytes, 0);
  const tiny = new JournalSource(dir, {}, () => {}).poll(1);
  assert.ok(tiny.length > 0 && bytes(tiny) <= 64 << 10, `a budget of 1 reads one 64 KiB read's lines, got ${bytes(tiny)} bytes`);
  const whole = new JournalSource(dir, {}, () => {});
  const head = whole.poll(100_000);
  const offset = [...whole.offsets()][0]!;
  const resumed = new JournalSource(dir, { [offset[0]]: offset[1] }, () => {}).poll(200_000);
  assert.ok(bytes(resumed) >= 200_000 && bytes(resumed) <= 200_000 + (64 << 10), `resumed mid-file, a poll reads its budget, got ${bytes(resumed)}`);
  assert.equal((resumed[0]!.rec as StepBegin).index, head.length, 'and carries on where the first stopped');
});

test('rule: a poll leaves no file open, counts each garbage line, and a missing journal directory reads as empty', () => {
  const dir = join(root, 'fds');
  const journal = new Journal({ dir, maxFileBytes: 64 << 20, maxFiles: 10, onDegraded: (r) => assert.fail(r) });
  journal.append(record(0));
  appendFileSync(join(dir, 'journal.jsonl'), 'garbage\n');
  const source = new JournalSource(dir, {}, () => {});
  const open = (): number => readdirSync('/proc/self/fd').length;
  const before = open();
  for (let i = 0; i < 20; i++) source.poll(1 << 20);
  assert.equal(open(), before, 'every file a poll opened is closed');
  assert.equal(source.skipped, 1, 'the garbage line is counted once');
  assert.deepEqual(new JournalSource(join(root, 'no-such-dir'), {}, () => {}).poll(1 << 20), [], 'no directory: nothing, no throw');
});

test('rule: a file removed between the look and the read is passed over, not a failed poll', () => {
  const dir = join(root, 'vanish');
  const journal = new Journal({ dir, maxFileBytes: 64 << 20, maxFiles: 10, onDegraded: (r) => assert.fail(r) });
  journal.append(record(0));
  const source = new JournalSource(dir, {}, () => {});
  assert.equal(source.poll(1 << 20).length, 1);
  journal.append(record(1));
  beforeNextRead(dir, () => rmSync(join(dir, 'journal.jsonl')));
  assert.deepEqual(source.poll(1 << 20), [], 'gone before it was opened');
});

test('rule: a checkpoint whose files are not an object of offsets (null, a number, a list) is an unknown format, not a crash', () => {
  const state = join(root, 'state-files');
  mkdirSync(state);
  for (const files of ['null', '5', '[1]']) {
    const log: string[] = [];
    writeFileSync(join(state, 'checkpoint.json'), `{"version":1,"files":${files},"exported":[]}`);
    const cp = loadCheckpoint(state, (l) => log.push(l));
    assert.deepEqual(cp.files, {}, `files ${files}: start from the beginning`);
    assert.match(log[0] ?? '', /unknown format/, `files ${files}: said once`);
    assert.doesNotThrow(() => Object.keys(cp.files), 'the agent reads the files\' keys at start');
  }
});
