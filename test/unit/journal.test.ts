import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, chmodSync, chownSync, closeSync, existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { bootId } from '../../src/journal/boot.ts';
import { foldInvocations, invocationsNewestFirst } from '../../src/journal/assemble.ts';
import { recordTimeNs } from '../../src/journal/identity.ts';
import { asRecord } from '../../src/journal/record-schema.ts';
import { InvocationIndex, nsToMs, processAlive, type Invocation } from '../../src/journal/invocations.ts';
import { chunks, firstLine, isGarbage, LineSplitter, linesBackward, linesForward, MAX_LINE_BYTES, parseRecordLine } from '../../src/journal/lines.ts';
import { openJournalFile } from '../../src/journal/files.ts';
import { followJournal, journalRecords, readJournal, readJournalTail, recordsNewestFirst, type ReadStats } from '../../src/journal/reader.ts';
import { capture, fitRecord, type Capture, type InvocationBegin, type InvocationEnd, type JournalRecord, type StepBegin, type StepEnd } from '../../src/journal/record.ts';
import { ACTIVE_FILE, ARCHIVE_PATTERN, Journal } from '../../src/journal/writer.ts';
import { rfc3339 } from '../../src/view/text.ts';

const root = mkdtempSync(join(tmpdir(), 'cnitrace-unit-'));
after(() => rmSync(root, { recursive: true, force: true }));

let dirSeq = 0;
function freshDir(): string {
  return join(root, `j${dirSeq++}`);
}

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

function invBegin(spanId: string, startNs: string, pid = 4242, extra: Partial<InvocationBegin> = {}): InvocationBegin {
  return {
    rec: 'invocation.begin', v: 1, traceId: TRACE, spanId, traceFlags: '01', startNs,
    command: 'ADD', containerId: 'c1', netns: '/var/run/netns/x', ifname: 'eth0', network: 'net', cniVersion: '1.0.0',
    pod: { namespace: 'default', name: 'web' }, env: { CNI_COMMAND: 'ADD' }, stdin: { type: 'cni-trace' },
    delegates: ['bridge', 'portmap'], pid, ...extra,
  };
}

function invEnd(spanId: string, endNs: string, durationNs: string, status: 'ok' | 'error' = 'ok'): InvocationEnd {
  return {
    rec: 'invocation.end', v: 1, traceId: TRACE, spanId, command: 'ADD', endNs, durationNs,
    exitCode: status === 'ok' ? 0 : 1, status,
    ...(status === 'error' ? { error: { code: 7, msg: 'bad' } } : {}),
    stdout: { text: '{}', bytes: 2, truncated: false },
  };
}

function stepBegin(inv: string, spanId: string, index: number, startNs: string): StepBegin {
  return {
    rec: 'step.begin', v: 1, traceId: TRACE, invocationSpanId: inv, spanId, index, plugin: `p${index}`,
    command: 'ADD', path: `/opt/cni/bin/p${index}`, startNs, stdin: { type: `p${index}` },
  };
}

function stepEnd(inv: string, spanId: string, index: number, endNs: string, status: 'ok' | 'error' = 'ok'): StepEnd {
  return {
    rec: 'step.end', v: 1, traceId: TRACE, invocationSpanId: inv, spanId, index, plugin: `p${index}`, command: 'ADD',
    endNs, durationNs: '2500000', pid: 99, exitCode: status === 'ok' ? 0 : 1, signal: null, status,
    stdout: { text: '', bytes: 0, truncated: false }, stderr: { text: '', bytes: 0, truncated: false },
  };
}

/** A record whose JSON line is about `padding` bytes longer than the bare one. */
function numbered(n: number, padding = 0): InvocationBegin {
  return invBegin(n.toString(16).padStart(16, '0'), String(1795851734423916188n + BigInt(n)), 1, { network: 'x'.repeat(padding) });
}

function noDegrade(reason: string): void {
  assert.fail(`journal degraded unexpectedly: ${reason}`);
}

test('Journal creates the directory 0700 and journal.jsonl 0600, one line per record', () => {
  const old = process.umask(0o022);
  try {
    const dir = freshDir();
    const j = new Journal({ dir, maxFileBytes: 1 << 20, maxFiles: 4, onDegraded: noDegrade });
    const recs = [numbered(1), numbered(2), numbered(3)];
    for (const r of recs) assert.equal(j.append(r), true);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    const file = join(dir, ACTIVE_FILE);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const text = readFileSync(file, 'utf8');
    assert.ok(text.endsWith('\n'));
    const lines = text.split('\n').slice(0, -1);
    assert.equal(lines.length, 3);
    assert.deepEqual(lines.map((l) => JSON.parse(l) as JournalRecord), recs);
    assert.equal(j.isDegraded, false);
  } finally {
    process.umask(old);
  }
});

test('Journal creates missing parent directories', () => {
  const dir = join(freshDir(), 'a', 'b');
  const j = new Journal({ dir, maxFileBytes: 1 << 20, maxFiles: 4, onDegraded: noDegrade });
  assert.equal(j.append(numbered(1)), true);
  assert.deepEqual(readJournal(dir), [numbered(1)]);
});

test('Journal rotates into journal-<19 digits>-<pid>.jsonl archives, keeps at most maxFiles, and readJournal reads them in order', () => {
  const dir = freshDir();
  const lineBytes = Buffer.byteLength(JSON.stringify(numbered(0, 100)) + '\n');
  // Room for two records per file.
  const j = new Journal({ dir, maxFileBytes: lineBytes * 2 + 10, maxFiles: 3, onDegraded: noDegrade });
  const recs = Array.from({ length: 13 }, (_, i) => numbered(i, 100));
  for (const r of recs) assert.equal(j.append(r), true);

  const names = readdirSync(dir).sort();
  const archives = names.filter((n) => n !== ACTIVE_FILE);
  assert.ok(names.includes(ACTIVE_FILE));
  assert.equal(archives.length, 3);
  for (const a of archives) {
    assert.match(a, new RegExp(`^journal-\\d{19}-${process.pid}\\.jsonl$`));
    assert.match(a, ARCHIVE_PATTERN);
    assert.ok(statSync(join(dir, a)).size <= lineBytes * 2 + 10);
  }
  // 13 records, two per file: the active file has the 13th, three archives the 7th to 12th.
  const stats: ReadStats = { records: 0, skipped: 0 };
  const read = readJournal(dir, stats);
  assert.deepEqual(read, recs.slice(6));
  assert.deepEqual(stats, { records: 7, skipped: 0 });
});

