/**
 * Nested tracing: seeing the plugins a delegate runs itself (bridge → host-local, calico →
 * calico-ipam, a meta plugin → its delegates), all of which it finds through CNI_PATH.
 *
 * runDir is opened safely (run-dir.ts); in it, a shim directory shared by every call with the
 * same CNI_PATH (shim-dir.ts: the compiled shim, wrapper/nested-shim.c, and one link to it per
 * plugin name), and per invocation a private directory:
 *
 *   <runDir>/<invocation span id>/bin     -> ../shims-<hash>/bin
 *   <runDir>/<invocation span id>/calls/  one set of spool files per nested call
 *
 * Each delegate gets `CNI_PATH=<runDir>/<id>/bin:<CNI_PATH>`. A delegate that looks up
 * "host-local" runs the shim, which finds the real host-local in the rest of CNI_PATH (never
 * itself), runs it with the caller's stdin and env (TRACEPARENT naming the nested call's own
 * span), relays its stdout, stderr and exit status or signal unchanged, and spools the call to
 * calls/. The plugin it runs gets the same CNI_PATH, so nesting goes to any depth. When the
 * delegate's step ends, the wrapper reads calls/, redacts, journals each call as a step under
 * its caller's span and deletes the files; when the invocation ends it removes its directory
 * (the kill-safety watchdog does if the wrapper is killed).
 *
 * A compiled shim: a Node start per nested call costs about the floor again, the sh shim
 * before it ~0.2 of it; this one well under 0.1 (bench/nested-shim.ts, docs/decisions.md 15).
 * Whatever goes wrong here turns nesting off for the call with one stderr line; the delegates
 * then run with CNI_PATH as given.
 *
 * Command tracing (the entry's `commands`) rides on the same invocation directory: delegates
 * get `PATH=<runDir>/<id>/cmd:<PATH>`, `cmd` a link to `<runDir>/cmds-<hash>/bin`, whose links
 * run the same shim in command mode; its calls are spooled to the same calls/ and collected
 * with the nested ones (`argv` set).
 */
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statfsSync, symlinkSync, unlinkSync } from 'node:fs';
import { epochNsAt } from '../trace/clock.ts';
import { parseTraceparent } from '../trace/ids.ts';
import { at, canonicalRunDir, DIR_FLAGS, openChild, openRunDir, UnsafeDir } from './run-dir.ts';
import { findShimBinary, type ShimBinary } from './shim-binary.ts';
import { commandNames, ensureShimDir, pluginNames, shimDirName } from './shim-dir.ts';

/** Below this much free space in runDir nesting stays off: a full tmpfs must not eat plugin output. */
export const MIN_FREE_BYTES = 16 * 1024 * 1024;

/** One nested call as the shim spooled it, not yet redacted. */
export interface NestedCall {
  readonly spanId: string;
  /** The name the caller asked for (argv[0]'s base name). */
  readonly plugin: string;
  /** The real binary the shim ran; null when it had vanished from CNI_PATH (PATH). */
  readonly path: string | null;
  /** A command's argv as it ran (argv[0] the real path when the caller gave a path); absent for a plugin. */
  readonly argv?: readonly string[];
  readonly startNs: bigint;
  /** Null while (or because) the call never finished. */
  readonly endNs: bigint | null;
  /** The exit status when the plugin exited (null when it died of a signal or never finished). */
  readonly exitCode: number | null;
  /** The signal number it died of, from its wait status. */
  readonly signal: number | null;
  /** The call's environment as the caller gave it (TRACEPARENT names the caller's span). */
  readonly env: Readonly<Record<string, string>>;
  readonly stdin: Buffer;
  /** The first MiB of each stream (the shim's spool cap), and how many bytes it had in all. */
  readonly stdout: Buffer;
  readonly stderr: Buffer;
  readonly stdoutBytes: number;
  readonly stderrBytes: number;
}

const EXTS = ['.begin', '.out', '.err', '.end'];

/** Reads a spool file; empty when it is missing. */
function readOr(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch {
    return Buffer.alloc(0);
  }
}

type Begin = { startNs: bigint; plugin: string; path: string | null; env: Record<string, string>; stdin: Buffer; argv?: string[] };

/** NUL-terminated entries (the last terminator optional). */
function nulSplit(block: Buffer): string[] {
  const out: string[] = [];
  for (let i = 0; i < block.length;) {
    let z = block.indexOf(0, i);
    if (z < 0) z = block.length;
    out.push(block.toString('utf8', i, z));
    i = z + 1;
  }
  return out;
}

/**
 * Parses the shim's `<span>.begin`: a plugin's (`v1`: name, path, NUL-separated env, stdin) or
 * a command's (`c1`: name, path, the caller's TRACEPARENT, NUL-separated argv).
 */
