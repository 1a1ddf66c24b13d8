/**
 * Journal records built by hand for the unit tests of the readers (assembly, tail, show, the
 * TUI, spans): one invocation whose delegate runs a plugin that runs a plugin that runs a
 * plugin — nested calls at depths 1, 2 and 3 — then a second delegate. Records are what the
 * writer writes (record.ts); times are ms offsets from a fixed epoch instant.
 */
import type { Capture, InvocationBegin, InvocationEnd, JournalRecord, StepBegin, StepEnd } from '../../src/journal/record.ts';

export const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
export const INV = 'a000000000000001';
/** The runtime's span (TRACEPARENT), the invocation's parent. */
export const RUNTIME_SPAN = 'f000000000000001';
const T0 = 1_790_000_000_000_000_000n;

/** Epoch ns (decimal string) `ms` milliseconds after the fixed instant. */
export function ns(ms: number): string {
  return String(T0 + BigInt(Math.round(ms * 1000)) * 1000n);
}

function text(t: string): Capture {
  return { text: t, bytes: Buffer.byteLength(t), truncated: false };
}

export function invocationBegin(over: Partial<InvocationBegin> = {}): InvocationBegin {
  return {
    rec: 'invocation.begin', v: 1, traceId: TRACE, spanId: INV, parentSpanId: RUNTIME_SPAN, traceFlags: '01',
    command: 'ADD', containerId: 'ctr-nested', netns: '/var/run/netns/n1', ifname: 'eth0', network: 'podnet', cniVersion: '1.0.0',
    pod: { namespace: 'ns1', name: 'pod-1', uid: 'uid-1' }, startNs: ns(0), env: { CNI_COMMAND: 'ADD' }, stdin: { name: 'podnet' },
    delegates: ['bridge', 'portmap'], pid: 4242, ...over,
  };
}

export function invocationEnd(over: Partial<InvocationEnd> = {}): InvocationEnd {
  return {
    rec: 'invocation.end', v: 1, traceId: TRACE, spanId: INV, command: 'ADD', endNs: ns(100), durationNs: String(100_000_000),
    exitCode: 0, status: 'ok', stdout: text('{"cniVersion":"1.0.0","ips":[{"address":"10.1.2.3/24"},{"address":"fd00::3/64"}]}'), ...over,
  };
}

export interface StepSpec {
  readonly spanId: string;
  readonly plugin: string;
  readonly index?: number;
  readonly parent?: string;
  readonly startMs: number;
  /** null: the step never ended. */
  readonly endMs: number | null;
  readonly end?: Partial<StepEnd>;
}

/** A step's begin and (unless endMs is null) end record. */
export function stepRecords(s: StepSpec): JournalRecord[] {
  const key = { v: 1 as const, traceId: TRACE, invocationSpanId: INV, spanId: s.spanId, index: s.index ?? 0, plugin: s.plugin, command: 'ADD' as const };
  const begin: StepBegin = {
    rec: 'step.begin', ...key, path: `/opt/cni/bin/${s.plugin}`, startNs: ns(s.startMs), stdin: { type: s.plugin },
    ...(s.parent ? { parentSpanId: s.parent, env: { CNI_COMMAND: 'ADD', CNI_IFNAME: 'eth0' } } : {}),
  };
  if (s.endMs === null) return [begin];
  const end: StepEnd = {
    rec: 'step.end', ...key, endNs: ns(s.endMs), durationNs: String(Math.round((s.endMs - s.startMs) * 1e6)), pid: 100, exitCode: 0, signal: null,
    status: 'ok', stdout: text('{}'), stderr: text(''), ...s.end,
  };
  return [begin, end];
}

/** bridge (delegate 0) → host-local (depth 1) → static (depth 2) → leaf (depth 3); then portmap (delegate 1). */
export const CHAIN: readonly StepSpec[] = [
  { spanId: 'b000000000000000', plugin: 'bridge', index: 0, startMs: 1, endMs: 50 },
  { spanId: 'b000000000000001', plugin: 'host-local', parent: 'b000000000000000', startMs: 5, endMs: 40 },
  { spanId: 'b000000000000002', plugin: 'static', parent: 'b000000000000001', startMs: 10, endMs: 30 },
  { spanId: 'b000000000000003', plugin: 'leaf', parent: 'b000000000000002', startMs: 15, endMs: 20 },
  { spanId: 'b000000000000004', plugin: 'portmap', index: 1, startMs: 60, endMs: 80 },
];

/** The nested chain's depths, in tree order. */
export const CHAIN_DEPTHS: ReadonlyArray<readonly [string, number]> = [['bridge', 0], ['host-local', 1], ['static', 2], ['leaf', 3], ['portmap', 0]];

/** The whole invocation's records in write order. */
export function chainRecords(): JournalRecord[] {
  const begins: Array<[number, JournalRecord]> = [];
  for (const s of CHAIN) {
    const [b, e] = stepRecords(s);
    begins.push([s.startMs, b!]);
    if (e) begins.push([s.endMs!, e]);
  }
  begins.sort((a, b) => a[0] - b[0]);
  return [invocationBegin(), ...begins.map(([, r]) => r), invocationEnd()];
}
