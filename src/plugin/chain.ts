/**
 * Running the delegates for one command, as libcni runs a conflist's plugins
 * (libcni/api.go AddNetworkList, CheckNetworkList, DelNetworkList; GC and STATUS as in
 * libcni ≥ 1.2): ADD in order threading prevResult, CHECK in order and DEL in reverse with
 * the received prevResult, each stopping at the first error; STATUS stops at the first
 * error; GC goes on past errors and reports them all.
 */
import { splitCniPath, type CniEnv } from '../cni/env.ts';
import { cniError, errorJson, ErrorCode, type CniError } from '../cni/errors.ts';
import { goExitText, goQuote } from '../cni/go-format.ts';
import { goDecodeErrorStructError, goDepthError, goSyntaxError } from '../cni/go-json.ts';
import { stringifyJson } from '../cni/json-text.ts';
import { deriveDelegateConfig } from '../config/derive.ts';
import type { Delegate, Json, JsonObject, WrapperEntry } from '../config/wrapper-entry.ts';
import { execFailed, STDERR_KEEP_BYTES, type ExecOutcome, type PluginExec } from '../invoke/exec.ts';
import { findInPath } from '../invoke/find.ts';
import type { DelegateGuard } from '../invoke/reaper.ts';
import type { NestedTracer } from './nested.ts';
import type { InvocationRecorder } from './recorder.ts';

export interface ChainContext {
  readonly entry: WrapperEntry;
  readonly env: CniEnv;
  /** The wrapper's whole environment: delegates get it as libcni would have given it. */
  readonly processEnv: Readonly<Record<string, string | undefined>>;
  readonly exec: PluginExec;
  readonly recorder: InvocationRecorder;
  readonly reaper?: DelegateGuard;
  /** Set when nested calls are traced: delegates get its CNI_PATH. */
  readonly nested?: NestedTracer;
  /** Set when commands are traced: the PATH delegates get (set by runChain). */
  readonly commandPath?: string;
  readonly forwardStderr: (chunk: Buffer) => void;
}

/** What the wrapper prints and exits with. */
export interface ChainOutcome {
  readonly stdout: string | Buffer;
  readonly exitCode: number;
  readonly error?: CniError;
}

interface StepFailure {
  readonly failed: true;
  readonly stdout: string | Buffer;
  readonly exitCode: number;
  readonly error: CniError;
}

interface StepSuccess {
  readonly failed: false;
  readonly outcome: ExecOutcome;
}

/** Runs the command's delegates and returns the runtime-facing outcome, every step journaled. */
export async function runChain(given: ChainContext): Promise<ChainOutcome> {
  try {
    return await runCommand(withCommands(given));
  } finally {
    given.recorder.flush();
  }
}

function runCommand(ctx: ChainContext): Promise<ChainOutcome> {
  const { entry } = ctx;
  switch (ctx.env.command) {
    case 'ADD': return runAdd(ctx);
    case 'CHECK': return runSequence(ctx, entry.delegates.map((d, i) => [d, i] as const));
    case 'DEL': return runSequence(ctx, entry.delegates.map((d, i) => [d, i] as const).reverse());
    case 'STATUS': return runStatus(ctx);
    case 'GC': return runGc(ctx);
    default: return Promise.resolve(fail(ctx, cniError(ErrorCode.InvalidEnvironmentVariables, `unknown CNI_COMMAND: ${ctx.env.command}`)));
  }
}

async function runAdd(ctx: ChainContext): Promise<ChainOutcome> {
  let prevResult: Json | undefined;
  let lastStdout: Buffer = Buffer.alloc(0);
  for (const [index, delegate] of ctx.entry.delegates.entries()) {
    const step = await runStep(ctx, index, delegate, prevResult);
    if (step.failed) return step;
    lastStdout = step.outcome.stdout;
    const parsed = parseResult(lastStdout, ctx.entry.cniVersion);
    if ('error' in parsed) return fail(ctx, parsed.error);
    prevResult = parsed.result;
  }
  // The runtime gets the last delegate's result byte for byte.
  return { stdout: lastStdout, exitCode: 0 };
}

async function runSequence(ctx: ChainContext, order: ReadonlyArray<readonly [Delegate, number]>): Promise<ChainOutcome> {
  for (const [delegate, index] of order) {
    const step = await runStep(ctx, index, delegate, ctx.entry.prevResult);
    if (step.failed) return step;
  }
  return { stdout: '', exitCode: 0 };
}

