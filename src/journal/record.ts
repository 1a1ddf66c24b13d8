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

export interface InvocationBegin extends InvocationIdentity {
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

export interface StepBegin extends StepKey {
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
}

export type StepStatus = 'ok' | 'error' | 'skipped';

export interface StepEnd extends StepKey {
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

export interface InvocationEnd {
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
