import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { epochNs, epochNsAt, monotonicNs } from '../../src/trace/clock.ts';
import { formatTraceparent, newSpanId, newTraceId, parseTraceparent, useRandomDevice } from '../../src/trace/ids.ts';

// The example from https://www.w3.org/TR/trace-context/#examples-of-http-traceparent-headers
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN_ID = '00f067aa0ba902b7';
const VALID = `00-${TRACE_ID}-${SPAN_ID}-01`;

test('parseTraceparent accepts a valid header', () => {
  assert.deepEqual(parseTraceparent(VALID), { traceId: TRACE_ID, spanId: SPAN_ID, flags: '01' });
  assert.deepEqual(parseTraceparent(`00-${TRACE_ID}-${SPAN_ID}-00`), { traceId: TRACE_ID, spanId: SPAN_ID, flags: '00' });
});

test('parseTraceparent accepts a future version with extra fields (spec §3.2.4)', () => {
  assert.deepEqual(parseTraceparent(`cc-${TRACE_ID}-${SPAN_ID}-01-what-the-future-holds`), { traceId: TRACE_ID, spanId: SPAN_ID, flags: '01' });
  assert.deepEqual(parseTraceparent(`01-${TRACE_ID}-${SPAN_ID}-01`), { traceId: TRACE_ID, spanId: SPAN_ID, flags: '01' });
});

test('parseTraceparent rejects all-zero trace or span ids', () => {
  assert.equal(parseTraceparent(`00-${'0'.repeat(32)}-${SPAN_ID}-01`), null);
  assert.equal(parseTraceparent(`00-${TRACE_ID}-${'0'.repeat(16)}-01`), null);
});

test('parseTraceparent rejects version ff', () => {
  assert.equal(parseTraceparent(`ff-${TRACE_ID}-${SPAN_ID}-01`), null);
});

test('parseTraceparent rejects version 00 with anything after the flags', () => {
  assert.equal(parseTraceparent(`${VALID}-extra`), null);
  assert.equal(parseTraceparent(`${VALID}0`), null);
});

test('parseTraceparent rejects wrong field lengths', () => {
  for (const h of [
    `0-${TRACE_ID}-${SPAN_ID}-01`,
    `000-${TRACE_ID}-${SPAN_ID}-01`,
    `00-${TRACE_ID.slice(1)}-${SPAN_ID}-01`,
    `00-${TRACE_ID}0-${SPAN_ID}-01`,
    `00-${TRACE_ID}-${SPAN_ID.slice(1)}-01`,
    `00-${TRACE_ID}-${SPAN_ID}0-01`,
    `00-${TRACE_ID}-${SPAN_ID}-1`,
    `00-${TRACE_ID}-${SPAN_ID}-011`,
  ]) {
    assert.equal(parseTraceparent(h), null, h);
  }
});

test('parseTraceparent rejects uppercase hex in any field', () => {
  for (const h of [
    `00-${TRACE_ID.toUpperCase()}-${SPAN_ID}-01`,
    `00-${TRACE_ID}-00F067AA0BA902B7-01`,
    `0A-${TRACE_ID}-${SPAN_ID}-01`,
    `00-${TRACE_ID}-${SPAN_ID}-0A`,
  ]) {
    assert.equal(parseTraceparent(h), null, h);
  }
});

test('parseTraceparent rejects garbage and absent values', () => {
  for (const h of [undefined, '', ' ', 'garbage', '00', `00_${TRACE_ID}_${SPAN_ID}_01`, `00-${TRACE_ID}-${SPAN_ID}`, `zz-${TRACE_ID}-${SPAN_ID}-01`, `00-${'g'.repeat(32)}-${SPAN_ID}-01`]) {
    assert.equal(parseTraceparent(h), null, String(h));
  }
});

