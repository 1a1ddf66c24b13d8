/**
 * The plugin's dispatcher, in the manner of libcni's skel: it owns env, stdin, stdout and
 * stderr, validates what the runtime sent, answers VERSION at once, runs the chain, and
 * turns every failure into a CNI error value — never a stack trace. Everything it touches
 * comes in through `PluginIO`, so tests can hand it anything.
 */
import { readCniEnv, splitCniPath, validateNetworkName, type CniEnv } from '../cni/env.ts';
import { cniError, errorJson, ErrorCode, isCniError, type CniError } from '../cni/errors.ts';
import { describeSyntaxError, goDepthError } from '../cni/go-json.ts';
import { LATEST_VERSION, SUPPORTED_VERSIONS, versionAtLeast, versionInfoJson } from '../cni/version.ts';
import { credentialKeyMatcher } from '../config/redact.ts';
import { DEFAULTS, parseWrapperEntry, type JsonObject, type WrapperEntry } from '../config/wrapper-entry.ts';
import type { PluginExec } from '../invoke/exec.ts';
import type { DelegateGuard } from '../invoke/reaper.ts';
import { Journal } from '../journal/writer.ts';
import { PRODUCT, VERSION } from '../product.ts';
import { runChain } from './chain.ts';
import { NestedTracer } from './nested.ts';
import { InvocationRecorder } from './recorder.ts';

export interface PluginIO {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly readStdin: () => Promise<Buffer>;
  readonly writeStdout: (data: string | Buffer) => void;
  readonly writeStderr: (data: string | Buffer) => void;
  readonly exec: PluginExec;
  /** Kill safety for the call's delegates (the real wrapper has one; unit tests with fakes need not). */
  readonly guard?: () => DelegateGuard;
  /** The pid the runtime exec'd, when it is not this process's (the front's). */
  readonly pid?: number;
  /** `exec` runs real processes, so nested calls can go through shims (fakes cannot). */
  readonly nestedTracing?: boolean;
}

/**
 * stdout as the runtime reads it: exactly one document. A second write is dropped — one
 * internal fault after the answer went out must not append another.
 */
class Answer {
  written = false;
  /** The exit code that goes with what was written. */
  code = 1;
  private readonly io: PluginIO;
  constructor(io: PluginIO) { this.io = io; }

  send(text: string | Buffer, code: number): number {
    if (!this.written) {
      this.written = true;
      this.code = code;
      this.io.writeStdout(text);
    }
    return this.code;
  }
}

/** Runs one CNI call; resolves to the process exit code. Never rejects. */
export async function runPlugin(io: PluginIO): Promise<number> {
  const answer = new Answer(io);
  try {
    return await dispatch(io, answer);
  } catch (e) {
    const why = `cni-trace internal error: ${(e as Error)?.message ?? String(e)}`;
    if (answer.written) {
      try { io.writeStderr(`cni-trace: ${why} (after the answer was written; it stands)\n`); } catch { /* nowhere left to say it */ }
      return answer.code;
    }
    // Our own bug: the runtime still gets a valid CNI error, without a stack trace.
    return answer.send(errorJson(cniError(ErrorCode.Internal, why), LATEST_VERSION), 1);
  }
}

