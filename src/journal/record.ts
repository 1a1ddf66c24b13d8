/**
 * The journal's record types: one JSON object per line, written as things happen, so a call
 * that hangs is visible while it hangs. Times are epoch nanoseconds as decimal strings
 * (they exceed 2^53). Version 1 of the format; readers skip records they do not know.
 */
import type { Command } from '../cni/env.ts';
import type { CniError } from '../cni/errors.ts';
import type { Json } from '../config/wrapper-entry.ts';

export const JOURNAL_FORMAT = 1;

/** A bounded excerpt of a stream: `text` holds at most the configured bytes. */
export interface Capture {
  readonly text: string;
  /** Total bytes the process wrote. */
  readonly bytes: number;
  /** True when `text` is shorter than what was written. */
  readonly truncated: boolean;
}

export interface PodFields {
  readonly namespace?: string;
  readonly name?: string;
  readonly uid?: string;
  readonly infraContainerId?: string;
}

/** Which pod network operation an invocation is: shared by the record and the views built from it. */
export interface InvocationIdentity {
  readonly command: Command;
  readonly containerId: string;
  readonly netns: string;
  readonly ifname: string;
  readonly network: string;
  readonly cniVersion: string;
  readonly pod: PodFields;
}

/**
 * Set on a record that was cut to fit `journalMaxFileBytes`: its whole size. Captures were
 * shortened first (each still says its total `bytes`), then a config (`stdin`) replaced by a
 * note of its size.
 */
export interface Cut {
  readonly cut?: { readonly bytes: number };
}

export interface InvocationBegin extends InvocationIdentity, Cut {
  readonly rec: 'invocation.begin';
  readonly v: typeof JOURNAL_FORMAT;
  readonly traceId: string;
  readonly spanId: string;
  /** The runtime's span when TRACEPARENT was in the env. */
  readonly parentSpanId?: string;
  readonly traceFlags: string;
  readonly startNs: string;
  /** CNI_* (and TRACEPARENT) variables as received, CNI_ARGS redacted. */
  readonly env: Readonly<Record<string, string>>;
  /** The wrapper entry as received, redacted. */
  readonly stdin: Json;
  readonly delegates: readonly string[];
  readonly pid: number;
  /** The kernel's boot id: after a reboot the pid is someone else's (absent if unreadable). */
  readonly bootId?: string;
}

/** What names a step in both of its records. */
export interface StepKey {
  readonly v: typeof JOURNAL_FORMAT;
  readonly traceId: string;
  readonly invocationSpanId: string;
  readonly spanId: string;
  /** The delegate's position in the wrapper entry (DEL runs them from the last). */
  readonly index: number;
  readonly plugin: string;
  readonly command: Command;
}

export interface StepBegin extends StepKey, Cut {
  readonly rec: 'step.begin';
  /** The resolved binary, or null when it was not found in CNI_PATH. */
  readonly path: string | null;
  readonly startNs: string;
  /** The derived config the delegate gets on stdin, redacted (a nested call's stdin as sent). */
  readonly stdin: Json;
  /**
   * Nested calls only (a plugin a delegate ran through CNI_PATH): the span of the caller — a
   * delegate's step or another nested call — and the call's CNI_* env, CNI_ARGS redacted.
   */
  readonly parentSpanId?: string;
  readonly env?: Readonly<Record<string, string>>;
  /**
   * Traced commands only (iptables, ip … a plugin ran through PATH; `plugin` is the command's
   * name, `stdin` null): the argv it ran with, redacted.
   */
  readonly argv?: readonly string[];
}

export type StepStatus = 'ok' | 'error' | 'skipped';

export interface StepEnd extends StepKey, Cut {
  readonly rec: 'step.end';
  readonly endNs: string;
  readonly durationNs: string;
  readonly pid: number | null;
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly status: StepStatus;
  readonly error?: CniError;
  /** Why a step did not run (STATUS/GC on a plugin without CNI 1.1). */
  readonly skipped?: string;
  readonly stdout: Capture;
  readonly stderr: Capture;
}

export type InvocationStatus = 'ok' | 'error';

export interface InvocationEnd extends Cut {
  readonly rec: 'invocation.end';
  readonly v: typeof JOURNAL_FORMAT;
  readonly traceId: string;
  readonly spanId: string;
  readonly command: Command;
  readonly endNs: string;
  readonly durationNs: string;
  readonly exitCode: number;
  readonly status: InvocationStatus;
  readonly error?: CniError;
  /** What the wrapper printed on stdout (the final result or the error JSON). */
  readonly stdout: Capture;
}

export type JournalRecord = InvocationBegin | StepBegin | StepEnd | InvocationEnd;

/**
 * Bounds a stream for the journal; the cut never splits a UTF-8 sequence into garbage.
 * `total` is how much was written when `buf` holds only the first part of it.
 */
export function capture(buf: Buffer, maxBytes: number, total = buf.length): Capture {
  if (buf.length <= maxBytes && total <= buf.length) return { text: buf.toString('utf8'), bytes: total, truncated: false };
  return { text: buf.subarray(0, maxBytes).toString('utf8').replace(/\uFFFD$/, ''), bytes: total, truncated: true };
}

const lineBytes = (rec: object): number => Buffer.byteLength(JSON.stringify(rec)) + 1;

/**
 * The record as a line of at most `maxBytes` (journalMaxFileBytes), so one record never
 * outgrows a journal file: the longest capture is halved until it fits (or is empty), then a
 * config is replaced by a note of its size; marked with `cut`. Identity fields are never cut:
 * a limit smaller than them leaves the record larger than the limit.
 */
export function fitRecord(rec: JournalRecord, maxBytes: number): JournalRecord {
  const bytes = lineBytes(rec);
  if (bytes <= maxBytes) return rec;
  const out = { ...rec, cut: { bytes } } as Record<string, unknown>;
  const captures = (['stdout', 'stderr'] as const).filter((k) => out[k] !== undefined);
  while (lineBytes(out) > maxBytes) {
    const longest = captures.map((k) => [k, Buffer.from((out[k] as Capture).text)] as const).sort((a, b) => b[1].length - a[1].length)[0];
    if (!longest || longest[1].length === 0) break;
    out[longest[0]] = capture(longest[1], longest[1].length >> 1, (out[longest[0]] as Capture).bytes);
  }
  if (lineBytes(out) > maxBytes && out.stdin !== undefined) {
    const note = `(not kept: ${Buffer.byteLength(JSON.stringify(out.stdin))} bytes of JSON; the record would pass journalMaxFileBytes)`;
    if (note.length < JSON.stringify(out.stdin).length) out.stdin = note;
  }
  return out as unknown as JournalRecord;
}
