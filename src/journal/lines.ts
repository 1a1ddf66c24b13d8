/**
 * The journal's lines, forward and backward, out of an open file in fixed-size chunks: memory
 * is one chunk plus the line being assembled, whatever the file's size. Lines are split on the
 * byte "\n" (never inside a UTF-8 character) and carry their byte offset, which the agent's
 * checkpoint needs. A line longer than MAX_LINE_BYTES is dropped as it streams by (marked
 * `overlong`, so it is counted as skipped) instead of being held whole.
 */
import { closeSync } from 'node:fs';
import type { JournalRecord } from './record.ts';
import { asRecord } from './record-schema.ts';
import { openJournalFile, readAt } from './files.ts';

/** The chunk every reader reads at once. */
export const CHUNK_BYTES = 1 << 20;
/** Longer lines are not records the writer made (it cuts records to the file size). */
export const MAX_LINE_BYTES = 64 << 20;

export interface Line {
  readonly text: string;
  /** Byte offset of the line's first byte in its file. */
  readonly at: number;
  /** Its length in bytes, with its "\n" when whole. */
  readonly bytes: number;
  /** False for a last line without "\n": a record still being written, or one torn for good. */
  readonly whole: boolean;
  /** Longer than MAX_LINE_BYTES: dropped unread (`text` is empty). */
  readonly overlong?: true;
}

const NL = 0x0a;

/** Splits a byte stream into complete lines, keeping an unfinished last line for later. */
export class LineSplitter {
  private carry: Buffer[] = [];
  private carryBytes = 0;
  private overlong = false;
  /** Offset of the next byte to push. */
  next: number;
  /** Offset just past the last complete line handed out. */
  consumed: number;

  constructor(offset = 0) {
    this.next = offset;
    this.consumed = offset;
  }

  /** The complete lines' text. */
  push(data: Buffer): string[] {
    return this.lines(data).map((l) => l.text);
  }

  /** The complete lines the chunk finishes, with their offsets. */
  lines(data: Buffer): Line[] {
    const out: Line[] = [];
    let pos = 0;
    for (let nl = data.indexOf(NL); nl >= 0; nl = data.indexOf(NL, pos)) {
      out.push(this.take(data.subarray(pos, nl), true));
      pos = nl + 1;
    }
    // Stryker disable next-line ConditionalExpression,EqualityOperator: holding an empty part gives the same text
    if (pos < data.length) this.hold(data.subarray(pos));
    this.next += data.length;
    return out;
  }

  /** The unfinished last line's text ('' for none), as at the end of the stream. */
  rest(): string {
    const line = this.restLine();
    return line ? line.text : '';
  }

  /** The unfinished last line, or null. */
  restLine(): Line | null {
    if (this.carryBytes === 0 && !this.overlong) return null;
    return this.take(Buffer.alloc(0), false);
  }

  private hold(part: Buffer): void {
    // Stryker disable next-line ConditionalExpression: past the limit the branch below drops the carry again
    if (this.overlong) return;
    this.carryBytes += part.length;
    if (this.carryBytes > MAX_LINE_BYTES) {
      // Stryker disable next-line BooleanLiteral: the count alone keeps the line overlong, and the carry is dropped again
      this.overlong = true;
      // Stryker disable next-line ArrayDeclaration: an overlong carry is never read
      this.carry = [];
    } else this.carry.push(Buffer.from(part)); // a copy: the chunk's buffer is reused or dropped
  }

  private take(tail: Buffer, whole: boolean): Line {
    const at = this.consumed;
    const bytes = this.carryBytes + tail.length + (whole ? 1 : 0);
    const overlong = this.overlong || this.carryBytes + tail.length > MAX_LINE_BYTES;
    const text = overlong ? '' : this.carry.length === 0 ? tail.toString('utf8') : Buffer.concat([...this.carry, tail]).toString('utf8');
    this.carry = [];
    this.carryBytes = 0;
    this.overlong = false;
    if (whole) this.consumed = at + bytes;
    return overlong ? { text, at, bytes, whole, overlong: true } : { text, at, bytes, whole };
  }
}

const RECORD_START = '{"rec":"';

/** Parses one line; returns null for a line holding no whole record. */
export function parseRecordLine(line: string): JournalRecord | null {
  // Stryker disable next-line ConditionalExpression,MethodExpression,StringLiteral: a blank line does not parse either way
  if (line.trim() === '') return null;
  const whole = tryParse(line);
  if (whole) return whole;
  // A torn record followed by a whole one: the whole one starts at the last record marker.
  const at = line.lastIndexOf(RECORD_START);
  // Stryker disable next-line ConditionalExpression,EqualityOperator: at 0 the same text, at -1 its last character: neither is a record
  return at > 0 ? tryParse(line.slice(at)) : null;
}

