/**
 * Turns one invocation's progress into journal records: begin, each step's begin and end,
 * end. Owns the trace context (joining the runtime's trace when TRACEPARENT is set) and
 * redaction, so nothing un-redacted reaches the journal.
 */
import type { CniEnv } from '../cni/env.ts';
import { podFromCniArgs } from '../cni/env.ts';
import type { CniError } from '../cni/errors.ts';
import { redactCniArgs, redactJson } from '../config/redact.ts';
import type { Json, JsonObject } from '../config/wrapper-entry.ts';
import type { ExecOutcome } from '../invoke/exec.ts';
import { capture, JOURNAL_FORMAT, type StepStatus } from '../journal/record.ts';
import type { Journal } from '../journal/writer.ts';
import { bootId } from '../journal/boot.ts';
import { epochNsAt, monotonicNs } from '../trace/clock.ts';
import type { NestedCall } from './nested.ts';
import { formatTraceparent, newSpanId, newTraceId, parseTraceparent } from '../trace/ids.ts';

export interface StepHandle {
  readonly index: number;
  readonly plugin: string;
  readonly spanId: string;
  readonly startMono: bigint;
  /** The TRACEPARENT the delegate gets, so its own spans nest under this step. */
  readonly traceparent: string;
}

export interface RecorderOptions {
  readonly journal: Journal | null;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly isCredential: (key: string) => boolean;
  readonly captureMaxBytes: number;
}

const EMPTY = Buffer.alloc(0);

export class InvocationRecorder {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | undefined;
  readonly flags: string;
  readonly startMono = monotonicNs();
  private readonly opts: RecorderOptions;
  private command: CniEnv['command'] = 'ADD';

  constructor(opts: RecorderOptions) {
    this.opts = opts;
    const parent = parseTraceparent(opts.env.TRACEPARENT);
    this.traceId = parent?.traceId ?? newTraceId();
    this.parentSpanId = parent?.spanId;
    this.flags = parent?.flags ?? '01';
    this.spanId = newSpanId();
  }

  /** Records the start of the invocation with its identity and the (redacted) entry. */
  begin(env: CniEnv, network: string, cniVersion: string, stdin: JsonObject, delegates: readonly string[]): void {
    this.command = env.command;
    const recordedEnv = this.recordedEnv(this.opts.env);
    this.opts.journal?.append({
      rec: 'invocation.begin', v: JOURNAL_FORMAT, traceId: this.traceId, spanId: this.spanId,
      ...(this.parentSpanId ? { parentSpanId: this.parentSpanId } : {}),
      traceFlags: this.flags, startNs: String(epochNsAt(this.startMono)), command: env.command,
      containerId: env.containerId, netns: env.netns, ifname: env.ifname, network, cniVersion,
      pod: podFromCniArgs(env.args), env: recordedEnv,
      stdin: redactJson(stdin, this.opts.isCredential) as Json, delegates, pid: process.pid,
      ...(bootId() ? { bootId: bootId() } : {}),
    });
  }

  /** Records that a delegate is about to run (or was looked up and not found: path null). */
  stepBegin(index: number, plugin: string, path: string | null, config: JsonObject): StepHandle {
    const spanId = newSpanId();
    const startMono = monotonicNs();
    this.opts.journal?.append({
      rec: 'step.begin', v: JOURNAL_FORMAT, traceId: this.traceId, invocationSpanId: this.spanId, spanId,
      index, plugin, command: this.command, path, startNs: String(epochNsAt(startMono)),
      stdin: redactJson(config, this.opts.isCredential) as Json,
    });
    return { index, plugin, spanId, startMono, traceparent: formatTraceparent({ traceId: this.traceId, spanId, flags: this.flags }) };
  }

  /**
   * Records one nested call (begin and, when it finished, end) under `parentSpanId`. Its
   * stdin is redacted like a delegate's config; one that is not JSON cannot be redacted, so
   * only its size is kept.
   */
  nestedStep(index: number, parentSpanId: string, call: NestedCall, outcome: ExecOutcome, status: StepStatus, error?: CniError): void {
    const command = (call.env.CNI_COMMAND ?? '') as CniEnv['command'];
    const key = { v: JOURNAL_FORMAT, traceId: this.traceId, invocationSpanId: this.spanId, spanId: call.spanId, index, plugin: call.plugin, command } as const;
    let stdin: Json;
    try {
      stdin = redactJson(JSON.parse(call.stdin.toString('utf8')) as Json, this.opts.isCredential) as Json;
    } catch {
      stdin = `(not JSON: ${call.stdin.length} bytes)`;
    }
    this.opts.journal?.append({
      rec: 'step.begin', ...key, path: call.path, startNs: String(call.startNs), stdin, parentSpanId, env: this.recordedEnv(call.env),
    });
    if (call.endNs === null) return;
    const max = this.opts.captureMaxBytes;
    this.opts.journal?.append({
      rec: 'step.end', ...key, endNs: String(call.endNs), durationNs: String(call.endNs > call.startNs ? call.endNs - call.startNs : 0n),
      pid: null, exitCode: outcome.exitCode, signal: outcome.signal, status, ...(error ? { error } : {}),
      stdout: capture(call.stdout, max, call.stdoutBytes), stderr: capture(call.stderr, max, call.stderrBytes),
    });
  }

  /** CNI_* (and trace context) variables of an env, CNI_ARGS redacted. */
  private recordedEnv(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(env)) {
      if (v !== undefined && (k.startsWith('CNI_') || k === 'TRACEPARENT' || k === 'TRACESTATE')) {
        out[k] = k === 'CNI_ARGS' ? redactCniArgs(v, this.opts.isCredential) : v;
      }
    }
    return out;
  }

  /** Records a step's end; the shape is the same for success, failure and skip. */
  stepEnd(step: StepHandle, outcome: ExecOutcome | null, status: StepStatus, error?: CniError, skipped?: string): void {
    const startMono = outcome?.startMono ?? step.startMono;
    const endMono = outcome?.endMono ?? monotonicNs();
    const max = this.opts.captureMaxBytes;
    this.opts.journal?.append({
      rec: 'step.end', v: JOURNAL_FORMAT, traceId: this.traceId, invocationSpanId: this.spanId, spanId: step.spanId,
      index: step.index, plugin: step.plugin, command: this.command,
      endNs: String(epochNsAt(endMono)), durationNs: String(endMono - startMono),
      pid: outcome?.pid ?? null, exitCode: outcome?.exitCode ?? null, signal: outcome?.signal ?? null,
      status, ...(error ? { error } : {}), ...(skipped ? { skipped } : {}),
      stdout: capture(outcome?.stdout ?? EMPTY, max), stderr: capture(outcome?.stderr ?? EMPTY, max, outcome?.stderrBytes),
    });
  }

  /** Records the end of the invocation with what the runtime gets. */
  end(exitCode: number, stdout: string | Buffer, error?: CniError): void {
    const endMono = monotonicNs();
    this.opts.journal?.append({
      rec: 'invocation.end', v: JOURNAL_FORMAT, traceId: this.traceId, spanId: this.spanId, command: this.command,
      endNs: String(epochNsAt(endMono)), durationNs: String(endMono - this.startMono), exitCode,
      status: exitCode === 0 ? 'ok' : 'error', ...(error ? { error } : {}),
      stdout: capture(typeof stdout === 'string' ? Buffer.from(stdout) : stdout, this.opts.captureMaxBytes),
    });
  }
}