test('a record larger than maxFileBytes is cut to fit: the longest captures first, then the config; marked with its whole size', () => {
  const dir = freshDir();
  const max = 64 * 1024;
  const j = new Journal({ dir, maxFileBytes: max, maxFiles: 2, onDegraded: noDegrade });
  const big = (n: number): Capture => capture(Buffer.from('é'.repeat(n)), 1 << 30);
  const end: StepEnd = { ...stepEnd('0000000000000001', '0000000000000002', 0, '1795851734423916188'), stdout: big(200_000), stderr: big(50_000) };
  const begin = invBegin('0000000000000003', '1795851734423916188', 1, { stdin: { type: 'cni-trace', pad: 'x'.repeat(300_000) } });
  assert.equal(j.append(end), true);
  assert.equal(j.append(begin), true);
  assert.equal(j.append(numbered(1)), true, 'a record that fits is as it was');
  for (const line of readFileSync(join(dir, ACTIVE_FILE), 'utf8').split('\n').filter(Boolean)) {
    assert.ok(Buffer.byteLength(line) + 1 <= max, `a line of ${Buffer.byteLength(line)} bytes`);
  }
  const [e, b, n] = readJournal(dir) as [StepEnd, InvocationBegin, InvocationBegin];
  assert.equal(e.cut?.bytes, Buffer.byteLength(JSON.stringify(end)) + 1);
  assert.deepEqual([e.stdout.truncated, e.stdout.bytes, e.stderr.bytes], [true, 400_000, 100_000], 'each capture still says what was written');
  assert.ok(e.stdout.text.length > 0 && e.stdout.text.length < 200_000 && /^é+$/.test(e.stdout.text));
  assert.match(String(b.stdin), /^\(not kept: \d+ bytes of JSON; the record would pass journalMaxFileBytes\)$/);
  assert.ok(b.cut);
  assert.deepEqual(n, numbered(1));
  const index = new InvocationIndex(() => false);
  for (const r of [e, b]) index.add(r);
  assert.equal(index.list().length, 2, 'the views take cut records');
});

test('a limit smaller than a record\'s identity leaves it whole rather than losing it', () => {
  const dir = freshDir();
  const j = new Journal({ dir, maxFileBytes: 10, maxFiles: 2, onDegraded: noDegrade });
  assert.equal(j.append(numbered(1)), true);
  assert.equal(j.append(numbered(2)), true);
  assert.deepEqual(readJournal(dir).map((r) => ({ ...r, cut: undefined })), [numbered(1), numbered(2)].map((r) => ({ ...r, cut: undefined })));
});

test('a journal whose directory is a regular file degrades: false, reported once naming the dir, never throws', () => {
  const dir = join(root, 'not-a-dir');
  writeFileSync(dir, 'x');
  const reasons: string[] = [];
  const j = new Journal({ dir, maxFileBytes: 1 << 20, maxFiles: 2, onDegraded: (r) => reasons.push(r) });
  assert.equal(j.append(numbered(1)), false);
  assert.equal(j.isDegraded, true);
  assert.equal(reasons.length, 1);
  assert.ok(reasons[0]!.includes(dir), reasons[0]);
  assert.ok(!reasons[0]!.includes('\n'), 'a one-line reason');
  assert.equal(j.append(numbered(2)), false);
  assert.equal(j.append(numbered(3)), false);
  assert.equal(reasons.length, 1);
  assert.equal(readFileSync(dir, 'utf8'), 'x');
});

test('ready() makes and checks the directory before any record: true when it works; false, reported once, when it cannot; never throws, even when the report does', () => {
  const good = new Journal({ dir: join(root, 'ready-ok'), maxFileBytes: 1 << 20, maxFiles: 2, onDegraded: (r) => assert.fail(r) });
  assert.equal(good.ready(), true);
  assert.equal(statSync(join(root, 'ready-ok')).mode & 0o777, 0o700);
  assert.equal(existsSync(join(root, 'ready-ok', ACTIVE_FILE)), false, 'no file before a record');
  const file = join(root, 'ready-file');
  writeFileSync(file, '');
  const reasons: string[] = [];
  const bad = new Journal({ dir: join(file, 'j'), maxFileBytes: 1 << 20, maxFiles: 2, onDegraded: (r) => reasons.push(r) });
  assert.equal(bad.ready(), false);
  assert.equal(bad.ready(), false);
  assert.equal(reasons.length, 1);
  assert.equal(bad.append(numbered(1)), false);
  const mute = new Journal({ dir: join(file, 'k'), maxFileBytes: 1 << 20, maxFiles: 2, onDegraded: () => { throw new Error('stderr is gone'); } });
  assert.equal(mute.ready(), false);
  assert.equal(mute.isDegraded, true);
});

test('a journal whose directory is under a regular file degrades the same way', () => {
  const file = join(root, 'plain-file');
  writeFileSync(file, '');
  const dir = join(file, 'sub');
  const reasons: string[] = [];
  const j = new Journal({ dir, maxFileBytes: 1 << 20, maxFiles: 2, onDegraded: (r) => reasons.push(r) });
  assert.doesNotThrow(() => j.append(numbered(1)));
  assert.equal(j.append(numbered(2)), false);
  assert.equal(reasons.length, 1);
  assert.ok(reasons[0]!.includes(dir));
});

test('parseRecordLine skips blank, garbage and non-record lines', () => {
  for (const line of ['', '   ', '\t', 'garbage', '{', '{"rec":"step.be', 'null', '42', '"s"', '[1]', '{"a":1}', '{"rec":5}']) {
    assert.equal(parseRecordLine(line), null, JSON.stringify(line));
  }
});

test('parseRecordLine reads a whole record and ignores surrounding whitespace', () => {
  const rec = numbered(1);
  assert.deepEqual(parseRecordLine(JSON.stringify(rec)), rec);
  assert.deepEqual(parseRecordLine(`  ${JSON.stringify(rec)}\r`), rec);
});

test('parseRecordLine recovers a whole record that follows a torn one on the same line', () => {
  const torn = JSON.stringify(numbered(1)).slice(0, 57);
  const whole = numbered(2);
  assert.deepEqual(parseRecordLine(torn + JSON.stringify(whole)), whole);
  // Two torn records before a whole one.
  assert.deepEqual(parseRecordLine(torn + torn + JSON.stringify(whole)), whole);
  // A torn record alone, or followed by another torn one, holds nothing.
  assert.equal(parseRecordLine(torn + torn), null);
});

test('readJournal counts skipped lines and keeps the records in order, including an unterminated last line', () => {
  const dir = freshDir();
  mkdirSync(dir);
  const r = [numbered(1), numbered(2), numbered(3), numbered(4)];
  const torn = JSON.stringify(numbered(9)).slice(0, 40);
  writeFileSync(join(dir, ACTIVE_FILE), [
    JSON.stringify(r[0]),
    'garbage',
    '',
    torn + JSON.stringify(r[1]),
    torn,
    JSON.stringify(r[2]),
    JSON.stringify(r[3]), // no trailing newline
  ].join('\n'));
  writeFileSync(join(dir, 'unrelated.txt'), JSON.stringify(numbered(100)) + '\n');
  const stats: ReadStats = { records: 0, skipped: 0 };
  assert.deepEqual(readJournal(dir, stats), r);
  assert.deepEqual(stats, { records: 4, skipped: 2 });
});

test('readJournal of a missing directory is empty', () => {
  assert.deepEqual(readJournal(join(root, 'missing')), []);
});

test('capture keeps short output whole', () => {
  assert.deepEqual(capture(Buffer.from('hello'), 5), { text: 'hello', bytes: 5, truncated: false });
  assert.deepEqual(capture(Buffer.alloc(0), 0), { text: '', bytes: 0, truncated: false });
});

test('capture bounds text to maxBytes, marks truncation and reports the total bytes', () => {
  const buf = Buffer.from('x'.repeat(100));
  assert.deepEqual(capture(buf, 10), { text: 'x'.repeat(10), bytes: 100, truncated: true });
  assert.deepEqual(capture(buf, 0), { text: '', bytes: 100, truncated: true });
});

