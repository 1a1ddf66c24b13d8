/**
 * Rules of the journal's readers (reader.ts) that Stryker's survivors showed untested (issue
 * 22): which files a read from a time skips, what readJournalTail counts, a refused file among
 * newest-first reads, and a follower's blank and torn lines, descriptors and new files.
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { benchJournal, writeInvocation } from '../../bench/synthetic-journal.ts';
import type { JournalRecord } from '../../src/journal/record.ts';
import { filesFrom, followJournal, readJournalTail, recordsNewestFirst, SINCE_MARGIN_NS } from '../../src/journal/reader.ts';

const root = mkdtempSync(join(tmpdir(), 'cnitrace-unit-reader-'));
after(() => rmSync(root, { recursive: true, force: true }));

let seq = 0;
function freshDir(): string {
  const dir = join(root, `d${seq++}`);
  mkdirSync(dir, { mode: 0o700 });
  return dir;
}

/** The lines of one real invocation (begin, two steps, end), as the writer wrote them. */
const INVOCATION = ((): string[] => {
  const dir = freshDir();
  writeInvocation(benchJournal(dir), 0);
  return readFileSync(join(dir, 'journal.jsonl'), 'utf8').trimEnd().split('\n');
})();

/** The invocation's begin line, started at `startNs`. */
function beginAt(startNs: bigint): string {
  return JSON.stringify({ ...JSON.parse(INVOCATION[0]!), startNs: String(startNs) });
}

async function until(done: () => boolean): Promise<void> {
  for (let waited = 0; !done() && waited < 5000; waited += 20) await new Promise((r) => setTimeout(r, 20));
}

test('rule: a read from a time skips the files before the newest one whose first record is older than the time less the margin, and no file on an unreadable first line', () => {
  const dir = freshDir();
  const since = 1_000_000_000_000_000_000n;
  const archive = join(dir, 'journal-0000000000000000001-1.jsonl');
  const active = join(dir, 'journal.jsonl');
  writeFileSync(archive, `${beginAt(1n)}\n`);
  writeFileSync(active, `${beginAt(since - SINCE_MARGIN_NS)}\n`);
  assert.deepEqual(filesFrom([archive, active], since), [archive, active], 'begun exactly at the margin: the file before may still hold later records');
  writeFileSync(active, `${beginAt(since - SINCE_MARGIN_NS - 1n)}\n`);
  assert.deepEqual(filesFrom([archive, active], since), [active], 'begun before it: the file before is skipped');
  writeFileSync(active, beginAt(since - SINCE_MARGIN_NS - 1n));
  assert.deepEqual(filesFrom([archive, active], since), [archive, active], 'no whole first line yet: nothing is skipped');
});

test('rule: readJournalTail hands on records only and returns how many lines it skipped', () => {
  const dir = freshDir();
  writeFileSync(join(dir, 'journal.jsonl'), `${INVOCATION.join('\n')}\n`);
  const got: JournalRecord[] = [];
  assert.equal(readJournalTail(dir, 1, (r) => got.push(r)), 0, 'none skipped');
  assert.equal(got.length, INVOCATION.length);
  appendFileSync(join(dir, 'journal.jsonl'), '{"rec":"invocation.be\n');
  got.length = 0;
  assert.equal(readJournalTail(dir, 1, (r) => got.push(r)), 1, 'the torn line');
  assert.deepEqual(got.map((r) => r.rec), INVOCATION.map((l) => JSON.parse(l).rec), 'records only: nothing for the torn line');
});

test('rule: newest first, a refused file among the journal\'s is passed over', () => {
  const dir = freshDir();
  writeFileSync(join(dir, 'journal.jsonl'), `${INVOCATION.join('\n')}\n`);
  mkdirSync(join(dir, 'journal-0000000000000000001-1.jsonl')); // not a regular file: refused
  assert.equal([...recordsNewestFirst(dir)].length, INVOCATION.length);
});

test('rule: a follower skips blank lines quietly, needs no listener for torn ones, and closes every file it reads', () => {
  const dir = freshDir();
  writeFileSync(join(dir, 'journal-0000000000000000001-1.jsonl'), `${INVOCATION[0]}\n`);
  writeFileSync(join(dir, 'journal.jsonl'), `\n  \n${INVOCATION[1]}\n`);
  const skipped: string[] = [];
  const records: JournalRecord[] = [];
  const fds = readdirSync('/proc/self/fd').length;
  followJournal({ dir, intervalMs: 60_000, onRecord: (r) => records.push(r), onSkipped: (l) => skipped.push(l) })();
  assert.equal(readdirSync('/proc/self/fd').length, fds, 'both files closed after the poll');
  assert.deepEqual([records.length, skipped], [2, []], 'blank lines are not skipped records');

  writeFileSync(join(dir, 'journal.jsonl'), `{"rec":"torn\n${INVOCATION[1]}\n`);
  records.length = 0;
  followJournal({ dir, intervalMs: 60_000, onRecord: (r) => records.push(r) })();
  assert.equal(records.length, 2, 'the record after a torn line, with no one told of the torn one');
});

test('rule: following from the end, a file that appears later is read from its start', async () => {
  const dir = freshDir();
  writeFileSync(join(dir, 'journal.jsonl'), `${INVOCATION[0]}\n`);
  const records: JournalRecord[] = [];
  const stop = followJournal({ dir, intervalMs: 20, fromEnd: true, onRecord: (r) => records.push(r) });
  try {
    assert.equal(records.length, 0, 'what was there is not read');
    writeFileSync(join(dir, 'journal-0000000000000000001-1.jsonl'), `${INVOCATION[1]}\n${INVOCATION[2]}\n`);
    await until(() => records.length >= 2);
    assert.equal(records.length, 2, 'the new file, whole');
  } finally {
    stop();
  }
});

test('rule: following across a rotation, the renamed file is read on from where it was, and the new one from its start', async () => {
  const dir = freshDir();
  const active = join(dir, 'journal.jsonl');
  writeFileSync(active, `${INVOCATION[0]}\n`);
  const records: string[] = [];
  const stop = followJournal({ dir, intervalMs: 20, onRecord: (r) => records.push(r.rec) });
  try {
    assert.deepEqual(records, ['invocation.begin']);
    // As the writer rotates: the last record into the active file, renamed, a new active file.
    appendFileSync(active, `${INVOCATION[1]}\n`);
    renameSync(active, join(dir, 'journal-0000000000000000001-1.jsonl'));
    writeFileSync(active, `${INVOCATION[INVOCATION.length - 1]}\n`);
    await until(() => records.length >= 3);
    await new Promise((r) => setTimeout(r, 100)); // a few more polls: nothing is read twice
    assert.deepEqual(records, ['invocation.begin', 'step.begin', 'invocation.end']);
  } finally {
    stop();
  }
});
