/**
 * The Node side of the front (wrapper/front.c, docs/decisions.md 32). When the runtime execs
 * the compiled front, it starts this executable with a socket as fd 3 (env CNI_TRACE_FRONT=3:<its pid>:<clock anchor>)
 * and spawns the delegates for it: a posix_spawn from a 1 MB process instead of a fork of
 * Node's 50 MB. The answer goes back over the socket and the front exits with it, so the
 * runtime does not wait for Node's teardown. The framing is the front's; see its header.
 *
 * The socket is read and written synchronously (fs on fd 3, blocking as the front made it), not
 * through net.Socket: loading net and the streams is ~4 ms of every call's start, and the call is
 * one request at a time anyway — Node waits on each delegate it asked for. So that neither side
 * can block on a full socket while the other does, Node writes nothing while a delegate runs: the
 * front itself writes the delegate's stderr to the runtime as it reads it (Node keeps a copy for
 * the journal; `onStderr` is not called), and our own lines from that time wait until it ends.
 */
import { fstatSync, readSync, rmSync, writeSync } from 'node:fs';
import { StderrKeeper, STDERR_KEEP_BYTES, retrying, spawnErrorText, type ExecOutcome, type ExecRequest, type PluginExec } from './exec.ts';
import type { DelegateGuard } from './reaper.ts';
import { anchorClock, monotonicNs } from '../trace/clock.ts';

/** The env variable the front sets for its Node; never passed on to a delegate. */
export const FRONT_ENV = 'CNI_TRACE_FRONT';
const FRONT_FD = 3;

interface Pending {
  readonly req: ExecRequest;
  readonly resolve: (o: ExecOutcome) => void;
  readonly startMono: bigint;
  readonly out: Buffer[];
  readonly err: StderrKeeper;
  pid: number | null;
  started: bigint | null;
}

export class Front {
  /** Runs delegates through the front. */
  readonly exec: PluginExec;
  /** The front's pid: the process the runtime exec'd and waits on (journaled for readers). */
  readonly pid: number;
  private inbox: Buffer = Buffer.alloc(0);
  private readonly chunk = Buffer.allocUnsafe(65536);
  private pending: Pending | null = null;
  /** Our stderr while a delegate runs, sent when it ends. */
  private held: Buffer[] = [];
  private answered = false;
  private spool: string | null = null;

  /**
   * The front this process was started by, or null. The variable is removed from `env` either
   * way: it is ours, not the runtime's, so it is neither journaled nor passed to delegates.
   */
  static take(env: Record<string, string | undefined>): Front | null {
    const value = env[FRONT_ENV];
    if (value === undefined) return null;
    delete env[FRONT_ENV];
    // "3:<the front's pid>:<wall ns>:<monotonic ns>" — its own pid, not our ppid: a front killed
    // before we looked would leave us reparented, and a pid that stays alive would keep the call
    // "running" forever. The clock pair anchors our records' times (a front of an older build
    // sends none).
    const m = /^(\d+):(\d+)(?::(\d{1,20}):(\d{1,20}))?$/.exec(value);
    try {
      if (!m || Number(m[1]) !== FRONT_FD || !fstatSync(FRONT_FD).isSocket()) return null;
      if (m[3] !== undefined && m[4] !== undefined) anchorClock(BigInt(m[3]), BigInt(m[4]));
      return new Front(Number(m[2]));
    } catch {
      return null;
    }
  }

  private constructor(pid: number) {
    this.pid = pid;
    this.exec = retrying((req) => this.runOnce(req));
  }

  /** Kill safety: the front spawned the delegates and knows them; the guard only keeps the spool dir. */
  readonly guard: DelegateGuard = {
    track: () => {},
    untrack: () => {},
    removeOnDeath: (dir) => { this.spool = dir; },
    release: () => { this.spool = null; },
  };

  /** Our stderr lines go out through the front (Node's own fd 2 is /dev/null). */
  writeStderr = (data: string | Buffer): void => {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    if (this.pending) this.held.push(bytes);
    else this.send('W', bytes);
  };

  /** Sends the answer; once it returns, the answer is with the kernel (the process may exit). */
  answer(code: number, stdout: string | Buffer): Promise<void> {
    this.send('A', Buffer.from([code & 0xff]), typeof stdout === 'string' ? Buffer.from(stdout) : stdout);
    this.answered = true;
    return Promise.resolve();
  }