test('capture never cuts a UTF-8 sequence into a replacement character, at any cut', () => {
  const original = 'aé日😀b€\u{10348}z';
  const buf = Buffer.from(original);
  for (let max = 0; max <= buf.length; max++) {
    const c = capture(buf, max);
    assert.equal(c.bytes, buf.length);
    assert.equal(c.truncated, max < buf.length);
    assert.ok(!c.text.includes('\uFFFD'), `cut at ${max}: ${JSON.stringify(c.text)}`);
    assert.ok(Buffer.byteLength(c.text) <= max, `cut at ${max}`);
    assert.ok(original.startsWith(c.text), `cut at ${max}`);
    // Only a partial character is dropped: at most 3 bytes less than the bound.
    assert.ok(max - Buffer.byteLength(c.text) <= 3, `cut at ${max}`);
  }
});

test('LineSplitter returns complete lines and keeps the partial last line for later', () => {
  const s = new LineSplitter();
  assert.deepEqual(s.push(Buffer.from('ab\ncd')), ['ab']);
  assert.deepEqual(s.push(Buffer.from('')), []);
  assert.deepEqual(s.push(Buffer.from('e\n\nf')), ['cde', '']);
  assert.deepEqual(s.push(Buffer.from('g')), []);
  assert.equal(s.rest(), 'fg');
  assert.equal(s.rest(), '');
  assert.deepEqual(s.push(Buffer.from('h\n')), ['h']);
});

test('LineSplitter keeps a UTF-8 character split across two chunks whole', () => {
  const s = new LineSplitter();
  const bytes = Buffer.from('hé\n');
  assert.deepEqual([...s.push(bytes.subarray(0, 2)), ...s.push(bytes.subarray(2))], ['hé']);
});

