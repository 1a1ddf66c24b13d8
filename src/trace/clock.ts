/**
 * Time for records: wall-clock epoch nanoseconds anchored once per process, advanced by the
 * monotonic clock, so durations never go negative and starts have sub-microsecond precision.
 */

// Taken at the first use, not at load: a startup snapshot (the self-contained executable) runs
// module code when it is built. performance.timeOrigin + now() carries microseconds;
// Date.now() would only carry milliseconds.
let anchorMono = -1n;
let anchorWallNs = 0n;

/** Monotonic nanoseconds (process.hrtime), for durations. */
export function monotonicNs(): bigint {
  return process.hrtime.bigint();
}

/**
 * Anchors the clock on a wall and a monotonic reading taken together by another process on this
 * host (the front: its CLOCK_MONOTONIC is ours). Saves reading `performance`, whose first use
 * loads perf_hooks (~1.5 ms of a call's start). Ignored once the clock is anchored.
 */
export function anchorClock(wallNs: bigint, mono: bigint): void {
  if (anchorMono >= 0n) return;
  anchorMono = mono;
  anchorWallNs = wallNs;
}

/** Epoch nanoseconds for a monotonic reading taken in this process. */
export function epochNsAt(mono: bigint): bigint {
  if (anchorMono < 0n) {
    anchorMono = process.hrtime.bigint();
    anchorWallNs = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n;
  }
  return anchorWallNs + (mono - anchorMono);
}

/** Epoch nanoseconds now. */
export function epochNs(): bigint {
  return epochNsAt(monotonicNs());
}