async function runStatus(ctx: ChainContext): Promise<ChainOutcome> {
  for (const [index, delegate] of ctx.entry.delegates.entries()) {
    const step = await runStep(ctx, index, delegate, undefined);
    if (step.failed) return step;
  }
  return { stdout: '', exitCode: 0 };
}

async function runGc(ctx: ChainContext): Promise<ChainOutcome> {
  const raw = ctx.entry.raw;
  const attachments = raw['cni.dev/valid-attachments'] ?? raw['cni.dev/attachments'];
  // Both keys, as libcni sends them (containernetworking/cni#1101: the spec once named it wrongly).
  const inject: JsonObject | undefined = attachments === undefined ? undefined
    : { 'cni.dev/valid-attachments': attachments, 'cni.dev/attachments': attachments };
  const failures: StepFailure[] = [];
  for (const [index, delegate] of ctx.entry.delegates.entries()) {
    const step = await runStep(ctx, index, delegate, undefined, inject);
    if (step.failed) failures.push({ ...step, error: { ...step.error, msg: `failed to GC plugin ${delegate.type}: ${step.error.msg}` } });
  }
  if (failures.length === 0) return { stdout: '', exitCode: 0 };
  if (failures.length === 1) return failures[0]!;
  const error = cniError(failures[0]!.error.code, failures.map((f) => f.error.msg).join('\n'));
  return { stdout: errorJson(error, ctx.entry.cniVersion), exitCode: 1, error };
}

/** Resolves, derives, runs and records one delegate. */
async function runStep(ctx: ChainContext, index: number, delegate: Delegate, prevResult: Json | undefined, inject?: JsonObject): Promise<StepFailure | StepSuccess> {
  const { entry, recorder } = ctx;
  const config = deriveDelegateConfig({
    delegate, name: entry.name, cniVersion: entry.cniVersion, runtimeConfig: entry.runtimeConfig, prevResult, ...(inject ? { inject } : {}),
  });
  const found = findInPath(delegate.type, splitCniPath(ctx.env.path));
  if ('error' in found) {
    const step = recorder.stepBegin(index, delegate.type, null, config);
    const error = cniError(ErrorCode.InvalidNetworkConfig, found.error);
    recorder.stepEnd(step, null, 'error', error);
    return { failed: true, ...fail(ctx, error) } as StepFailure;
  }
  const step = recorder.stepBegin(index, delegate.type, found.path, config);
  const ran = await ctx.exec.run({
    path: found.path,
    stdin: stringifyJson(config),
    env: delegateEnv(ctx.processEnv, {
      TRACEPARENT: step.traceparent, ...(ctx.nested ? { CNI_PATH: ctx.nested.cniPath } : {}), ...(ctx.commandPath ? { PATH: ctx.commandPath } : {}),
    }),
    onStderr: ctx.forwardStderr,
    onStarted: () => recorder.flush(),
    ...(ctx.reaper ? { reaper: ctx.reaper } : {}),
    keepStderrBytes: Math.max(STDERR_KEEP_BYTES, entry.captureMaxBytes),
  });
  const outcome = ctx.nested ? recordNested(ctx, ctx.nested, step.index, step.spanId, ran) : ran;
  if (!execFailed(outcome)) {
    recorder.stepEnd(step, outcome, 'ok');
    return { failed: false, outcome };
  }
  const failure = delegateFailure(outcome, entry.cniVersion);
  recorder.stepEnd(step, outcome, 'error', failure.error);
  return failure;
}

/**
 * Journals the calls a delegate made through the shims (before the delegate's own end, so a
 * reader that sees the step end sees its children), and returns the delegate's outcome with
 * the shim directory taken out of a failure's output: an error that quotes the search path
 * then reads exactly as it would without tracing.
 */