/** Resolves once `check` is true, polling every 5 ms; fails after `ms`. */
async function waitFor(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('followJournal delivers existing records, then records appended later, within a few poll intervals', async () => {
  const dir = freshDir();
  const j = new Journal({ dir, maxFileBytes: 1 << 20, maxFiles: 4, onDegraded: noDegrade });
  j.append(numbered(1));
  const got: JournalRecord[] = [];
  const stop = followJournal({ dir, intervalMs: 20, onRecord: (r) => got.push(r) });
  try {
    assert.deepEqual(got, [numbered(1)], 'the first poll runs at once');
    j.append(numbered(2));
    j.append(numbered(3));
    const t0 = Date.now();
    await waitFor(() => got.length >= 3, 1000, 'appended records');
    assert.ok(Date.now() - t0 < 400, 'within a few 20 ms intervals (with slack for a loaded machine)');
    assert.deepEqual(got, [numbered(1), numbered(2), numbered(3)]);
  } finally {
    stop();
  }
});

test('followJournal with fromEnd skips what was there and reports skipped lines', async () => {
  const dir = freshDir();
  const j = new Journal({ dir, maxFileBytes: 1 << 20, maxFiles: 4, onDegraded: noDegrade });
  j.append(numbered(1));
  const got: JournalRecord[] = [];
  const skipped: string[] = [];
  const stop = followJournal({ dir, intervalMs: 20, fromEnd: true, onRecord: (r) => got.push(r), onSkipped: (l) => skipped.push(l) });
  try {
    appendFileSync(join(dir, ACTIVE_FILE), 'garbage\n');
    j.append(numbered(2));
    await waitFor(() => got.length >= 1 && skipped.length >= 1, 1000, 'new record');
    assert.deepEqual(got, [numbered(2)]);
    assert.deepEqual(skipped, ['garbage']);
  } finally {
    stop();
  }
});

test('followJournal waits for a directory that does not exist yet', async () => {
  const dir = freshDir();
  const got: JournalRecord[] = [];
  const stop = followJournal({ dir, intervalMs: 20, onRecord: (r) => got.push(r) });
  try {
    new Journal({ dir, maxFileBytes: 1 << 20, maxFiles: 4, onDegraded: noDegrade }).append(numbered(1));
    await waitFor(() => got.length >= 1, 1000, 'first record');
    assert.deepEqual(got, [numbered(1)]);
  } finally {
    stop();
  }
});

test('followJournal reads a file to its end after it was renamed to an archive, without duplicates', async () => {
  const dir = freshDir();
  const line = Buffer.byteLength(JSON.stringify(numbered(0)) + '\n');
  const j = new Journal({ dir, maxFileBytes: line * 2 + 5, maxFiles: 8, onDegraded: noDegrade });
  j.append(numbered(1));
  const got: JournalRecord[] = [];
  const stop = followJournal({ dir, intervalMs: 20, onRecord: (r) => got.push(r) });
  try {
    // In one tick (no poll in between): record 2 lands in the file the follower is reading,
    // then record 3 rotates that file to an archive and starts a new active file.
    j.append(numbered(2));
    j.append(numbered(3));
    assert.equal(readdirSync(dir).filter((n) => ARCHIVE_PATTERN.test(n)).length, 1);
    await waitFor(() => got.length >= 3, 1000, 'records across rotation');
    // A manual rename with a record appended to the old file just before it.
    appendFileSync(join(dir, ACTIVE_FILE), JSON.stringify(numbered(4)) + '\n');
    renameSync(join(dir, ACTIVE_FILE), join(dir, `journal-${'9'.repeat(19)}-1.jsonl`));
    j.append(numbered(5));
    await waitFor(() => got.length >= 5, 1000, 'records after manual rename');
    await new Promise((r) => setTimeout(r, 60));
    assert.deepEqual(got, [1, 2, 3, 4, 5].map((n) => numbered(n)));
  } finally {
    stop();
  }
});

// Rotation prunes the oldest archive and then creates the new active file; on ext4 the new
// file usually gets the pruned archive's inode, which the follower still has an offset for.
test('followJournal delivers the records of an active file that reuses a pruned archive\'s inode', async () => {
  const dir = freshDir();
  const line = Buffer.byteLength(JSON.stringify(numbered(0)) + '\n');
  const j = new Journal({ dir, maxFileBytes: line * 2 + 5, maxFiles: 1, onDegraded: noDegrade });
  j.append(numbered(1));
  j.append(numbered(2));
  const firstIno = statSync(join(dir, ACTIVE_FILE)).ino;
  const got: JournalRecord[] = [];
  const stop = followJournal({ dir, intervalMs: 20, onRecord: (r) => got.push(r) });
  try {
    j.append(numbered(3)); // rotates: the first file becomes the only archive
    await waitFor(() => got.length >= 3, 1000, 'record 3');
    j.append(numbered(4));
    j.append(numbered(5)); // rotates again, pruning the first file, then creates a new active file
    j.append(numbered(6));
    const reused = statSync(join(dir, ACTIVE_FILE)).ino === firstIno;
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(got, [1, 2, 3, 4, 5, 6].map((n) => numbered(n)), `inode reused: ${reused}`);
  } finally {
    stop();
  }
});

test('InvocationIndex: an ended invocation is ok or error with its timing', () => {
  const idx = new InvocationIndex(() => assert.fail('no liveness probe for ended invocations'));
  idx.add(invBegin('a', '1000000000'));
  idx.add(invEnd('a', '1012500000', '12500000'));
  idx.add(invBegin('b', '2000000000'));
  idx.add(invEnd('b', '2001000000', '1000000', 'error'));
  const a = idx.get('a')!;
  assert.equal(a.status, 'ok');
  assert.equal(a.durationMs, 12.5);
  assert.equal(a.exitCode, 0);
  assert.equal(a.endNs, '1012500000');
  assert.equal(a.error, undefined);
  const b = idx.get('b')!;
  assert.equal(b.status, 'error');
  assert.deepEqual(b.error, { code: 7, msg: 'bad' });
  assert.equal(idx.get('nope'), undefined);
});

test('InvocationIndex: an invocation without an end is in-flight while its pid lives, abandoned after', () => {
  let alive = true;
  const probed: number[] = [];
  const idx = new InvocationIndex((pid) => { probed.push(pid); return alive; });
  idx.add(invBegin('a', '1000', 777));
  idx.add(stepBegin('a', 's0', 0, '1100'));
  idx.add(stepEnd('a', 's0', 0, '1200'));
  idx.add(stepBegin('a', 's1', 1, '1300'));
  let inv = idx.get('a')!;
  assert.equal(inv.status, 'in-flight');
  assert.deepEqual(probed, [777]);
  assert.deepEqual(inv.steps.map((s) => s.status), ['ok', 'in-flight']);
  assert.equal(inv.durationMs, null);
  alive = false;
  inv = idx.get('a')!;
  assert.equal(inv.status, 'abandoned');
  assert.deepEqual(inv.steps.map((s) => s.status), ['ok', 'abandoned']);
});

test('InvocationIndex: steps are sorted by start whatever order their records came in', () => {
  const idx = new InvocationIndex(() => true);
  idx.add(stepEnd('a', 's2', 2, '5000', 'error'));
  idx.add(stepBegin('a', 's2', 2, '3000'));
  idx.add(stepBegin('a', 's0', 0, '1000'));
  idx.add(invBegin('a', '500'));
  idx.add(stepBegin('a', 's1', 1, '2000'));
  idx.add(stepEnd('a', 's0', 0, '1500'));
  const inv = idx.get('a')!;
  assert.deepEqual(inv.steps.map((s) => s.spanId), ['s0', 's1', 's2']);
  assert.deepEqual(inv.steps.map((s) => s.status), ['ok', 'in-flight', 'error']);
  assert.deepEqual(inv.steps.map((s) => s.plugin), ['p0', 'p1', 'p2']);
  assert.equal(inv.steps[0]!.durationMs, 2.5);
  assert.equal(inv.steps[0]!.path, '/opt/cni/bin/p0');
});

test('InvocationIndex: list() is in start order and forget() drops an invocation', () => {
  const idx = new InvocationIndex(() => false);
  idx.add(invBegin('late', '3000000000000000000'));
  idx.add(invBegin('early', '1000000000000000000'));
  idx.add(invBegin('mid', '2000000000000000000'));
  assert.deepEqual(idx.list().map((i) => i.spanId), ['early', 'mid', 'late']);
  idx.forget('mid');
  assert.deepEqual(idx.list().map((i) => i.spanId), ['early', 'late']);
});

test('InvocationIndex keeps the begin record\'s fields and parent span', () => {
  const idx = new InvocationIndex(() => false);
  idx.add(invBegin('a', '1', 1, { parentSpanId: '00f067aa0ba902b7' }));
  const inv = idx.get('a')!;
  assert.equal(inv.parentSpanId, '00f067aa0ba902b7');
  assert.equal(inv.traceId, TRACE);
  assert.deepEqual(inv.pod, { namespace: 'default', name: 'web' });
  assert.equal(inv.network, 'net');
  assert.equal(inv.pid, 1);
});

test('rfc3339 formats epoch nanoseconds with all nine fraction digits', () => {
  // 1795851734 s after the epoch is Sat Nov 28 07:42:14 UTC 2026 (checked with `date -u -d @1795851734`).
  assert.equal(rfc3339('1795851734423916188'), '2026-11-28T07:42:14.423916188Z');
  assert.equal(rfc3339('0'), '1970-01-01T00:00:00.000000000Z');
  assert.equal(rfc3339('1000000001'), '1970-01-01T00:00:01.000000001Z');
  assert.equal(rfc3339('1795851734000000000'), '2026-11-28T07:42:14.000000000Z');
});

test('nsToMs gives fractional milliseconds at microsecond precision', () => {
  assert.equal(nsToMs('0'), 0);
  assert.equal(nsToMs('1500000'), 1.5);
  assert.equal(nsToMs('1234567891'), 1234.567);
  assert.equal(nsToMs('999'), 0);
  assert.equal(nsToMs('40000000000'), 40000);
});

test('processAlive: this process lives, an exited one does not, one of another boot never does, one we may not signal does', () => {
  const exited = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  const gone = Number(exited.stdout);
  assert.equal(processAlive(process.pid), true);
  assert.equal(processAlive(process.pid, bootId()), true, 'this boot: the pid decides');
  assert.equal(processAlive(gone), false, 'an exited process');
  assert.equal(processAlive(process.pid, 'another-boot-id'), false, 'a record from an earlier boot names a process that is gone');
  assert.equal(processAlive(process.pid, ''), true, 'no boot id recorded: the pid decides');
  if (process.geteuid?.() !== 0) assert.equal(processAlive(1), true, 'EPERM: it exists, we may not signal it');
  else {
    // As root every signal is allowed: ask as an unprivileged uid (nobody), a reader such as `tail` run by a user.
    const module = new URL('../../src/journal/invocations.ts', import.meta.url).pathname;
    // Loaded as root, then the child drops to nobody: the module need not be readable by nobody.
    const script = `import { processAlive } from ${JSON.stringify(module)}; process.setgid(65534); process.setuid(65534); process.stdout.write(String(processAlive(1)));`;
    const asUser = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(asUser.stdout, 'true', `EPERM: pid 1 exists, an unprivileged reader may not signal it (${asUser.stderr})`);
  }
  // The index's default liveness is processAlive with the record's boot id.
  const index = new InvocationIndex();
  index.add({ rec: 'invocation.begin', v: 1, traceId: 'a'.repeat(32), spanId: '1'.repeat(16), traceFlags: '01', command: 'ADD', containerId: 'c', netns: '', ifname: 'eth0', network: 'n', cniVersion: '1.0.0', pod: {}, startNs: '1', env: {}, stdin: {}, delegates: [], pid: process.pid, bootId: 'another-boot-id' });
  assert.equal(index.get('1'.repeat(16))!.status, 'abandoned');
});

test('rule: the boot id recorded is the kernel\'s, a bare UUID without its newline', () => {
  const kernel = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8');
  assert.equal(bootId(), kernel.trim(), 'the kernel\'s boot id');
  assert.match(bootId(), /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'no newline: it is compared with the id in records');
});

test('steps that start at the same instant are ordered by their index', () => {
  const index = new InvocationIndex(() => false);
  const key = { v: 1 as const, traceId: 'a'.repeat(32), invocationSpanId: '2'.repeat(16), plugin: 'p', command: 'ADD' as const };
  for (const i of [2, 0, 1]) index.add({ rec: 'step.begin', ...key, spanId: `${i}`.repeat(16), index: i, path: null, startNs: '5', stdin: {} });
  assert.deepEqual(index.get('2'.repeat(16))!.steps.map((s) => s.index), [0, 1, 2]);
});

// Rules of invocation assembly that Stryker's survivors showed untested (issue 22).
const INV = 'a'.repeat(16);

test('rule: the index\'s default liveness asks the wrapper\'s pid in this boot: a live wrapper is in flight', () => {
  const index = new InvocationIndex();
  index.add(invBegin(INV, '100', process.pid, { bootId: bootId() }));
  assert.equal(index.get(INV)!.status, 'in-flight', 'this process, this boot: still running');
});

test('rule: an invocation seen only through its steps has no trace id, no command, no env and cannot be alive', () => {
  const index = new InvocationIndex(() => true);
  index.add(stepBegin(INV, 'b'.repeat(16), 0, '100'));
  const inv = index.get(INV)!;
  assert.equal(inv.traceId, '', 'no begin or end: no trace id');
  assert.equal(inv.command, '', 'no begin or end: no command');
  assert.deepEqual(inv.env, {}, 'no begin: an empty env');
  assert.equal(inv.status, 'abandoned', 'without a pid nothing says it runs');
});

test('rule: an invocation\'s env is the one its begin recorded', () => {
  const index = new InvocationIndex(() => false);
  index.add(invBegin(INV, '100', 1, { env: { CNI_COMMAND: 'ADD', CNI_IFNAME: 'eth0' } }));
  assert.deepEqual(index.get(INV)!.env, { CNI_COMMAND: 'ADD', CNI_IFNAME: 'eth0' });
});

test('rule: a step begun and not yet ended takes its command from its begin; a nested call still running in a live invocation is in flight', () => {
  const index = new InvocationIndex(() => true);
  index.add(invBegin(INV, '100'));
  index.add(stepBegin(INV, 'b'.repeat(16), 0, '110'));
  index.add({ ...stepBegin(INV, 'c'.repeat(16), 0, '120'), plugin: 'host-local', parentSpanId: 'b'.repeat(16) });
  const steps = index.get(INV)!.steps;
  assert.deepEqual(steps.map((s) => [s.command, s.status]), [['ADD', 'in-flight'], ['ADD', 'in-flight']], 'both still running, with the begin\'s command');
});

test('rule: a nested call whose caller is unknown stays at depth 1 beside a known nesting', () => {
  const index = new InvocationIndex(() => false);
  index.add(invBegin(INV, '100'));
  index.add(stepBegin(INV, 'b'.repeat(16), 0, '110'));
  index.add({ ...stepBegin(INV, 'c'.repeat(16), 0, '120'), parentSpanId: 'b'.repeat(16) });
  index.add({ ...stepBegin(INV, 'd'.repeat(16), 0, '130'), parentSpanId: 'f'.repeat(16) });
  assert.deepEqual(index.get(INV)!.steps.map((s) => [s.spanId[0], s.depth]), [['b', 0], ['c', 1], ['d', 1]], 'the orphan keeps depth 1');
});

test('rule: steps are in start order whatever their index; steps not yet begun come last, by index', () => {
  const index = new InvocationIndex(() => false);
  index.add(invBegin(INV, '100'));
  index.add(stepEnd(INV, '3'.repeat(16), 3, '400'));
  index.add(stepEnd(INV, '2'.repeat(16), 2, '400'));
  index.add(stepBegin(INV, '1'.repeat(16), 1, '150'));
  index.add(stepBegin(INV, '0'.repeat(16), 0, '200'));
  assert.deepEqual(index.get(INV)!.steps.map((s) => s.index), [1, 0, 2, 3], 'started earlier first; unstarted last by index');
});

// Rules of the line reader that Stryker's survivors showed untested (issue 22).

test('rule: a line longer than MAX_LINE_BYTES is dropped as it streams by, counted as garbage, and the next line is whole', () => {
  const split = new LineSplitter(0);
  const chunk = Buffer.alloc(1 << 20, 0x61);
  const chunksInLine = (MAX_LINE_BYTES >> 20) + 1;
  for (let i = 0; i < chunksInLine; i++) assert.deepEqual(split.lines(chunk), [], 'no line yet');
  const [long, next] = split.lines(Buffer.from('tail\n{"x":1}\n'));
  assert.deepEqual([long!.text, long!.at, long!.bytes, long!.overlong], ['', 0, (chunksInLine << 20) + 5, true], 'whole now: dropped, with its length and "\\n"');
  assert.equal(isGarbage(long!), true, 'an overlong line counts as skipped');
  assert.deepEqual([next!.text, next!.at, next!.overlong], ['{"x":1}', (chunksInLine << 20) + 5, undefined], 'the next line is read as usual');
  assert.equal(split.restLine(), null, 'nothing left over');
  assert.equal(isGarbage({ text: '  \t', at: 0, bytes: 4, whole: true }), false, 'a blank line is not garbage');
  const exact = new LineSplitter(0);
  for (let i = 0; i < MAX_LINE_BYTES >> 20; i++) exact.lines(chunk);
  const [over] = exact.lines(Buffer.from('tail\n'));
  assert.deepEqual([over!.text, over!.bytes, over!.overlong], ['', MAX_LINE_BYTES + 5, true], 'exactly MAX_LINE_BYTES held, then the end of the line pushes it over');
  const ending = new LineSplitter(0);
  for (let i = 0; i < chunksInLine; i++) ending.lines(chunk);
  const rest = ending.restLine()!;
  assert.deepEqual([rest.text, rest.bytes, rest.whole, rest.overlong], ['', chunksInLine << 20, false, true], 'the stream ends in an overlong line: no text, its size');
  assert.equal(ending.consumed, 0, 'an unfinished line is not consumed');
});

test('rule: read backwards, a line longer than MAX_LINE_BYTES comes out dropped too, between whole ones', () => {
  const dir = freshDir();
  mkdirSync(dir);
  const path = join(dir, 'long.jsonl');
  writeFileSync(path, '{"a":1}\n');
  appendFileSync(path, Buffer.alloc(MAX_LINE_BYTES + 10, 0x62));
  appendFileSync(path, '\n{"b":2}\n');
  const file = openJournalFile(path)!;
  try {
    const lines = [...linesBackward(file.fd, file.st.size)];
    assert.deepEqual(lines.map((l) => [l.text, l.at, l.bytes, l.overlong === true]), [
      ['{"b":2}', MAX_LINE_BYTES + 19, 8, false],
      ['', 8, MAX_LINE_BYTES + 11, true],
      ['{"a":1}', 0, 8, false],
    ]);
  } finally {
    closeSync(file.fd);
  }
  rmSync(dir, { recursive: true });
});

test('rule: chunks read only up to the size they were given, and stop when the file is shorter', () => {
  const dir = freshDir();
  mkdirSync(dir);
  const path = join(dir, 'c.jsonl');
  writeFileSync(path, 'x'.repeat(100));
  const file = openJournalFile(path)!;
  try {
    assert.equal(Buffer.concat([...chunks(file.fd, 0, 10, 4)].map((c) => Buffer.from(c))).toString(), 'x'.repeat(10), 'to 10, in chunks of 4');
    assert.equal(Buffer.concat([...chunks(file.fd, 0, 10, 64)].map((c) => Buffer.from(c))).length, 10, 'to 10, with chunks larger than that');
    assert.equal(Buffer.concat([...chunks(file.fd, 90, 1000, 64)].map((c) => Buffer.from(c))).length, 10, 'cut short: what is there, then the end');
  } finally {
    closeSync(file.fd);
  }
});

test('rule: a file\'s first line is found however long it is, and a file without a whole line has none', () => {
  const dir = freshDir();
  mkdirSync(dir);
  const long = join(dir, 'long.jsonl');
  writeFileSync(long, `${'y'.repeat(10_000)}\nnext\n`);
  assert.equal(firstLine(long)?.toString(), 'y'.repeat(10_000), 'longer than the first 4 KiB read');
  const partial = join(dir, 'partial.jsonl');
  writeFileSync(partial, 'z'.repeat(5_000));
  assert.equal(firstLine(partial), null, 'no "\\n" yet');
  assert.equal(firstLine(join(dir, 'absent.jsonl')), null);
});

test('rule: read backwards, a file gives exactly its forward lines in reverse, at every chunk size', () => {
  const dir = freshDir();
  mkdirSync(dir);
  const contents = ['ab\ncde\n\nf', 'ab\ncde\n\nf\n', '\nx\n', 'one line', '\n\n', '', 'é€\n😀x\n'];
  contents.forEach((text, n) => {
    const path = join(dir, `f${n}.jsonl`);
    writeFileSync(path, text);
    const file = openJournalFile(path)!;
    try {
      const size = file.st.size;
      const reversed = [...linesForward(file.fd, 0, size)].reverse();
      for (let chunk = 1; chunk <= size + 2; chunk++) {
        assert.deepEqual([...linesBackward(file.fd, size, chunk)], reversed, `${JSON.stringify(text)} in chunks of ${chunk}`);
      }
      assert.deepEqual([...linesBackward(file.fd, size + 50)], [], `${JSON.stringify(text)}: a file shorter than the size given (cut under us) gives nothing`);
    } finally {
      closeSync(file.fd);
    }
  });
  const open = (): number => readdirSync('/proc/self/fd').length;
  const before = open();
  for (let i = 0; i < 5; i++) firstLine(join(dir, 'f0.jsonl'));
  assert.equal(open(), before, 'firstLine closes what it opened');
});

// Rules of bounding records that Stryker's survivors showed untested (issue 22).

test('rule: a capture of part of a stream is truncated, and only the cut\'s own broken character is dropped', () => {
  assert.deepEqual(capture(Buffer.from('abc'), 10, 100), { text: 'abc', bytes: 100, truncated: true }, 'fewer bytes held than were written');
  const buf = Buffer.concat([Buffer.from('a\uFFFDb'), Buffer.from('é')]);
  assert.deepEqual(capture(buf, buf.length - 1, buf.length), { text: 'a\uFFFDb', bytes: buf.length, truncated: true }, 'a U+FFFD in the stream stays');
});

test('rule: fitRecord leaves a record that fits as it is, halves captures only until the line fits, and keeps a config while that suffices', () => {
  const big = { ...stepEnd(INV, 'b'.repeat(16), 0, '200'), stdout: { text: 'o'.repeat(4000), bytes: 4000, truncated: false } };
  const line = (r: object): number => Buffer.byteLength(JSON.stringify(r)) + 1;
  assert.equal(fitRecord(big, line(big)), big, 'exactly at the limit: untouched');
  const once = fitRecord(big, line(big) - 1) as StepEnd;
  assert.ok(once.stdout.truncated && once.stdout.text.length === 2000, 'one halving');
  assert.deepEqual(fitRecord(big, line(once)), once, 'a record halved to exactly the limit is not halved again');
  const withConfig = { ...stepBegin(INV, 'c'.repeat(16), 0, '100'), stdin: { conf: 'x'.repeat(3000) } };
  assert.deepEqual(fitRecord({ ...withConfig }, line(withConfig) + 10), withConfig, 'a begin that fits keeps its config');
  const emptyCaptures = { ...stepEnd(INV, 'd'.repeat(16), 0, '200'), stdin: { conf: 'y'.repeat(3000) } } as unknown as StepEnd;
  const fitted = fitRecord(emptyCaptures, 1000) as unknown as { stdin: string };
  assert.match(fitted.stdin, /^\(not kept: \d+ bytes of JSON/, 'empty captures cannot shrink: the config goes');
  const end = invEnd(INV, '300', '200');
  assert.doesNotThrow(() => fitRecord(end, 50), 'a record without a config and larger than any limit: left larger, no throw');
});

// Rules of the streaming folds that Stryker's survivors showed untested (issue 22): the stale
// sweep runs every 4,096 records, so these feed a few thousand hand-built records.
const MIN_NS = 60_000_000_000n;
const id16 = (n: number): string => n.toString(16).padStart(16, '0');
/** `n` whole invocations (begin, end) at `fromNs`, 1 ns apart, in write order. */
function wholeCalls(first: number, n: number, fromNs: bigint): JournalRecord[] {
  const out: JournalRecord[] = [];
  for (let i = 0; i < n; i++) {
    const t = fromNs + BigInt(i * 2);
    out.push(invBegin(id16(first + i), String(t), 1), invEnd(id16(first + i), String(t + 1n), '1'));
  }
  return out;
}

test('rule: folding forward, an invocation silent for 10 minutes of journal time is handed on as it stands; one silent for less is kept; a record after an end is no new invocation', () => {
  const stale = id16(0xfa1);
  const early = id16(0xfa2);
  const recent = id16(0xfa3);
  const before = wholeCalls(1, 2041, 11n * MIN_NS);
  const newestAtSweep = 11n * MIN_NS + BigInt(2041 * 2 - 1);
  const records: JournalRecord[] = [
    ...wholeCalls(0x20000, 5, 0n), // ended long before the sweep: not handed on again
    invBegin(stale, String(newestAtSweep - 10n * MIN_NS), 1), // exactly 10 minutes older than the newest at the sweep
    invBegin(recent, String(newestAtSweep - 10n * MIN_NS + 1n), 1), // 1 ns less
    { ...stepBegin(recent, id16(0xb1), 0, '500') }, // an older record of it, read later: its newest time stays
    ...before,
    invBegin(early, '2000', 1), // record 4,096: older than the newest, when the sweep looks
    ...wholeCalls(5000, 10, 12n * MIN_NS),
    { ...stepEnd(id16(1), id16(0xb2), 0, String(13n * MIN_NS)) }, // a record of an invocation already ended
  ];
  assert.equal(records.indexOf(records.find((r) => r.rec === 'invocation.begin' && r.spanId === early)!), 4095);
  const done: Invocation[] = [];
  const left = foldInvocations(records, (inv) => done.push(inv), { alive: () => false });
  const ids = done.map((inv) => inv.spanId);
  assert.equal(new Set(ids).size, ids.length, 'each invocation handed on once');
  assert.ok(ids.includes(stale) && ids.includes(early), 'silent for 10 minutes when the sweep came: handed on');
  assert.equal(done.find((inv) => inv.spanId === stale)!.status, 'abandoned');
  assert.ok(ids.indexOf(stale) < ids.indexOf(id16(5000)), 'handed on at the sweep, before what follows it');
  assert.deepEqual(left.list().map((inv) => inv.spanId), [recent], 'silent for less: still open');
  assert.equal(ids.length, 5 + 2041 + 10 + 2, 'the late record of an ended invocation made no new one');
});

test('rule: folding newest first, an invocation whose begin never comes is handed on once it is 10 minutes older than where reading is, and one whose end was read waits for its begin', () => {
  const orphan = id16(0xfc1);
  const calls = wholeCalls(1, 3000, 6n * MIN_NS).reverse();
  const atSweep = recordTimeNs(calls[4094]!); // the 4,096th record read
  const newestFirst: JournalRecord[] = [{ ...stepEnd(orphan, id16(0xd1), 0, String(atSweep + 10n * MIN_NS)) }, ...calls];
  const order = [...invocationsNewestFirst(newestFirst, { alive: () => false })];
  const at = order.findIndex((g) => g.inv.spanId === orphan);
  assert.ok(at >= 0 && at < order.length - 1, `handed on by the sweep, not only at the end (at ${at} of ${order.length})`);
  assert.equal(order.filter((g) => g.inv.spanId === orphan).length, 1, 'handed on once');
  const others = order.filter((g) => g.inv.spanId !== orphan);
  assert.equal(others.length, 3000);
  assert.ok(others.every((g) => g.inv.startNs !== null && g.inv.status === 'ok' && g.records.length === 2), 'each other invocation came whole, with its begin');
});

// Rules of the writer that Stryker's survivors showed untested (issue 22). Root only where
// files change owner (chown); the unit tests run as root on CI.

function writerIn(dir: string, maxFileBytes = 1 << 20, maxFiles = 4): { journal: Journal; degraded: string[]; repaired: string[] } {
  const degraded: string[] = [];
  const repaired: string[] = [];
  return { journal: new Journal({ dir, maxFileBytes, maxFiles, onDegraded: (r) => degraded.push(r), onRepaired: (r) => repaired.push(r) }), degraded, repaired };
}

test('rule: an unsafe journal directory or active file is refused before anything is written, reported once with its reason, and the journal stays off', { skip: process.geteuid?.() !== 0 && 'needs root (chown, mknod)' }, () => {
  const base = freshDir();
  mkdirSync(base, { mode: 0o700 });
  const cases: Array<[string, () => string, (dir: string) => string]> = [
    ['a symlink', () => { mkdirSync(join(base, 'real'), { mode: 0o700 }); symlinkSync(join(base, 'real'), join(base, 'link')); return join(base, 'link'); }, (d) => `${d} is a symlink: refused (the journal directory must be a real directory)`],
    ['a file', () => { writeFileSync(join(base, 'file'), ''); return join(base, 'file'); }, (d) => `${d} is not a directory: refused`],
    ['another owner\'s directory', () => { mkdirSync(join(base, 'theirs'), { mode: 0o700 }); chownSync(join(base, 'theirs'), 65534, 65534); return join(base, 'theirs'); }, (d) => `${d} is owned by uid 65534, not by this process (uid 0): refused`],
    ['a device as journal.jsonl', () => { mkdirSync(join(base, 'dev'), { mode: 0o700 }); spawnSync('mknod', [join(base, 'dev', ACTIVE_FILE), 'c', '1', '3']); return join(base, 'dev'); }, (d) => `${join(d, ACTIVE_FILE)} is not a regular file: refused`],
    ['a hard-linked journal.jsonl', () => { mkdirSync(join(base, 'hard'), { mode: 0o700 }); writeFileSync(join(base, 'hard', ACTIVE_FILE), '', { mode: 0o600 }); linkSync(join(base, 'hard', ACTIVE_FILE), join(base, 'other-name')); return join(base, 'hard'); }, (d) => `${join(d, ACTIVE_FILE)} has 2 links: refused`],
    ['another owner\'s journal.jsonl', () => { mkdirSync(join(base, 'own'), { mode: 0o700 }); writeFileSync(join(base, 'own', ACTIVE_FILE), '', { mode: 0o600 }); chownSync(join(base, 'own', ACTIVE_FILE), 65534, 65534); return join(base, 'own'); }, (d) => `${join(d, ACTIVE_FILE)} is owned by uid 65534, not by this process (uid 0): refused`],
  ];
  for (const [what, make, why] of cases) {
    const dir = make();
    const { journal, degraded } = writerIn(dir);
    assert.equal(journal.append(numbered(1)), false, what);
    assert.equal(journal.append(numbered(2)), false, `${what}: still off`);
    assert.deepEqual(degraded, [`cannot write journal in ${dir}: EUNSAFE ${why(dir)}`], `${what}: reported once, with the reason`);
    assert.equal(journal.isDegraded, true);
  }
  assert.equal(readFileSync(join(base, 'own', ACTIVE_FILE), 'utf8'), '', 'nothing written into a stranger\'s file');
  const off = writerIn(join(base, 'fine'));
  off.journal.degrade('disk full');
  off.journal.degrade('again');
  assert.equal(off.journal.append(numbered(3)), false, 'turned off: no more writes, even where one would work');
  assert.deepEqual(off.degraded, ['disk full'], 'reported once');
  assert.deepEqual(readdirSync(join(base, 'real')), [], 'nothing written through the symlink');
});

test('rule: a too-open journal directory or active file is repaired (0700, 0600) and said so; a missing directory is made 0700 under 0755 parents', () => {
  const base = freshDir();
  mkdirSync(base, { mode: 0o700 });
  const open = join(base, 'open');
  mkdirSync(open);
  chmodSync(open, 0o755);
  writeFileSync(join(open, ACTIVE_FILE), '');
  chmodSync(join(open, ACTIVE_FILE), 0o644);
  const { journal, repaired } = writerIn(open);
  assert.equal(journal.append(numbered(1)), true);
  assert.deepEqual(repaired, [`${open} was mode 755; set to 700`, `${join(open, ACTIVE_FILE)} was mode 644; set to 600`]);
  assert.deepEqual([statSync(open).mode & 0o777, statSync(join(open, ACTIVE_FILE)).mode & 0o777], [0o700, 0o600]);
  const deep = join(base, 'a', 'b', 'journal');
  const old = process.umask(0);
  try {
    const made = writerIn(deep);
    assert.equal(made.journal.append(numbered(1)), true);
    assert.deepEqual(made.repaired, [], 'made 0700: nothing to repair');
    const other = writerIn(join(base, 'a', 'b', 'sibling'));
    assert.equal(other.journal.append(numbered(1)), true);
    assert.deepEqual(other.repaired, [], 'parents there already: made 0700 all the same');
  } finally {
    process.umask(old);
  }
  assert.deepEqual([statSync(join(base, 'a')).mode & 0o777, statSync(deep).mode & 0o777], [0o755, 0o700]);
});

test('rule: the active file rotates only when the next record would pass the limit, never when empty, and only our own archives are counted and pruned', { skip: process.geteuid?.() !== 0 && 'needs root (chown, mknod)' }, () => {
  const dir = freshDir();
  const line = Buffer.byteLength(JSON.stringify(numbered(1))) + 1;
  const { journal } = writerIn(dir, 2 * line, 2);
  journal.append(numbered(1));
  journal.append(numbered(2));
  assert.deepEqual(readdirSync(dir), [ACTIVE_FILE], 'exactly at the limit: no rotation');
  const tiny = freshDir();
  writerIn(tiny, 10).journal.append(numbered(3));
  assert.deepEqual(readdirSync(tiny), [ACTIVE_FILE], 'a record larger than the limit in an empty file: written, the empty file not rotated');
  // Planted archive names: a link, a directory and another owner's file, all "older" than ours.
  symlinkSync('/etc/passwd', join(dir, 'journal-0000000000000000001-1.jsonl'));
  mkdirSync(join(dir, 'journal-0000000000000000002-1.jsonl'));
  writeFileSync(join(dir, 'journal-0000000000000000003-1.jsonl'), 'theirs');
  chownSync(join(dir, 'journal-0000000000000000003-1.jsonl'), 65534, 65534);
  writeFileSync(join(dir, 'journal-0000000000000000004-1.jsonl.bak'), '');
  const fds = (): number => readdirSync('/proc/self/fd').length;
  const before = fds();
  for (let i = 10; i < 20; i++) journal.append(numbered(i));
  assert.equal(fds(), before, 'no descriptor left open across rotations');
  const archives = readdirSync(dir).filter((f) => ARCHIVE_PATTERN.test(f)).sort();
  assert.deepEqual(archives.slice(0, 3), ['journal-0000000000000000001-1.jsonl', 'journal-0000000000000000002-1.jsonl', 'journal-0000000000000000003-1.jsonl'], 'planted names neither deleted nor followed');
  assert.equal(archives.length, 3 + 2, 'two archives of our own kept, the planted ones not counted');
  assert.ok(readdirSync(dir).includes('journal-0000000000000000004-1.jsonl.bak'), 'not an archive name');
  assert.equal(ARCHIVE_PATTERN.test('old-journal-1-1.jsonl') || ARCHIVE_PATTERN.test('journal-1-1.jsonl.gz'), false, 'the archive name is the whole name');
});

test('rule: a record is read only with the exact shape the writer writes: whole ids, each status word, typed fields', () => {
  const ok = (r: object): boolean => asRecord(JSON.parse(JSON.stringify(r))) !== null;
  const b = invBegin(INV, '100');
  const e = stepEnd(INV, 'b'.repeat(16), 0, '200');
  assert.equal(ok(b) && ok(e), true, 'the writer\'s records are read');
  const refused: Array<[string, object]> = [
    ['a trace id with a prefix', { ...b, traceId: `x${TRACE}` }], ['a trace id with a suffix', { ...b, traceId: `${TRACE}x` }],
    ['a span id with a prefix', { ...b, spanId: `x${INV}` }], ['a span id with a suffix', { ...b, spanId: `${INV}x` }],
    ['bytes not a number', { ...e, stdout: { text: '', bytes: '0', truncated: false } }], ['negative bytes', { ...e, stdout: { text: '', bytes: -1, truncated: false } }],
    ['truncated not a boolean', { ...e, stdout: { text: '', bytes: 0, truncated: 'no' } }],
    ['a status outside the words', { ...e, status: 'maybe' }], ['a status not a string', { ...e, status: ['ok'] }],
    ['an error without its code', { ...e, status: 'error', error: { msg: 'x' } }],
    ['delegates not a list', { ...b, delegates: 'bridge' }], ['a delegate not a string', { ...b, delegates: ['bridge', 1] }],
    ['no stdin at all', { ...b, stdin: undefined }],
  ];
  for (const [what, r] of refused) assert.equal(ok(r), false, what);
  for (const status of ['ok', 'error', 'skipped']) assert.equal(ok({ ...e, status }), true, `step status ${status}`);
  assert.equal(ok({ ...invEnd(INV, '300', '200', 'error') }), true, 'invocation status error');
  let deep: unknown = [null, 'x'];
  for (let i = 0; i < 600; i++) deep = [deep, null];
  assert.equal(ok({ ...b, stdin: deep as object }), false, 'nested past MAX_DEPTH, through lists with nulls in them');
});

// Rules of the readers that Stryker's survivors showed untested (issue 22).

/** A journal of `files` files with two whole invocations each (rotation at every third record). */
function rotatedJournal(files: number): string {
  const dir = freshDir();
  const sample = [invBegin(id16(1), '1'), invEnd(id16(1), '2', '1')];
  const perFile = sample.reduce((n, r) => n + Buffer.byteLength(JSON.stringify(r)) + 1, 0) * 2 + 60;
  const journal = new Journal({ dir, maxFileBytes: perFile, maxFiles: 100, onDegraded: noDegrade });
  for (let i = 0; i < files * 2; i++) {
    journal.append(invBegin(id16(0x100 + i), String(1000 + i * 10)));
    journal.append(invEnd(id16(0x100 + i), String(1000 + i * 10 + 5), '5'));
  }
  return dir;
}

test('rule: the tail of a journal is read from just enough of the newest files to hold the invocations asked for', () => {
  const dir = rotatedJournal(4);
  assert.equal(readdirSync(dir).length, 4, 'four files of two invocations');
  const seen: string[] = [];
  readJournalTail(dir, 3, (r) => { if (r.rec === 'invocation.begin') seen.push(r.spanId); });
  assert.deepEqual(seen, [4, 5, 6, 7].map((i) => id16(0x100 + i)), 'three asked: the two newest files (four begins)');
  const two: string[] = [];
  readJournalTail(dir, 2, (r) => { if (r.rec === 'invocation.begin') two.push(r.spanId); });
  assert.deepEqual(two, [6, 7].map((i) => id16(0x100 + i)), 'two asked: the newest file holds them');
});

test('rule: every reader closes each file it opened, read to the end or stopped early', () => {
  const dir = rotatedJournal(3);
  const open = (): number => readdirSync('/proc/self/fd').length;
  const before = open();
  readJournal(dir);
  for (const _ of journalRecords(dir)) break;
  for (const _ of recordsNewestFirst(dir)) break;
  assert.equal([...recordsNewestFirst(dir)].length, 12);
  readJournalTail(dir, 1, () => {});
  assert.equal(open(), before, 'no descriptor left open');
});

test('rule: a repair needs no listener, and an active file that cannot be opened is reported with the open\'s own error', () => {
  const base = freshDir();
  mkdirSync(base, { mode: 0o700 });
  const open = join(base, 'open');
  mkdirSync(open);
  chmodSync(open, 0o755);
  writeFileSync(join(open, ACTIVE_FILE), '');
  chmodSync(join(open, ACTIVE_FILE), 0o644);
  const quiet = new Journal({ dir: open, maxFileBytes: 1 << 20, maxFiles: 4, onDegraded: noDegrade });
  assert.equal(quiet.append(numbered(1)), true, 'repaired without anyone told');
  const dirAsFile = join(base, 'dir-as-file');
  mkdirSync(join(dirAsFile, ACTIVE_FILE), { recursive: true, mode: 0o700 });
  chmodSync(dirAsFile, 0o700);
  const { journal, degraded } = writerIn(dirAsFile);
  assert.equal(journal.append(numbered(2)), false);
  assert.match(degraded[0] ?? '', /^cannot write journal in .*: EISDIR EISDIR: illegal operation on a directory/, 'the open\'s error, not one from closing nothing');
});
