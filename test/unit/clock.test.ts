/**
 * The records' clock (src/trace/clock.ts): anchored by the front's wall and monotonic pair, a
 * reading maps to that wall time plus the monotonic distance, exactly; a second anchor is ignored.
 * Its own file: the anchor is per process, and node --test runs each file in one.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { anchorClock, epochNsAt, monotonicNs } from '../../src/trace/clock.ts';

test('rule: an anchor from the front maps monotonic readings onto its wall time, to the nanosecond, and only the first anchor counts', () => {
  const mono = monotonicNs();
  const wall = 1_796_000_000_123_456_789n;
  anchorClock(wall, mono);
  assert.equal(epochNsAt(mono), wall);
  assert.equal(epochNsAt(mono + 2_500_001n), wall + 2_500_001n);
  anchorClock(wall + 10_000_000_000n, mono);
  assert.equal(epochNsAt(mono + 7n), wall + 7n, 'a second anchor does not move the clock');
});