export function parseBegin(buf: Buffer): Begin | null {
  const nl = buf.indexOf(10);
  const m = nl < 0 ? null : /^(v1|c1) (\d+) (\d+) (\d+) (\d+) (\d+)$/.exec(buf.toString('latin1', 0, nl));
  if (!m) return null;
  const [nameLen, pathLen, thirdLen, fourthLen] = m.slice(3).map(Number) as [number, number, number, number];
  let off = nl + 1;
  const take = (n: number): Buffer => buf.subarray(off, (off += n));
  const plugin = take(nameLen).toString('utf8');
  const path = take(pathLen).toString('utf8') || null;
  const startNs = BigInt(m[2]!);
  if (m[1] === 'c1') {
    const traceparent = take(thirdLen).toString('latin1');
    return { startNs, plugin, path, env: traceparent ? { TRACEPARENT: traceparent } : {}, stdin: Buffer.alloc(0), argv: nulSplit(take(fourthLen)) };
  }
  const env: Record<string, string> = {};
  for (const entry of nulSplit(take(thirdLen))) {
    const eq = entry.indexOf('=');
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return { startNs, plugin, path, env, stdin: take(fourthLen) };
}

/** Parses `<span>.end`: `exit N <end mono ns> <out bytes> <err bytes>` or `signal S …`. */
export function parseEnd(text: string): { exitCode: number | null; signal: number | null; endNs: bigint; stdoutBytes: number; stderrBytes: number } | null {
  const m = /^(exit|signal) (\d+) (\d+) (\d+) (\d+)\n?$/.exec(text);
  if (!m) return null;
  const n = Number(m[2]);
  return { exitCode: m[1] === 'exit' ? n : null, signal: m[1] === 'signal' ? n : null, endNs: BigInt(m[3]!), stdoutBytes: Number(m[4]), stderrBytes: Number(m[5]) };
}

export class NestedTracer {
  /** `<runDir>/<invocation id>`: what the watchdog removes if the wrapper dies. */
  readonly dir: string;
  readonly binDir: string;
  private readonly originalPath: string;
  private readonly id: string;
  /** runDir and calls/, opened and checked once; every later operation goes through them. */
  private readonly runFd: number;
  private readonly callsFd: number;
  private readonly runDir: string;
  private readonly shim: ShimBinary;
  /** commandPath's answer, worked out once per invocation. */
  private commands: { path: string } | { reason: string } | undefined;
  private disposed = false;
  /** Span ids of nested calls seen so far: a call's parent is one of them or the step. */
  private readonly known = new Set<string>();

  private constructor(runDir: string, id: string, runFd: number, callsFd: number, originalPath: string, shim: ShimBinary) {
    this.runDir = runDir;
    this.shim = shim;
    this.dir = `${runDir}/${id}`;
    this.binDir = `${this.dir}/bin`;
    this.id = id;
    this.runFd = runFd;
    this.callsFd = callsFd;
    this.originalPath = originalPath;
  }

  /**
   * Sets up nested tracing for one invocation. Returns a one-line reason instead when it
   * cannot or must not (no shim binary, runDir unsafe or unusable, noexec, nearly full); the
   * caller runs without nesting.
   */
  static create(runDirConfigured: string, invocationId: string, cniPath: string, paths: readonly string[]): NestedTracer | string {
    const runDir = canonicalRunDir(runDirConfigured);
    // The shim knows its invocation's entry in CNI_PATH by this shape, <runDir>/<16 hex>/bin.
    if (!/^[0-9a-f]{16}$/.test(invocationId)) return `invalid invocation id ${invocationId}`;
    const shim = findShimBinary();
    if (!shim) return 'this build has no nested-call shim binary (dist/cni-trace-shim)';
    let runFd = -1;
    let invFd = -1;
    let callsFd = -1;
    let made = false;
    try {
      runFd = openRunDir(runDir);
      const fs = statfsSync(at(runFd, '.'));
      if (fs.bavail * fs.bsize < MIN_FREE_BYTES) throw new UnsafeDir(`${runDir} has less than ${MIN_FREE_BYTES >> 20} MiB free`);
      const shimDir = shimDirName(cniPath, paths, shim);
      ensureShimDir(runFd, runDir, shimDir, () => pluginNames(paths), shim, invocationId);
      mkdirSync(at(runFd, invocationId), { mode: 0o700 });
      made = true;
      invFd = openChild(runFd, invocationId, `${runDir}/${invocationId}`, 0o700);
      mkdirSync(at(invFd, 'calls'), { mode: 0o700 });
      symlinkSync(`../${shimDir}/bin`, at(invFd, 'bin'));
      callsFd = openSync(at(invFd, 'calls'), DIR_FLAGS);
      closeSync(invFd);
      return new NestedTracer(runDir, invocationId, runFd, callsFd, cniPath, shim);
    } catch (e) {
      for (const fd of [invFd, callsFd]) if (fd >= 0) closeSync(fd);
      if (made) rmSync(at(runFd, invocationId), { recursive: true, force: true });
      if (runFd >= 0) closeSync(runFd);
      const err = e as NodeJS.ErrnoException;
      return `cannot prepare nested tracing in ${runDir}: ${e instanceof UnsafeDir ? err.message : (err.code ?? err.message)}`;
    }
  }

  /** The CNI_PATH a delegate gets: the shims first, then the original. */
  get cniPath(): string {
    return this.originalPath === '' ? this.binDir : `${this.binDir}:${this.originalPath}`;
  }

  /**
   * The PATH a delegate gets with `names` traced: `<dir>/cmd` (a link to the shared
   * `cmds-<hash>/bin`, which links only the names Go's LookPath finds in `path`) before `path`;
   * a reason instead when the directory cannot be made. Once per invocation: every delegate
   * gets the wrapper's PATH.
   */
  commandPath(names: readonly string[], path: string): { path: string } | { reason: string } {
    if (this.commands !== undefined) return this.commands;
    const dirs = path === '' ? [] : path.split(':');
    const cmdDir = shimDirName(path, dirs, this.shim, 'cmds-', names);
    try {
      // The names are looked up only when the directory is built: its hash changes with PATH's directories.
      ensureShimDir(this.runFd, this.runDir, cmdDir, () => commandNames(names, path), this.shim, `${this.id}-cmd`);
      symlinkSync(`../${cmdDir}/bin`, at(this.runFd, `${this.id}/cmd`));
      this.commands = { path: `${this.dir}/cmd:${path}` };
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      this.commands = { reason: `cannot prepare command tracing in ${this.runDir}: ${e instanceof UnsafeDir ? err.message : (err.code ?? err.message)}` };
    }
    return this.commands;
  }

  /**
   * Removes the shim directory's name from a delegate's output, so an error that lists the
   * search path (libcni's "failed to find plugin "x" in path [...]") reads as without tracing.
   */
  scrub(buf: Buffer): Buffer {
    if (buf.indexOf(this.binDir) < 0) return buf;
    const text = buf.toString('latin1');
    return Buffer.from(text.split(`${this.binDir} `).join('').split(`${this.binDir}:`).join('').split(this.binDir).join(''), 'latin1');
  }

  /**
   * The calls spooled since the last collect, oldest first, each with its parent: the span
   * its caller's TRACEPARENT names when that is this step or a nested call, else the step.
   * Called when the step's delegate has exited, so a call without an end record was killed
   * (or left running in the background): it is returned with `endNs` null. Never throws.
   */
  collect(stepSpanId: string): Array<{ call: NestedCall; parentSpanId: string }> {
    let names: string[];
    try {
      names = readdirSync(at(this.callsFd, '.'));
    } catch {
      return [];
    }
    const out: Array<{ call: NestedCall; parentSpanId: string }> = [];
    for (const name of names) {
      if (!name.endsWith('.begin')) continue;
      const spanId = name.slice(0, -'.begin'.length);
      const file = (ext: string): string => at(this.callsFd, spanId + ext);
      const begin = /^[0-9a-f]{16}$/.test(spanId) ? parseBegin(readOr(file('.begin'))) : null;
      if (begin === null) continue;
      const end = parseEnd(readOr(file('.end')).toString('latin1'));
      const stdout = readOr(file('.out'));
      const stderr = readOr(file('.err'));
      const call: NestedCall = {
        spanId, ...begin,
        // The shim's times are CLOCK_MONOTONIC: epoch through this process's anchor, like the step's own.
        startNs: epochNsAt(begin.startNs), endNs: end ? epochNsAt(end.endNs) : null, exitCode: end?.exitCode ?? null, signal: end?.signal ?? null,
        stdout, stderr, stdoutBytes: Math.max(end?.stdoutBytes ?? 0, stdout.length), stderrBytes: Math.max(end?.stderrBytes ?? 0, stderr.length),
      };
      this.known.add(spanId);
      for (const ext of EXTS) {
        try { unlinkSync(file(ext)); } catch { /* not written, or already gone */ }
      }
      out.push({ call, parentSpanId: '' });
    }
    out.sort((a, b) => (a.call.startNs < b.call.startNs ? -1 : a.call.startNs > b.call.startNs ? 1 : 0));
    for (const entry of out) {
      const parent = parseTraceparent(entry.call.env.TRACEPARENT)?.spanId;
      entry.parentSpanId = parent !== undefined && (parent === stepSpanId || this.known.has(parent)) ? parent : stepSpanId;
    }
    return out;
  }

  /** Removes the invocation's directory (the shared shim directory stays). Never throws. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    try {
      rmSync(at(this.runFd, this.id), { recursive: true, force: true });
    } catch { /* best effort; the watchdog or a reboot (tmpfs) clears it */ }
    for (const fd of [this.callsFd, this.runFd]) {
      try { closeSync(fd); } catch { /* already closed */ }
    }
  }
}
