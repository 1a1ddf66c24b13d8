/**
 * Turns one invocation's progress into journal records: begin, each step's begin and end,
 * end. Owns the trace context (joining the runtime's trace when TRACEPARENT is set) and
 * redaction, so nothing un-redacted reaches the journal.
 *
 * Records are queued and written, in order, by `flush`: the chain flushes once each delegate is
 * on its way, so redacting and writing them runs in the delegate's time, not on the runtime's
 * clock (docs/decisions.md 40); `end` flushes everything. Times are taken when a record is
 * queued, so deferring the write moves none of them.
 */
import type { CniEnv } from '../cni/env.ts';
import { podFromCniArgs } from '../cni/env.ts';
import type { CniError } from '../cni/errors.ts';
import { redactArgv, redactCniArgs, redactJson, redactStreamText, redactText } from '../config/redact.ts';
import type { Json, JsonObject } from '../config/wrapper-entry.ts';
import type { ExecOutcome } from '../invoke/exec.ts';
import { capture, JOURNAL_FORMAT, type Capture, type JournalRecord, type StepStatus } from '../journal/record.ts';
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
  /** The process the runtime waits on (the front's, when there is one); readers test it for life. */
  readonly pid?: number;
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
  /** Records not yet written, as builders: the work of redacting and serialising is deferred too. */
  private queued: Array<() => JournalRecord> = [];

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
    this.record(() => ({
      rec: 'invocation.begin', v: JOURNAL_FORMAT, traceId: this.traceId, spanId: this.spanId,
      ...(this.parentSpanId ? { parentSpanId: this.parentSpanId } : {}),
      traceFlags: this.flags, startNs: String(epochNsAt(this.startMono)), command: env.command,
      containerId: env.containerId, netns: env.netns, ifname: env.ifname, network, cniVersion,
      pod: podFromCniArgs(env.args), env: this.recordedEnv(this.opts.env),
      stdin: redactJson(stdin, this.opts.isCredential) as Json, delegates, pid: this.opts.pid ?? process.pid,
      ...(bootId() ? { bootId: bootId() } : {}),
    }));
  }

  /** Records that a delegate is about to run (or was looked up and not found: path null). */
  stepBegin(index: number, plugin: string, path: string | null, config: JsonObject): StepHandle {
    const spanId = newSpanId();
    const startMono = monotonicNs();
    this.record(() => ({
      rec: 'step.begin', v: JOURNAL_FORMAT, traceId: this.traceId, invocationSpanId: this.spanId, spanId,
      index, plugin, command: this.command, path, startNs: String(epochNsAt(startMono)),
      stdin: redactJson(config, this.opts.isCredential) as Json,
    }));
    return { index, plugin, spanId, startMono, traceparent: formatTraceparent({ traceId: this.traceId, spanId, flags: this.flags }) };
  }

  /**
   * Records one nested call (begin and, when it finished, end) under `parentSpanId`. Its
   * stdin is redacted like a delegate's config; one that is not JSON cannot be redacted, so
   * only its size is kept. A traced command keeps its redacted argv instead (its stdin is
   * the command's own, never read), under the invocation's CNI command.
   */
  nestedStep(index: number, parentSpanId: string, call: NestedCall, outcome: ExecOutcome, status: StepStatus, error?: CniError): void {
    const command = (call.argv ? this.command : call.env.CNI_COMMAND ?? '') as CniEnv['command'];
    const key = { v: JOURNAL_FORMAT, traceId: this.traceId, invocationSpanId: this.spanId, spanId: call.spanId, index, plugin: call.plugin, command } as const;
    const argv = call.argv;
    if (argv) {
      this.record(() => ({ rec: 'step.begin', ...key, path: call.path, startNs: String(call.startNs), stdin: null, parentSpanId, argv: redactArgv(argv, this.opts.isCredential) }));
    } else this.record(() => {
      let stdin: Json;
      try {
        stdin = redactJson(JSON.parse(call.stdin.toString('utf8')) as Json, this.opts.isCredential) as Json;
      } catch {
        stdin = `(not JSON: ${call.stdin.length} bytes)`;
      }
      return { rec: 'step.begin', ...key, path: call.path, startNs: String(call.startNs), stdin, parentSpanId, env: this.recordedEnv(call.env) };
    });
    const endNs = call.endNs;
    if (endNs === null) return;
    this.record(() => ({
      rec: 'step.end', ...key, endNs: String(endNs), durationNs: String(endNs > call.startNs ? endNs - call.startNs : 0n),
      pid: null, exitCode: outcome.exitCode, signal: outcome.signal, status, ...this.error(error),
      stdout: this.capture(call.stdout, call.stdoutBytes), stderr: this.capture(call.stderr, call.stderrBytes),
    }));
  }

  /**
   * Writes the queued records in order. Building one redacts and serialises what a runtime
   * sent; should that fail the call goes on untraced (one stderr line), never fails. Never throws.
   */
  flush(): void {
    const queued = this.queued;
    if (queued.length === 0) return;
    this.queued = [];
    const journal = this.opts.journal;
    for (const build of queued) {
      if (!journal || journal.isDegraded) return;
      try {
        journal.append(build());
      } catch (e) {
        journal.degrade(`cannot record this call: ${(e as Error)?.message ?? String(e)}`);
      }
    }
  }

  /** Queues one record, built by `build` when flushed. */
  private record(build: () => JournalRecord): void {
    if (this.opts.journal && !this.opts.journal.isDegraded) this.queued.push(build);
  }

  /** A stream excerpt for the journal, redacted (results and error documents as JSON, the rest as text). */
  private capture(buf: Buffer, total?: number): Capture {
    const c = capture(buf, this.opts.captureMaxBytes, total);
    return { ...c, text: redactStreamText(c.text, !c.truncated, this.opts.isCredential) };
  }

  /** The error field of a record, its free text redacted. */
  private error(error: CniError | undefined): { error?: CniError } {
    if (!error) return {};
    const msg = redactText(error.msg, this.opts.isCredential);
    return { error: error.details ? { code: error.code, msg, details: redactText(error.details, this.opts.isCredential) } : { code: error.code, msg } };
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
    this.record(() => ({
      rec: 'step.end', v: JOURNAL_FORMAT, traceId: this.traceId, invocationSpanId: this.spanId, spanId: step.spanId,
      index: step.index, plugin: step.plugin, command: this.command,
      endNs: String(epochNsAt(endMono)), durationNs: String(endMono - startMono),
      pid: outcome?.pid ?? null, exitCode: outcome?.exitCode ?? null, signal: outcome?.signal ?? null,
      status, ...this.error(error), ...(skipped ? { skipped } : {}),
      stdout: this.capture(outcome?.stdout ?? EMPTY), stderr: this.capture(outcome?.stderr ?? EMPTY, outcome?.stderrBytes),
    }));
  }

  /** Records the end of the invocation with what the runtime gets. */
  end(exitCode: number, stdout: string | Buffer, error?: CniError): void {
    const endMono = monotonicNs();
    this.record(() => ({
      rec: 'invocation.end', v: JOURNAL_FORMAT, traceId: this.traceId, spanId: this.spanId, command: this.command,
      endNs: String(epochNsAt(endMono)), durationNs: String(endMono - this.startMono), exitCode,
      status: exitCode === 0 ? 'ok' : 'error', ...this.error(error),
      stdout: this.capture(typeof stdout === 'string' ? Buffer.from(stdout) : stdout),
    }));
    this.flush();
  }
}