async function dispatch(io: PluginIO, answer: Answer): Promise<number> {
  const command = io.env.CNI_COMMAND;
  if (command === 'VERSION') {
    // Needs no valid env: podman probes with CNI_NETNS=dummy and friends.
    return answer.send(versionInfoJson(), 0);
  }
  if (!command) {
    io.writeStderr(`CNI plugin ${PRODUCT} v${VERSION}\nCNI protocol versions supported: ${SUPPORTED_VERSIONS.join(', ')}\n`);
    return 0;
  }
  const env = readCniEnv(io.env);
  const stdin = await io.readStdin();
  const conf = decodeConfig(stdin);
  const cniVersion = !isCniError(conf) && typeof conf.cniVersion === 'string' && conf.cniVersion ? conf.cniVersion : LATEST_VERSION;
  // skel's order: env first, then the config (decoded, then its name).
  if (isCniError(env)) return finishEarly(io, answer, env, cniVersion, conf);
  if (isCniError(conf)) return finishEarly(io, answer, conf, cniVersion, null);
  // Checked apart from decoding so that the refusal, too, answers in the config's version.
  const nameError = validateNetworkName((conf.name as string | undefined) ?? '');
  if (nameError) return finishEarly(io, answer, nameError, cniVersion, conf);
  const versionError = checkVersion(env, conf);
  // Like a bad entry, a version the plugin does not speak fails every pod: journal it.
  if (versionError) return finishEarly(io, answer, versionError, cniVersion, conf);
  const entry = parseWrapperEntry(conf);
  // A bad entry fails every pod on the node: journal it (where journalDir, or its default,
  // says) so tail, the TUI and the agent show it; finishEarly refuses a journalDir that is
  // not an absolute path.
  if (isCniError(entry)) return finishEarly(io, answer, entry, cniVersion, conf);
  return runTraced(io, answer, env, entry);
}

/**
 * Decodes stdin as skel's validateConfig does: code 6 for bad JSON (named by kind and
 * position, never by quoting the bytes: the message reaches kubelet events) and for JSON
 * deeper than Go decodes. The network name (code 7) is the caller's to check.
 */
function decodeConfig(stdin: Buffer): JsonObject | CniError {
  let parsed: unknown;
  const text = stdin.toString('utf8');
  try {
    parsed = JSON.parse(text);
  } catch {
    return cniError(ErrorCode.DecodingFailure, `error unmarshall network config: ${describeSyntaxError(text)}`);
  }
  const deep = goDepthError(stdin);
  if (deep) return cniError(ErrorCode.DecodingFailure, `error unmarshall network config: ${deep}`);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return cniError(ErrorCode.DecodingFailure, 'error unmarshall network config: not a JSON object');
  }
  const conf = parsed as JsonObject;
  if (conf.name !== undefined && typeof conf.name !== 'string') return cniError(ErrorCode.DecodingFailure, 'error unmarshall network config: name must be a string');
  if (conf.cniVersion !== undefined && typeof conf.cniVersion !== 'string') return cniError(ErrorCode.DecodingFailure, 'decoding version from network config: cniVersion must be a string');
  return conf;
}

/** Code 1 when the config's version is not one we speak, or too old for the command. */
function checkVersion(env: CniEnv, conf: JsonObject): CniError | null {
  const version = (conf.cniVersion as string | undefined) || '0.1.0'; // libcni's default for a missing cniVersion
  if (!(SUPPORTED_VERSIONS as readonly string[]).includes(version)) {
    return cniError(ErrorCode.IncompatibleCniVersion, 'incompatible CNI versions',
      `config is "${version}", plugin supports [${SUPPORTED_VERSIONS.map((v) => `"${v}"`).join(' ')}]`);
  }
  const needs = env.command === 'CHECK' ? '0.4.0' : env.command === 'STATUS' || env.command === 'GC' ? '1.1.0' : null;
  if (needs && !versionAtLeast(version, needs)) {
    return cniError(ErrorCode.IncompatibleCniVersion, `config version does not allow ${env.command}`);
  }
  return null;
}

/**
 * A call refused before any delegate ran: print the error, and journal it (begin and end,
 * no steps) when the config is readable enough to say where the journal is — redacted with
 * the entry's own `redact` list as far as it can be read (more redaction is the safe side).
 */
function finishEarly(io: PluginIO, answer: Answer, error: CniError, cniVersion: string, conf: JsonObject | CniError | null): number {
  const out = errorJson(error, cniVersion);
  answer.send(out, 1);
  const dir = conf && !isCniError(conf) ? (conf.journalDir ?? DEFAULTS.journalDir) : null;
  if (typeof dir === 'string' && dir.startsWith('/') && conf && !isCniError(conf)) {
    const redact = Array.isArray(conf.redact) ? conf.redact.filter((r): r is string => typeof r === 'string') : [];
    const recorder = new InvocationRecorder({
      journal: openJournal(io, { dir, maxFileBytes: DEFAULTS.journalMaxFileBytes, maxFiles: DEFAULTS.journalMaxFiles }),
      env: io.env, isCredential: credentialKeyMatcher(redact), captureMaxBytes: DEFAULTS.captureMaxBytes,
      ...(io.pid ? { pid: io.pid } : {}),
    });
    const delegates = Array.isArray(conf.delegates) ? conf.delegates.map((d) => String((d as JsonObject | null)?.type ?? '')) : [];
    recorder.begin(rawEnv(io.env), String(conf.name ?? ''), cniVersion, conf, delegates);
    recorder.end(1, out, error);
  }
  return 1;
}

