/**
 * Readers and what is not a journal file (issue 17.2, 17.7): a FIFO (opening it blocking would
 * wait for a writer forever), a character device, a symlink to /dev/zero and a regular file of
 * another user, named like journal files beside a real one. Every reader — readJournal (tail,
 * show, stats), readJournalTail and followJournal (the TUI), the agent's source — returns the
 * real records at once, skips the rest and names each refused file once. Root only (mknod, chown).
 */
import assert from 'node:assert/strict';
import { chownSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { execa } from 'execa';
import { benchJournal, writeInvocation } from '../../bench/synthetic-journal.ts';
import { JournalSource } from '../../src/agent/source.ts';
import { onRefusedFile, refusedFiles } from '../../src/journal/files.ts';
import { followJournal, readJournal, readJournalTail } from '../../src/journal/reader.ts';
import type { JournalRecord } from '../../src/journal/record.ts';

const root = mkdtempSync(join(tmpdir(), 'cnitrace-unit-files-'));
after(() => {
  onRefusedFile(null);
  rmSync(root, { recursive: true, force: true });
});

test('a FIFO, a device, a symlink and a stranger\'s file among journal files: every reader skips them at once and says so once', async () => {
  const dir = join(root, 'planted');
  writeInvocation(benchJournal(dir), 0); // journal.jsonl: 6 real records
  const name = (n: number): string => join(dir, `journal-000000000000000000${n}-1.jsonl`);
  await execa('mkfifo', [name(1)]);
  await execa('mknod', [name(2), 'c', '1', '5']);
  symlinkSync('/dev/zero', name(3));
  writeFileSync(name(4), '{"rec":"invocation.begin"}\n');
  chownSync(name(4), 65534, 65534);
  const heard: string[] = [];
  onRefusedFile((path, why) => heard.push(`${path}: ${why}`));

  assert.equal(readJournal(dir).length, 6);
  assert.equal(readJournal(dir).length, 6, 'and again');
  assert.deepEqual(heard, [
    `${name(1)}: not a regular file`, `${name(2)}: not a regular file`, `${name(3)}: a symlink`,
    `${name(4)}: owned by uid 65534, not by root or this reader`,
  ], 'each once');
  assert.equal(refusedFiles().size, 4);

  const tail: JournalRecord[] = [];
  readJournalTail(dir, 10, (r) => tail.push(r));
  assert.equal(tail.length, 6);

  const source = new JournalSource(dir, {}, () => assert.fail('no line is skipped'));
  assert.equal(source.poll(1 << 20).length, 6);

  const followed: JournalRecord[] = [];
  const stop = followJournal({ dir, intervalMs: 20, onRecord: (r) => followed.push(r) });
  try {
    for (let waited = 0; followed.length < 6 && waited < 2000; waited += 20) await new Promise((r) => setTimeout(r, 20));
    assert.equal(followed.length, 6);
  } finally {
    stop();
  }
  assert.equal(heard.length, 4, 'still each once');
});