function tryParse(text: string): JournalRecord | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null; // not JSON, or nested deeper than the parser's stack
  }
  return asRecord(v);
}

/** A line that holds no record but is not blank: what readers count as skipped. */
export function isGarbage(line: Line): boolean {
  return line.overlong === true || line.text.trim() !== '';
}

/** Chunks of `fd` from `from` to `to`, each valid until the next is read (one buffer, reused). */
export function* chunks(fd: number, from: number, to: number, chunkBytes = CHUNK_BYTES): Generator<Buffer> {
  const buf = Buffer.allocUnsafe(Math.max(0, Math.min(chunkBytes, to - from)));
  // Stryker disable next-line EqualityOperator: at `to` a read of 0 bytes ends it
  for (let at = from; at < to;) {
    const data = readAt(fd, at, Math.min(chunkBytes, to - at), buf);
    if (data.length === 0) return; // cut short under us
    yield data;
    at += data.length;
  }
}

/** The lines of `fd` from `from` to `to`, the last one unfinished (`whole` false) when it has no "\n". */
export function* linesForward(fd: number, from: number, to: number, chunkBytes = CHUNK_BYTES): Generator<Line> {
  const split = new LineSplitter(from);
  for (const data of chunks(fd, from, to, chunkBytes)) yield* split.lines(data);
  const rest = split.restLine();
  if (rest) yield rest;
}

/**
 * The lines of `fd`'s first `size` bytes, last first. A newest line without "\n" comes first,
 * `whole` false. Memory: one chunk and the line being assembled.
 */
export function* linesBackward(fd: number, size: number, chunkBytes = CHUNK_BYTES): Generator<Line> {
  let carry: Buffer[] = []; // the end of a line whose start lies before `pos`, in file order
  let carryBytes = 0;
  let overlong = false;
  let end = size; // where the line in `carry` ends (its "\n" excluded)
  let whole = false; // whether that line has its "\n"
  const line = (head: Buffer, at: number): Line => {
    const long = overlong || carryBytes + head.length > MAX_LINE_BYTES;
    const text = long ? '' : Buffer.concat([head, ...carry]).toString('utf8');
    const l: Line = { text, at, bytes: end - at + (whole ? 1 : 0), whole, ...(long ? { overlong: true as const } : {}) };
    carry = [];
    carryBytes = 0;
    overlong = false;
    return l;
  };
  const buf = Buffer.allocUnsafe(Math.min(chunkBytes, size));
  for (let pos = size; pos > 0;) {
    const from = Math.max(0, pos - chunkBytes);
    const data = readAt(fd, from, pos - from, buf);
    if (data.length < pos - from) return; // cut short under us
    let stop = data.length;
    for (let nl = data.lastIndexOf(NL, stop - 1); nl >= 0; nl = stop > 0 ? data.lastIndexOf(NL, stop - 1) : -1) {
      const l = line(data.subarray(nl + 1, stop), from + nl + 1);
      if (l.bytes > 0) yield l; // the empty "line" after a final "\n"
      end = from + nl;
      whole = true;
      stop = nl;
    }
    const head = data.subarray(0, stop);
    if (!overlong && carryBytes + head.length > MAX_LINE_BYTES) {
      // Stryker disable next-line BooleanLiteral: the count alone keeps the line overlong, and the carry is dropped again
      overlong = true;
      // Stryker disable next-line ArrayDeclaration: an overlong carry is never read
      carry = [];
    }
    if (!overlong) carry.unshift(Buffer.from(head));
    carryBytes += head.length;
    pos = from;
  }
  // Stryker disable next-line ConditionalExpression,EqualityOperator: with nothing carried the line has 0 bytes and is not yielded
  if (carryBytes > 0 || overlong || whole) {
    const l = line(Buffer.alloc(0), 0);
    // Stryker disable next-line ConditionalExpression,EqualityOperator: the guard above leaves no empty last line
    if (l.bytes > 0) yield l;
  }
}

/** The first whole line of a journal file (its bytes, without "\n"), or null while it has none or it cannot be read. */
export function firstLine(path: string): Buffer | null {
  const file = openJournalFile(path);
  if (!file) return null;
  try {
    // Stryker disable next-line EqualityOperator: one more read, the same answer
    for (let size = 4096; size <= MAX_LINE_BYTES; size *= 4) {
      const head = readAt(file.fd, 0, size);
      const nl = head.indexOf(NL);
      if (nl >= 0) return head.subarray(0, nl);
      // Stryker disable next-line ConditionalExpression: more reads of a short file, the same null
      if (head.length < size) return null;
    }
    return null;
  } catch {
    return null;
  } finally {
    closeSync(file.fd);
  }
}
