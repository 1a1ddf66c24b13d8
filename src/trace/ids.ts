/**
 * W3C Trace Context ids (https://www.w3.org/TR/trace-context/#traceparent-header):
 * 16-byte trace ids and 8-byte span ids as lowercase hex, never all zero.
 */
import { closeSync, openSync, readSync } from 'node:fs';

export interface SpanContext {
  readonly traceId: string;
  readonly spanId: string;
  /** The two-hex-digit flags, "01" when sampled. */
  readonly flags: string;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/** Parses a traceparent header; null for a malformed one, version ff, or all-zero ids (spec §3.2.2). */
export function parseTraceparent(value: string | undefined): SpanContext | null {
  if (!value) return null;
  const m = TRACEPARENT.exec(value.trim());
  if (!m) return null;
  const [, version, traceId, spanId, flags] = m as unknown as [string, string, string, string, string];
  if (version === 'ff' || (version === '00' && value.trim().length !== 55)) return null;
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return null;
  return { traceId, spanId, flags };
}

/** The traceparent header for a span. */
export function formatTraceparent(ctx: SpanContext): string {
  return `00-${ctx.traceId}-${ctx.spanId}-${ctx.flags}`;
}

/**
 * Random bytes from /dev/urandom, read 256 at a time. Not node:crypto: loading it costs
 * ~3 ms per CNI call, /dev/urandom ~0.1 ms (bench/hot-path-imports.ts). Should the device be
 * unreadable, short, or not random at all (a container's /dev with /dev/zero bound over it),
 * Math.random still gives unique-enough ids: tracing must neither fail nor hang a call.
 */
const pool = Buffer.alloc(256);
let poolLeft = 0;
let device = '/dev/urandom';

/** Where random bytes come from; tests point it at devices that misbehave. */
export function useRandomDevice(path: string): void {
  device = path;
  poolLeft = 0;
}

function fillPool(): void {
  let got = 0;
  try {
    const fd = openSync(device, 'r');
    try { got = readSync(fd, pool, 0, pool.length, null); } finally { closeSync(fd); }
  } catch { /* Math.random below */ }
  for (let i = got; i < pool.length; i++) pool[i] = Math.floor(Math.random() * 256);
  poolLeft = pool.length;
}

/** All-zero draws in a row before the device is not trusted for this id (one in 2^64 by chance). */
const ZERO_DRAWS = 2;

function randomHex(bytes: number): string {
  for (let draw = 0; ; draw++) {
    if (poolLeft < bytes) fillPool();
    const out = pool.subarray(poolLeft - bytes, poolLeft);
    poolLeft -= bytes;
    if (draw >= ZERO_DRAWS) for (let i = 0; i < out.length; i++) out[i] = Math.floor(Math.random() * 256);
    if (out.some((b) => b !== 0)) return out.toString('hex');
  }
}

/** A new random 16-byte trace id. */
export function newTraceId(): string { return randomHex(16); }

/** A new random 8-byte span id. */
export function newSpanId(): string { return randomHex(8); }
