/**
 * The shape of each journal record kind, checked where records are read: a line of valid JSON
 * with a field of the wrong type (`startNs` an object, `status` a number) is skipped like a torn
 * line instead of throwing in a view or the agent. Extra fields are accepted (a newer writer may
 * add some). Readers only: the wrapper writes records from the types in record.ts and never
 * loads zod (docs/decisions.md 2).
 */
import { z } from 'zod';
import type { JournalRecord } from './record.ts';

/** Epoch or duration nanoseconds as a decimal string (readers hand it to BigInt). */
const ns = z.string().regex(/^\d{1,20}$/);
/** W3C ids as the wrapper writes them: the exporter sends them as they are. */
const traceId = z.string().regex(/^[0-9a-f]{32}$/);
const spanId = z.string().regex(/^[0-9a-f]{16}$/);
const int = z.number().int();
/**
 * A recorded config: any JSON, but nested at most MAX_DEPTH deep. JSON.parse takes any depth,
 * JSON.stringify (show, the TUI's tabs) overflows the stack at a few thousand.
 */
export const MAX_DEPTH = 512;
const json = z.unknown().refine((v) => v !== undefined && depthAtMost(v, MAX_DEPTH));
const strings = z.record(z.string(), z.string());

const capture = z.object({ text: z.string(), bytes: z.number().nonnegative(), truncated: z.boolean() });
const cniError = z.object({ code: z.number(), msg: z.string(), details: z.string().optional() });
const pod = z.object({ namespace: z.string().optional(), name: z.string().optional(), uid: z.string().optional(), infraContainerId: z.string().optional() });

const invocationBegin = z.object({
  rec: z.literal('invocation.begin'), v: int, traceId, spanId, parentSpanId: spanId.optional(), traceFlags: z.string(),
  startNs: ns, command: z.string(), containerId: z.string(), netns: z.string(), ifname: z.string(), network: z.string(),
  cniVersion: z.string(), pod, env: strings, stdin: json, delegates: z.array(z.string()), pid: int, bootId: z.string().optional(),
});

const stepKey = { v: int, traceId, invocationSpanId: spanId, spanId, index: int, plugin: z.string(), command: z.string() };

const stepBegin = z.object({
  rec: z.literal('step.begin'), ...stepKey, path: z.string().nullable(), startNs: ns, stdin: json,
  parentSpanId: spanId.optional(), env: strings.optional(),
});

const stepEnd = z.object({
  rec: z.literal('step.end'), ...stepKey, endNs: ns, durationNs: ns, pid: int.nullable(), exitCode: int.nullable(),
  signal: z.string().nullable(), status: z.enum(['ok', 'error', 'skipped']), error: cniError.optional(),
  skipped: z.string().optional(), stdout: capture, stderr: capture,
});

const invocationEnd = z.object({
  rec: z.literal('invocation.end'), v: int, traceId, spanId, command: z.string(), endNs: ns, durationNs: ns,
  exitCode: int, status: z.enum(['ok', 'error']), error: cniError.optional(), stdout: capture,
});

const journalRecord = z.discriminatedUnion('rec', [invocationBegin, stepBegin, stepEnd, invocationEnd]);

function depthAtMost(v: unknown, left: number): boolean {
  if (typeof v !== 'object' || v === null) return true;
  if (left === 0) return false;
  for (const x of Array.isArray(v) ? v : Object.values(v)) if (!depthAtMost(x, left - 1)) return false;
  return true;
}

/**
 * The value as a record when it has the shape of one the readers know, else null. The value
 * itself is returned, extra fields and all (zod's output would drop them).
 */
export function asRecord(value: unknown): JournalRecord | null {
  return journalRecord.safeParse(value).success ? value as JournalRecord : null;
}
