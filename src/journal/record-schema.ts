/**
 * The shape of each journal record kind, checked where records are read: a line of valid JSON
 * with a field of the wrong type (`startNs` an object, `status` a number) is skipped like a torn
 * line instead of throwing in a view or the agent. Extra fields are accepted (a newer writer may
 * add some). Readers only; the wrapper writes records from the types in record.ts.
 *
 * Checked by hand, not with zod: it runs once per record read (600,000 for `stats` over 100,000
 * invocations, every record the agent exports), and the hand-written check costs a fraction of
 * zod's schema walk and its garbage (docs/decisions.md 23).
 */
import type { JournalRecord } from './record.ts';

/**
 * A recorded config: any JSON, but nested at most MAX_DEPTH deep. JSON.parse takes any depth,
 * JSON.stringify (show, the TUI's tabs) overflows the stack at a few thousand.
 */
export const MAX_DEPTH = 512;

type Obj = Record<string, unknown>;
type Check = (v: unknown) => boolean;

const NS = /^\d{1,20}$/;
const TRACE_ID = /^[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;

const str: Check = (v) => typeof v === 'string';
/** Epoch or duration nanoseconds as a decimal string (readers hand it to BigInt). */
const ns: Check = (v) => typeof v === 'string' && NS.test(v);
/** W3C ids as the wrapper writes them: the exporter sends them as they are. */
const traceId: Check = (v) => typeof v === 'string' && TRACE_ID.test(v);
const spanId: Check = (v) => typeof v === 'string' && SPAN_ID.test(v);
const int: Check = (v) => Number.isInteger(v);
const num: Check = (v) => typeof v === 'number' && Number.isFinite(v);
const bool: Check = (v) => typeof v === 'boolean';
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const optional = (c: Check): Check => (v) => v === undefined || c(v);
const nullable = (c: Check): Check => (v) => v === null || c(v);
const oneOf = (...xs: string[]): Check => (v) => typeof v === 'string' && xs.includes(v);
const strings: Check = (v) => isObj(v) && Object.values(v).every(str);
const json: Check = (v) => v !== undefined && depthAtMost(v, MAX_DEPTH);
const fields = (shape: Record<string, Check>): Check => (v) => isObj(v) && Object.entries(shape).every(([k, c]) => c(v[k]));

const capture = fields({ text: str, bytes: (v) => num(v) && (v as number) >= 0, truncated: bool });
const cniError = fields({ code: num, msg: str, details: optional(str) });
const pod = fields({ namespace: optional(str), name: optional(str), uid: optional(str), infraContainerId: optional(str) });
const stepKey = { v: int, traceId, invocationSpanId: spanId, spanId, index: int, plugin: str, command: str };

const SHAPES: Record<JournalRecord['rec'], Check> = {
  'invocation.begin': fields({
    v: int, traceId, spanId, parentSpanId: optional(spanId), traceFlags: str, startNs: ns, command: str, containerId: str,
    netns: str, ifname: str, network: str, cniVersion: str, pod, env: strings, stdin: json,
    delegates: (v) => Array.isArray(v) && v.every(str), pid: int, bootId: optional(str),
  }),
  'step.begin': fields({ ...stepKey, path: nullable(str), startNs: ns, stdin: json, parentSpanId: optional(spanId), env: optional(strings),
    argv: optional((v) => Array.isArray(v) && v.every(str)) }),
  'step.end': fields({
    ...stepKey, endNs: ns, durationNs: ns, pid: nullable(int), exitCode: nullable(int), signal: nullable(str),
    status: oneOf('ok', 'error', 'skipped'), error: optional(cniError), skipped: optional(str), stdout: capture, stderr: capture,
  }),
  'invocation.end': fields({
    v: int, traceId, spanId, command: str, endNs: ns, durationNs: ns, exitCode: int, status: oneOf('ok', 'error'),
    error: optional(cniError), stdout: capture,
  }),
};

/** Iterative: a hostile line may nest far deeper than the stack allows recursion. */
function depthAtMost(root: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[root, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= max) return false;
    for (const x of Array.isArray(v) ? v : Object.values(v)) if (typeof x === 'object' && x !== null) stack.push([x, depth + 1]);
  }
  return true;
}

/** The value as a record when it has the shape of one the readers know, else null (extra fields kept). */
export function asRecord(value: unknown): JournalRecord | null {
  if (!isObj(value) || typeof value.rec !== 'string' || !Object.hasOwn(SHAPES, value.rec)) return null;
  return SHAPES[value.rec as JournalRecord['rec']](value) ? value as unknown as JournalRecord : null;
}