/** The CNI_* variables as they came, for journaling a call whose env did not validate. */
function rawEnv(env: PluginIO['env']): CniEnv {
  return {
    command: (env.CNI_COMMAND ?? '') as CniEnv['command'], containerId: env.CNI_CONTAINERID ?? '', netns: env.CNI_NETNS ?? '',
    ifname: env.CNI_IFNAME ?? '', args: env.CNI_ARGS ?? '', path: env.CNI_PATH ?? '',
  };
}

/** A journal whose failures become one "tracing degraded" line on stderr. */
function openJournal(io: PluginIO, opts: { dir: string; maxFileBytes: number; maxFiles: number }): Journal {
  return new Journal({
    ...opts,
    onDegraded: (reason) => io.writeStderr(`cni-trace: tracing degraded, the network operation is unaffected: ${reason}\n`),
    onRepaired: (what) => io.writeStderr(`cni-trace: journal repaired: ${what}\n`),
  });
}

async function runTraced(io: PluginIO, answer: Answer, env: CniEnv, entry: WrapperEntry): Promise<number> {
  const journal = openJournal(io, { dir: entry.journalDir, maxFileBytes: entry.journalMaxFileBytes, maxFiles: entry.journalMaxFiles });
  const recorder = new InvocationRecorder({
    journal, env: io.env, isCredential: credentialKeyMatcher(entry.redact), captureMaxBytes: entry.captureMaxBytes,
    ...(io.pid ? { pid: io.pid } : {}),
  });
  const reaper = io.guard?.();
  recorder.begin(env, entry.name, entry.cniVersion, entry.raw, entry.delegates.map((d) => d.type));
  // The begin record waits for the first delegate's start (recorder.ts); the directory is made
  // and checked now all the same (a repair is said before any delegate speaks), and with a
  // journal that cannot work nested tracing is not worth setting up.
  const journalWorks = journal.ready();
  const nested = entry.nested && io.nestedTracing && journalWorks ? startNested(io, entry, env, recorder.spanId) : undefined;
  if (nested) reaper?.removeOnDeath(nested.dir);
  try {
    const outcome = await runChain({
      entry, env, processEnv: io.env, exec: io.exec, recorder,
      ...(reaper ? { reaper } : {}),
      ...(nested ? { nested } : {}),
      forwardStderr: (chunk) => io.writeStderr(chunk),
    });
    answer.send(outcome.stdout, outcome.exitCode);
    recorder.end(outcome.exitCode, outcome.stdout, outcome.error);
    return outcome.exitCode;
  } catch (e) {
    if (answer.written) throw e; // runPlugin says so on stderr; the answer stands
    const error = cniError(ErrorCode.Internal, `cni-trace internal error: ${(e as Error)?.message ?? String(e)}`);
    const out = errorJson(error, entry.cniVersion);
    answer.send(out, 1);
    recorder.end(1, out, error);
    return 1;
  } finally {
    nested?.dispose();
    reaper?.release();
  }
}

/** The shim directory for this call, or undefined (and one stderr line) when it cannot be made. */
function startNested(io: PluginIO, entry: WrapperEntry, env: CniEnv, invocationId: string): NestedTracer | undefined {
  const tracer = NestedTracer.create(entry.runDir, invocationId, env.path, splitCniPath(env.path));
  if (typeof tracer !== 'string') return tracer;
  io.writeStderr(`cni-trace: nested tracing off for this call, the network operation is unaffected: ${tracer}\n`);
  return undefined;
}