  private runOnce(req: ExecRequest): Promise<ExecOutcome> {
    return new Promise((resolve) => {
      const head = [`${req.path}\0`];
      for (const [k, v] of Object.entries(req.env)) head.push(`${k}=${v}\0`);
      head.push('\0');
      this.pending = {
        req, resolve, startMono: monotonicNs(), out: [], err: new StderrKeeper(req.keepStderrBytes ?? STDERR_KEEP_BYTES), pid: null, started: null,
      };
      this.send('S', Buffer.from(head.join('')), Buffer.from(req.stdin));
      // While the front spawns it and it runs; our stderr lines from here on are held.
      req.onStarted?.();
      // Until the front says the delegate ended (finish() clears pending) or the socket ends.
      while (this.pending) this.receive(this.read());
      const held = this.held;
      this.held = [];
      for (const b of held) this.send('W', b);
    });
  }

  /** One message to the front; a failure means the front is gone (its deadline killed it). */
  private send(type: string, ...payload: Buffer[]): void {
    // The parts one after the other, not joined: an answer may be a plugin's 100 MB result.
    const head = Buffer.alloc(5);
    head[0] = type.charCodeAt(0);
    head.writeUInt32LE(payload.reduce((n, b) => n + b.length, 0), 1);
    try {
      for (const part of [head, ...payload]) {
        for (let at = 0; at < part.length;) at += retryAgain(() => writeSync(FRONT_FD, part, at, part.length - at));
      }
    } catch {
      this.lost();
    }
  }

  /** The next bytes from the front; its end (EOF or an error) is lost(). */
  private read(): Buffer {
    let n = 0;
    try { n = retryAgain(() => readSync(FRONT_FD, this.chunk, 0, this.chunk.length, null)); } catch { /* below */ }
    if (n === 0) this.lost();
    return this.chunk.subarray(0, n);
  }

  private receive(chunk: Buffer): void {
    this.inbox = this.inbox.length ? Buffer.concat([this.inbox, chunk]) : Buffer.from(chunk);
    while (this.inbox.length >= 5) {
      const len = this.inbox.readUInt32LE(1);
      if (this.inbox.length < 5 + len) return;
      const type = String.fromCharCode(this.inbox[0]!);
      const body = this.inbox.subarray(5, 5 + len);
      this.inbox = this.inbox.subarray(5 + len);
      this.handle(type, body);
    }
  }

  private handle(type: string, body: Buffer): void {
    const p = this.pending;
    if (!p) return;
    if (type === 'P') {
      p.pid = body.readUInt32LE(0);
      p.started = body.readBigUInt64LE(4);
    } else if (type === 'O') {
      p.out.push(Buffer.from(body));
    } else if (type === 'E') {
      p.err.add(Buffer.from(body));
    } else if (type === 'F') {
      this.finish(p, { exitCode: null, signal: null, spawnError: spawnErrorText(p.req.path, errnoName(body.readUInt32LE(0))), endMono: monotonicNs() });
    } else if (type === 'X') {
      const signaled = body[0] === 1;
      const n = body.readUInt32LE(1);
      this.finish(p, { exitCode: signaled ? null : n, signal: signaled ? signalName(n) : null, spawnError: null, endMono: body.readBigUInt64LE(5) });
    }
  }

  private finish(p: Pending, end: Pick<ExecOutcome, 'exitCode' | 'signal' | 'spawnError' | 'endMono'>): void {
    this.pending = null;
    p.resolve({
      ...end, stdout: Buffer.concat(p.out), stderr: Buffer.concat(p.err.chunks), stderrBytes: p.err.total,
      pid: p.pid, startMono: p.started ?? p.startMono,
    });
  }

  /**
   * The front died before we answered: the runtime killed it (its deadline). Do what a killed
   * wrapper's watchdog did: kill the live delegate's group, remove the spool, and end without
   * journaling an end (readers call the invocation abandoned, as it was).
   */
  private lost(): never {
    if (!this.answered) {
      this.answered = true;
      const pid = this.pending?.pid;
      if (pid) { try { process.kill(-pid, 'SIGKILL'); } catch { /* already gone */ } }
      if (this.spool) {
        try { rmSync(this.spool, { recursive: true, force: true }); } catch { /* best effort */ }
      }
    }
    process.exit(1);
  }
}

/**
 * `op` again after EINTR, or after EAGAIN should the socket be non-blocking after all (a pause of
 * 1 ms each time, not a spin). Other errors are thrown.
 */
function retryAgain(op: () => number): number {
  for (;;) {
    try {
      return op();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
      else if (code !== 'EINTR') throw e;
    }
  }
}

// node:os only for these rare messages: it is not loaded on the way of a normal call.
const constants = (): typeof import('node:os').constants => process.getBuiltinModule('node:os').constants;

function errnoName(n: number): string {
  return Object.entries(constants().errno).find(([, v]) => v === n)?.[0] ?? `errno ${n}`;
}

function signalName(n: number): string {
  return Object.entries(constants().signals).find(([, v]) => v === n)?.[0] ?? `SIG${n}`;
}
