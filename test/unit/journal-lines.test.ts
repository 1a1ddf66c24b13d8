/**
 * The line reader's limits (lines.ts, issue 22): a line of exactly MAX_LINE_BYTES is still a
 * line, one byte more is dropped; an overlong line is handed on without its text; and memory
 * stays one chunk plus at most MAX_LINE_BYTES of the line being assembled, whatever the file's
 * size or a line's length. Memory is read as the bytes held by Buffers after a forced garbage
 * collection, while the reader still holds what it allocated (a generator paused at a yield).
 */
import assert from 'node:assert/strict';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { chunks, firstLine, LineSplitter, linesBackward, MAX_LINE_BYTES } from '../../src/journal/lines.ts';
import { openJournalFile } from '../../src/journal/files.ts';
import { followJournal } from '../../src/journal/reader.ts';

const root = mkdtempSync(join(tmpdir(), 'cnitrace-unit-lines-'));
after(() => rmSync(root, { recursive: true, force: true }));

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
/** Bytes held by Buffers once everything unreachable is collected. */
function heldBytes(): number {
  gc();
  return process.memoryUsage().arrayBuffers;
}

const MiB = 1 << 20;

/** A sparse file: `size` zero bytes (no "\n"), then `tail`. */
function sparseFile(name: string, size: number, tail: string): string {
  const path = join(root, name);
  const fd = openSync(path, 'w', 0o600);
  try {
    writeSync(fd, tail, size);
  } finally {
    closeSync(fd);
  }
  return path;
}

test('rule: a line of exactly MAX_LINE_BYTES is read whole, forward and backward', () => {
  const split = new LineSplitter(0);
  const chunk = Buffer.alloc(MiB, 0x61);
  for (let i = 0; i < MAX_LINE_BYTES / MiB; i++) split.lines(chunk);
  const [line] = split.lines(Buffer.from('\n'));
  assert.deepEqual([line!.text.length, line!.bytes, line!.overlong], [MAX_LINE_BYTES, MAX_LINE_BYTES + 1, undefined], 'forward');

  const path = join(root, 'exact.jsonl');
  writeFileSync(path, Buffer.concat([Buffer.from('{"a":1}\n'), Buffer.alloc(MAX_LINE_BYTES, 0x62), Buffer.from('\n{"b":2}')]));
  const file = openJournalFile(path)!;
  try {
    // The second chunk size puts a chunk's start on the long line's first byte: the whole
    // line is carried before the "\n" that ends the line before it is seen.
    for (const chunkBytes of [MiB, (MAX_LINE_BYTES + 8) / 8]) {
      const lines = [...linesBackward(file.fd, file.st.size, chunkBytes)];
      assert.deepEqual(lines.map((l) => [l.text.length, l.at, l.overlong === true]), [[7, MAX_LINE_BYTES + 9, false], [MAX_LINE_BYTES, 8, false], [7, 0, false]], `backward in chunks of ${chunkBytes}`);
    }
  } finally {
    closeSync(file.fd);
  }
});

test('rule: a follower hands an overlong line on as skipped without its text', () => {
  const dir = join(root, 'follow');
  mkdirSync(dir, { mode: 0o700 });
  sparseFile('follow/journal.jsonl', MAX_LINE_BYTES + MiB, 'its end\n');
  const skipped: number[] = [];
  const stop = followJournal({ dir, intervalMs: 10_000, onRecord: () => assert.fail('no record'), onSkipped: (text) => skipped.push(text.length) });
  stop();
  assert.deepEqual(skipped, [0], 'one line skipped, its text empty: not 65 MiB of it');
});

test('rule: a splitter holds at most MAX_LINE_BYTES of an overlong line, not the line', () => {
  const split = new LineSplitter(0);
  const chunk = Buffer.alloc(MiB, 0x61);
  const before = heldBytes();
  for (let i = 0; i < MAX_LINE_BYTES / MiB + 128; i++) split.lines(chunk);
  const held = heldBytes() - before;
  assert.ok(held < 32 * MiB, `the line's bytes are dropped once it is overlong (held ${held} bytes)`);
  assert.equal(split.restLine()!.overlong, true);
});

test('rule: chunks and linesBackward allocate one chunk, not the file, nor more than the range read', () => {
  const size = 512 * MiB;
  const path = sparseFile('sparse.jsonl', size, 'a\nx\n');
  const file = openJournalFile(path)!;
  try {
    const before = heldBytes();
    const forward = chunks(file.fd, 0, file.st.size, 64 << 10);
    assert.equal(forward.next().value!.length, 64 << 10);
    const backward = linesBackward(file.fd, file.st.size, 64 << 10);
    assert.equal(backward.next().value!.text, 'x');
    const few = chunks(file.fd, size, size + 4, MiB);
    assert.equal(few.next().value!.toString(), 'a\nx\n');
    const held = heldBytes() - before;
    assert.ok(held < 512 << 10, `two chunks of 64 KiB and 4 bytes, while the three readers are open (held ${held} bytes)`);
    forward.return(undefined);
    backward.return(undefined);
    few.return(undefined);
  } finally {
    closeSync(file.fd);
  }
});

test('rule: a file whose first line is empty has a first line (empty), not none yet', () => {
  const path = join(root, 'empty-first.jsonl');
  writeFileSync(path, '\n{"a":1}\n');
  assert.equal(firstLine(path)?.length, 0);
});