function recordNested(ctx: ChainContext, nested: NestedTracer, index: number, stepSpanId: string, o: ExecOutcome): ExecOutcome {
  for (const { call, parentSpanId } of nested.collect(stepSpanId)) {
    // Exit status and signal come apart from the wait status (the shim's .end), never from a number.
    const outcome: ExecOutcome = {
      exitCode: call.exitCode, signal: call.signal === null ? null : signalName(call.signal),
      stdout: call.stdout, stderr: call.stderr, stderrBytes: call.stderrBytes,
      spawnError: null, pid: null, startMono: 0n, endMono: 0n,
    };
    const failed = call.endNs !== null && execFailed(outcome);
    // A command's non-zero exit is its own answer (iptables -C: "no such rule"), not a CNI error.
    const error = failed && !call.argv ? delegateFailure(outcome, ctx.entry.cniVersion).error : undefined;
    ctx.recorder.nestedStep(index, parentSpanId, call, outcome, failed ? 'error' : 'ok', error);
  }
  if (!execFailed(o)) return o;
  return { ...o, stdout: nested.scrub(o.stdout), stderr: nested.scrub(o.stderr) };
}

/**
 * The context with `PATH` for the delegates, the traced commands' shims first, when the entry
 * asks for command tracing and the wrapper has a PATH (an unset one stays unset: sh would fall
 * back to its default). When the shims cannot be made, one stderr line and PATH as given.
 */
function withCommands(ctx: ChainContext): ChainContext {
  const path = ctx.processEnv.PATH;
  if (!ctx.nested || ctx.entry.commands.length === 0 || !path) return ctx;
  const got = ctx.nested.commandPath(ctx.entry.commands, path);
  if ('path' in got) return { ...ctx, commandPath: got.path };
  ctx.forwardStderr(Buffer.from(`cni-trace: command tracing off for this call, the network operation is unaffected: ${got.reason}\n`));
  return ctx;
}

/** Only for a nested call that died of a signal: node:os is loaded then, not on every call. */
function signalName(n: number): string {
  for (const [name, num] of Object.entries(process.getBuiltinModule('node:os').constants.signals)) if (num === n) return name;
  return `SIG${n}`;
}

/**
 * The error the runtime would have got from the bare chain (libcni RawExec.pluginErr):
 * the delegate's error JSON verbatim with its exit code; otherwise libcni's own message,
 * code 0, quoting stderr or stdout as Go does.
 */
export function delegateFailure(o: ExecOutcome, cniVersion: string): StepFailure {
  const exitCode = o.exitCode !== null && o.exitCode > 0 ? o.exitCode : 1;
  const because = o.spawnError ?? goExitText(o.exitCode, o.signal);
  let msg: string;
  if (o.stdout.length === 0) {
    msg = o.stderr.length === 0 ? `netplugin failed with no error message: ${because}` : `netplugin failed: ${goQuote(o.stderr)}`;
  } else {
    const text = o.stdout.toString('utf8');
    const decodeError = goDecodeErrorStructError(text);
    if (decodeError === null) {
      const e = (JSON.parse(text) ?? {}) as { code?: number; msg?: string; details?: string };
      return { failed: true, stdout: o.stdout, exitCode, error: cniError(e.code ?? 0, e.msg ?? '', e.details) };
    }
    msg = `netplugin failed but error parsing its diagnostic message ${goQuote(o.stdout)}: ${decodeError}`;
  }
  const error = cniError(ErrorCode.Unspecified, msg);
  return { failed: true, stdout: errorJson(error, cniVersion), exitCode, error };
}

/**
 * libcni's fixupResultVersion: a result is a JSON object; one without cniVersion gets the
 * config's. Undecodable or deeper than Go decodes, it fails with Go's words, as libcni does.
 */
function parseResult(stdout: Buffer, cniVersion: string): { result: Json } | { error: CniError } {
  let parsed: unknown;
  const text = stdout.toString('utf8');
  try {
    parsed = JSON.parse(text);
  } catch {
    return { error: cniError(ErrorCode.Internal, `failed to unmarshal raw result: ${goSyntaxError(text)?.message ?? 'invalid JSON'}`) };
  }
  const deep = goDepthError(stdout);
  if (deep) return { error: cniError(ErrorCode.Internal, `failed to unmarshal raw result: ${deep}`) };
  const result = (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? parsed : {}) as JsonObject;
  if (typeof result.cniVersion !== 'string' || result.cniVersion === '') result.cniVersion = cniVersion;
  return { result };
}

function delegateEnv(env: Readonly<Record<string, string | undefined>>, overrides: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return Object.assign(out, overrides);
}

function fail(ctx: ChainContext, error: CniError): ChainOutcome & { error: CniError } {
  return { stdout: errorJson(error, ctx.entry.cniVersion), exitCode: 1, error };
}