test('formatTraceparent and parseTraceparent round-trip', () => {
  for (let i = 0; i < 20; i++) {
    const ctx = { traceId: newTraceId(), spanId: newSpanId(), flags: i % 2 === 0 ? '01' : '00' };
    const header = formatTraceparent(ctx);
    assert.match(header, /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
    assert.deepEqual(parseTraceparent(header), ctx);
  }
  assert.equal(formatTraceparent(parseTraceparent(VALID)!), VALID);
});

test('newTraceId and newSpanId are 32 and 16 lowercase hex digits and differ between calls', () => {
  const traces = new Set<string>();
  const spans = new Set<string>();
  for (let i = 0; i < 100; i++) {
    const t = newTraceId();
    const s = newSpanId();
    assert.match(t, /^[0-9a-f]{32}$/);
    assert.match(s, /^[0-9a-f]{16}$/);
    assert.notEqual(t, '0'.repeat(32));
    assert.notEqual(s, '0'.repeat(16));
    traces.add(t);
    spans.add(s);
  }
  assert.equal(traces.size, 100);
  assert.equal(spans.size, 100);
});

// The rule is "epoch nanoseconds, the wall clock's": any unit or origin error is off by far more
// than seconds. The bound is not tighter because the anchor is taken once and then advanced by the
// monotonic clock, so a wall clock slewed or stepped since (a just-booted VM syncing its time: 61 ms
// seen under load) moves away from it by design.
test('epochNs is within 5 s of Date.now()', () => {
  for (let i = 0; i < 5; i++) {
    const ns = epochNs();
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    const diff = ns > nowNs ? ns - nowNs : nowNs - ns;
    assert.ok(diff < 5_000_000_000n, `epochNs ${ns} is ${diff} ns away from Date.now()`);
  }
});

test('epochNs never decreases over successive calls', () => {
  let prev = epochNs();
  for (let i = 0; i < 10_000; i++) {
    const next = epochNs();
    assert.ok(next >= prev, `${next} < ${prev}`);
    prev = next;
  }
});

test('epochNsAt maps monotonic readings with the same spacing', () => {
  const a = monotonicNs();
  const b = a + 1_234_567n;
  assert.equal(epochNsAt(b) - epochNsAt(a), 1_234_567n);
});

test('parseTraceparent: a header is the whole value (around it only whitespace), for a future version too', () => {
  assert.deepEqual(parseTraceparent(` ${VALID}\t`), { traceId: TRACE_ID, spanId: SPAN_ID, flags: '01' }, 'surrounding whitespace is trimmed');
  assert.deepEqual(parseTraceparent(`${VALID} `), { traceId: TRACE_ID, spanId: SPAN_ID, flags: '01' }, 'a version 00 header counts 55 characters without it');
  for (const h of [`abc-${TRACE_ID}-${SPAN_ID}-01`, `x${VALID}`, `cc-${TRACE_ID}-${SPAN_ID}-01x`, `cc-${TRACE_ID}-${SPAN_ID}-01x-more`]) {
    assert.equal(parseTraceparent(h), null, `${h}: not a header from its first to its last character`);
  }
});

test('ids are uniform random bytes: an id with a zero byte in it is as likely as any other', () => {
  // 1 − (255/256)^8 ≈ 3.1 % of span ids hold a zero byte: among 3,000, about 92 (none: p < 1e-40).
  let withZero = 0;
  for (let i = 0; i < 3000; i++) if (/^(?:[0-9a-f]{2})*00/.test(newSpanId())) withZero++;
  assert.ok(withZero > 30, `${withZero} of 3,000 span ids hold a zero byte`);
});

test('making ids leaves no file descriptor open (each read of /dev/urandom closes it)', () => {
  const open = (): number => readdirSync('/proc/self/fd').length;
  newSpanId();
  const before = open();
  for (let i = 0; i < 5000; i++) newTraceId(); // 16 pool refills of 256 bytes per 256 ids
  assert.ok(open() <= before + 1, `descriptors open: ${before} before, ${open()} after`);
});

test('rule: ids come out unique and non-zero when the random device gives zeros, nothing, or is missing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cnitrace-ids-'));
  const empty = join(dir, 'empty');
  writeFileSync(empty, '');
  try {
    for (const dev of ['/dev/zero', empty, join(dir, 'absent')]) {
      useRandomDevice(dev);
      const ids = Array.from({ length: 200 }, () => [newTraceId(), newSpanId()]);
      for (const [t, s] of ids) {
        assert.match(t!, /^[0-9a-f]{32}$/);
        assert.notEqual(t, '0'.repeat(32), dev);
        assert.notEqual(s, '0'.repeat(16), dev);
      }
      assert.equal(new Set(ids.map(([t]) => t)).size, ids.length, `unique trace ids from ${dev}`);
    }
  } finally {
    useRandomDevice('/dev/urandom');
    rmSync(dir, { recursive: true, force: true });
  }
});
