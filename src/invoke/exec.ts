/**
 * Running one plugin binary the way libcni's RawExec does (pkg/invoke/raw_exec.go): stdin
 * is the config, env is given whole, stdout and stderr are captured; "text file busy" is
 * retried. The `PluginExec` interface is the boundary unit tests fake; everything above it
 * is real code. A step's outcome has the same shape whether the plugin succeeded or not.
 */
import { monotonicNs } from '../trace/clock.ts';
import type { DelegateGuard } from './reaper.ts';

export interface ExecRequest {
  readonly path: string;
  readonly stdin: string;
  readonly env: Readonly<Record<string, string>>;
  /** Called with each stderr chunk as it arrives (the wrapper forwards it to its own stderr); not by the front's exec, which forwards it itself. */
  readonly onStderr?: (chunk: Buffer) => void;
  /** Guards the child's process group against the wrapper being killed. */
  readonly reaper?: DelegateGuard;
  /**
   * Called once the plugin is on its way (spawned, or asked of the front), before the wait for
   * it: the wrapper journals there, in the plugin's time rather than the runtime's. Called again
   * on a retry; it must not throw.
   */
  readonly onStarted?: () => void;
  /** stderr kept in memory at most (it is forwarded as it comes either way); default STDERR_KEEP_BYTES. */
  readonly keepStderrBytes?: number;
}

/**
 * How much of a delegate's stderr the wrapper keeps (for the journal excerpt and for libcni's
 * "netplugin failed: <stderr>" message). A plugin flooding stderr must not grow the wrapper.
 */
export const STDERR_KEEP_BYTES = 1024 * 1024;

export interface ExecOutcome {
  /** Exit status, or null when the plugin died of a signal or never started. */
  readonly exitCode: number | null;
  /** Node's signal name (SIGKILL …) when the plugin died of one. */
  readonly signal: string | null;
  readonly stdout: Buffer;
  /** The first `keepStderrBytes` of stderr. */
  readonly stderr: Buffer;
  /** How many bytes the plugin wrote to stderr in all. */
  readonly stderrBytes: number;
  /** Set when the binary could not be executed; worded as Go's "fork/exec PATH: reason". */
  readonly spawnError: string | null;
  readonly pid: number | null;
  /** Monotonic ns at spawn and at the end (all stdio closed). */
  readonly startMono: bigint;
  readonly endMono: bigint;
}

/** The exec boundary: the real one spawns processes; unit tests hand in a fake. */
export interface PluginExec {
  run(req: ExecRequest): Promise<ExecOutcome>;
}

/** Go's syscall error strings for the errno values execve can return. */
const ERRNO_TEXT: Record<string, string> = {
  EACCES: 'permission denied', ENOENT: 'no such file or directory', ENOEXEC: 'exec format error',
  ETXTBSY: 'text file busy', EISDIR: 'is a directory', ENOTDIR: 'not a directory',
  ELOOP: 'too many levels of symbolic links', E2BIG: 'argument list too long',
  ENOMEM: 'cannot allocate memory', EPERM: 'operation not permitted', EAGAIN: 'resource temporarily unavailable',
};

/**
 * node:child_process, loaded on first use. With the front (the default) no delegate is spawned
 * from Node, and loading it — it pulls in net, dgram and the streams — is ~4 ms of every call's
 * start (docs/decisions.md 32).
 */
export const childProcess = (): typeof import('node:child_process') => process.getBuiltinModule('node:child_process');

const TEXT_BUSY_RETRIES = 5;
const TEXT_BUSY_WAIT_MS = 1000;

/** Go's "fork/exec PATH: reason" for an errno name (ENOENT …) execve failed with. */
export function spawnErrorText(path: string, code: string): string {
  return `fork/exec ${path}: ${ERRNO_TEXT[code] ?? code.toLowerCase()}`;
}

/** An exec that retries, as libcni does, while the binary is being replaced ("text file busy"). */
export function retrying(runOnce: (req: ExecRequest) => Promise<ExecOutcome>): PluginExec {
  return {
    async run(req) {
      for (let attempt = 0; ; attempt++) {
        const outcome = await runOnce(req);
        if (outcome.spawnError?.endsWith('text file busy') && attempt < TEXT_BUSY_RETRIES) {
          // The binary is being replaced right now (an installer writing it); libcni waits 1 s.
          await new Promise((r) => setTimeout(r, TEXT_BUSY_WAIT_MS));
          continue;
        }
        return outcome;
      }
    },
  };
}

/** Keeps the first `keep` bytes of a stream and counts all of it. */
export class StderrKeeper {
  readonly chunks: Buffer[] = [];
  kept = 0;
  total = 0;
  private readonly keep: number;
  constructor(keep: number) { this.keep = keep; }
  add(c: Buffer): void {
    this.total += c.length;
    if (this.kept < this.keep) {
      const part = this.kept + c.length > this.keep ? c.subarray(0, this.keep - this.kept) : c;
      this.chunks.push(part);
      this.kept += part.length;
    }
  }
}

/** Spawns real processes from Node, each in its own process group (see OrphanReaper). */
export const processExec: PluginExec = retrying(runOnce);

function runOnce(req: ExecRequest): Promise<ExecOutcome> {
  return new Promise((resolve) => {
    const startMono = monotonicNs();
    const out: Buffer[] = [];
    const err = new StderrKeeper(req.keepStderrBytes ?? STDERR_KEEP_BYTES);
    let spawnError: string | null = null;
    const child = childProcess().spawn(req.path, [], { env: req.env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    const pid = child.pid ?? null;
    if (pid !== null) req.reaper?.track(pid);
    child.on('error', (e: NodeJS.ErrnoException) => {
      spawnError = spawnErrorText(req.path, e.code ?? e.message);
    });
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => {
      err.add(c);
      req.onStderr?.(c);
    });
    // A plugin may exit without reading stdin; EPIPE on its stdin is not our failure.
    child.stdin.on('error', () => {});
    child.stdin.end(req.stdin);
    req.onStarted?.();
    child.on('close', (code, signal) => {
      if (pid !== null) req.reaper?.untrack(pid);
      resolve({
        exitCode: spawnError ? null : code,
        signal: spawnError ? null : signal,
        stdout: Buffer.concat(out),
        stderr: Buffer.concat(err.chunks),
        stderrBytes: err.total,
        spawnError,
        pid,
        startMono,
        endMono: monotonicNs(),
      });
    });
  });
}

/** True when libcni would treat the run as failed (non-zero exit, signal, or exec failure). */
export function execFailed(o: ExecOutcome): boolean {
  return o.spawnError !== null || o.signal !== null || o.exitCode !== 0;
}
