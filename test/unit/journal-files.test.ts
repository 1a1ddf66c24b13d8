/**
 * Readers and what is not a journal file (issue 17.2, 17.7): a FIFO (opening it blocking would
 * wait for a writer forever), a character device, a symlink to /dev/zero and a regular file of
 * another user, named like journal files beside a real one. Every reader — readJournal (tail,
 * show, stats), readJournalTail and followJournal (the TUI), the agent's source — returns the
 * real records at once, skips the rest and names each refused file once. Root only (mknod, chown).
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync, closeSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { execa } from 'execa';
import { benchJournal, writeInvocation } from '../../bench/synthetic-journal.ts';
import { JournalSource } from '../../src/agent/source.ts';
import { journalAccess, journalFiles, onRefusedFile, openJournalFile, readAt, refusedFiles } from '../../src/journal/files.ts';
import { followJournal, readJournal, readJournalTail } from '../../src/journal/reader.ts';
import type { JournalRecord } from '../../src/journal/record.ts';
import { Journal } from '../../src/journal/writer.ts';

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

// Rules that Stryker's survivors showed untested (issue 22). The ownership and access rules
// differ only for a reader that is not root: those run as nobody in this process (its effective
// ids only, restored after), so that Stryker sees the code they reach.

/** Runs `use` (synchronous: nothing else runs meanwhile) with the effective uid and gid of nobody. */
function asNobody<T>(use: () => T): T {
  process.setegid!(65534);
  process.seteuid!(65534);
  try {
    return use();
  } finally {
    process.seteuid!(0);
    process.setegid!(0);
  }
}

test('rule: archives are read oldest first, whatever order the directory lists them in, then journal.jsonl', () => {
  const dir = join(root, 'order');
  mkdirSync(dir);
  const names = [3, 1, 4, 2].map((n) => `journal-${String(n).padStart(19, '0')}-1.jsonl`);
  for (const n of [...names, 'journal.jsonl', 'notes.txt']) writeFileSync(join(dir, n), '');
  assert.deepEqual(journalFiles(dir), [...[...names].sort(), 'journal.jsonl'].map((n) => join(dir, n)));
  rmSync(join(dir, 'journal.jsonl'));
  assert.deepEqual(journalFiles(dir), [...names].sort().map((n) => join(dir, n)), 'no active file yet: the archives alone');
});

test('rule: a missing file is not a refusal, a refusal needs no listener, and a refused file leaves no descriptor open', () => {
  const dir = join(root, 'refusals');
  mkdirSync(dir);
  onRefusedFile(null);
  assert.equal(openJournalFile(join(dir, 'gone.jsonl')), null);
  assert.equal(refusedFiles().has(join(dir, 'gone.jsonl')), false, 'a file that is not there was not refused');
  mkdirSync(join(dir, 'a-dir.jsonl'));
  const open = (): number => readdirSync('/proc/self/fd').length;
  const before = open();
  assert.equal(openJournalFile(join(dir, 'a-dir.jsonl')), null, 'no listener: still refused, no throw');
  assert.equal(open(), before, 'the refused file\'s descriptor is closed');
  assert.equal(refusedFiles().get(join(dir, 'a-dir.jsonl')), 'not a regular file');
});

test('rule: readAt reads the whole length asked for, also when the reused buffer is too small', () => {
  const path = join(root, 'bytes.jsonl');
  writeFileSync(path, 'x'.repeat(100));
  const file = openJournalFile(path)!;
  try {
    assert.equal(readAt(file.fd, 0, 100, Buffer.alloc(10)).length, 100);
    assert.equal(readAt(file.fd, 90, 100, Buffer.alloc(200)).length, 10, 'fewer at the end of the file');
  } finally {
    closeSync(file.fd);
  }
});

test('rule: journalAccess names a journal that is absent, not a directory, or not readable by this reader', { skip: process.geteuid?.() !== 0 && 'needs root (chown, seteuid)' }, () => {
  assert.deepEqual(journalAccess(join(root, 'none')), { problem: 'absent', path: join(root, 'none') });
  writeFileSync(join(root, 'plain'), '');
  assert.deepEqual(journalAccess(join(root, 'plain')), { problem: 'not-a-directory', path: join(root, 'plain') });
  const ok = join(root, 'readable');
  mkdirSync(ok);
  writeFileSync(join(ok, 'journal.jsonl'), '');
  assert.equal(journalAccess(ok), null);
  symlinkSync('/dev/null', join(ok, 'journal-0000000000000000001-1.jsonl'));
  assert.equal(journalAccess(ok), null, 'a planted link is refused by the readers, but it does not make the journal unreadable');
  // As nobody: a root-only directory, a root-only file in an open one, a directory under a closed parent.
  chmodSync(root, 0o755);
  const closedDir = join(root, 'closed-dir');
  mkdirSync(closedDir, { mode: 0o700 });
  const closedFile = join(root, 'closed-file');
  mkdirSync(closedFile, { mode: 0o755 });
  writeFileSync(join(closedFile, 'journal.jsonl'), '', { mode: 0o600 });
  const own = join(root, 'own');
  mkdirSync(own, { mode: 0o755 });
  writeFileSync(join(own, 'journal.jsonl'), '{}\n', { mode: 0o600 });
  chownSync(join(own, 'journal.jsonl'), 65534, 65534);
  writeFileSync(join(own, 'journal-0000000000000000001-1.jsonl'), '{}\n', { mode: 0o644 });
  chownSync(join(own, 'journal-0000000000000000001-1.jsonl'), 65533, 65533);
  writeFileSync(join(own, 'journal-0000000000000000002-1.jsonl'), '{}\n', { mode: 0o644 }); // root's, readable
  const probe = (p: string): unknown => journalAccess(p);
  assert.deepEqual(asNobody(() => ({
    closedDir: probe(closedDir),
    closedFile: probe(closedFile),
    under: probe(join(closedDir, 'inner')),
    ownFile: openJournalFile(join(own, 'journal.jsonl')) !== null,
    thirdFile: openJournalFile(join(own, 'journal-0000000000000000001-1.jsonl')) !== null,
    rootFile: openJournalFile(join(own, 'journal-0000000000000000002-1.jsonl')) !== null,
  })), {
    closedDir: { problem: 'denied', path: closedDir },
    closedFile: { problem: 'denied', path: join(closedFile, 'journal.jsonl') },
    under: { problem: 'denied', path: join(closedDir, 'inner') },
    ownFile: true,
    thirdFile: false,
    rootFile: true,
  }, 'a reader that is not root: denied names the directory or file; its own files and root\'s are read, a third user\'s are not');
});

test('rule: a writer that is not root writes its own journal, in its own directory', { skip: process.geteuid?.() !== 0 && 'needs root (chown, seteuid)' }, () => {
  chmodSync(root, 0o755);
  const dir = join(root, 'nobody-journal');
  mkdirSync(dir, { mode: 0o700 });
  chownSync(dir, 65534, 65534);
  const degraded: string[] = [];
  asNobody(() => writeInvocation(new Journal({ dir, maxFileBytes: 1 << 20, maxFiles: 2, onDegraded: (r) => degraded.push(r) }), 0));
  assert.deepEqual(degraded, []);
  assert.equal(statSync(join(dir, 'journal.jsonl')).uid, 65534);
  assert.equal(asNobody(() => readJournal(dir).length), 6, 'and reads it back');
});
