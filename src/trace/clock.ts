/**
 * Time for records: wall-clock epoch nanoseconds anchored once per process, advanced by the
 * monotonic clock, so durations never go negative and starts have sub-microsecond precision.
 */

// performance.timeOrigin + now() carries microseconds; Date.now() would only carry milliseconds.
const anchorMono = process.hrtime.bigint();
const anchorWallNs = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n;

/** Monotonic nanoseconds (process.hrtime), for durations. */
export function monotonicNs(): bigint {
  return process.hrtime.bigint();
}

/** Epoch nanoseconds for a monotonic reading taken in this process. */
export function epochNsAt(mono: bigint): bigint {
  return anchorWallNs + (mono - anchorMono);
}

/** Epoch nanoseconds now. */
export function epochNs(): bigint {
  return epochNsAt(monotonicNs());
}
