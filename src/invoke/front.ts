/**
 * The Node side of the front (wrapper/front.c, docs/decisions.md 32). When the runtime execs
 * the compiled front, it starts this executable with a socket as fd 3 (env CNI_TRACE_FRONT=3:<its pid>)
 * and spawns the delegates for it: a posix_spawn from a 1 MB process instead of a fork of
 * Node's 50 MB. The answer goes back over the socket and the front exits with it, so the
 * runtime does not wait for Node's teardown. The framing is the front's; see its header.
 */
import { fstatSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import { constants } from 'node:os';
import { StderrKeeper, STDERR_KEEP_BYTES, retrying, spawnErrorText, type ExecOutcome, type ExecRequest, type PluginExec } from './exec.ts';
import type { DelegateGuard } from './reaper.ts';
import { monotonicNs } from '../trace/clock.ts';

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
  private readonly sock: Socket;
  private inbox: Buffer = Buffer.alloc(0);
  private pending: Pending | null = null;
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
    // "3:<the front's pid>" — its own pid, not our ppid: a front killed before we looked would
    // leave us reparented, and a pid that stays alive would keep the call "running" forever.
    const m = /^(\d+):(\d+)$/.exec(value);
    try {
      if (!m || Number(m[1]) !== FRONT_FD || !fstatSync(FRONT_FD).isSocket()) return null;
      return new Front(new Socket({ fd: FRONT_FD, readable: true, writable: true }), Number(m[2]));
    } catch {
      return null;
    }
  }

  private constructor(sock: Socket, pid: number) {
    this.sock = sock;
    this.pid = pid;
    this.exec = retrying((req) => this.runOnce(req));
    sock.on('data', (c: Buffer) => this.receive(c));
    sock.on('error', () => this.lost());
    sock.on('close', () => this.lost());
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
    this.send('W', typeof data === 'string' ? Buffer.from(data) : data);
  };

  /** Sends the answer; resolves once it is handed to the kernel (then the process may exit). */
  answer(code: number, stdout: string | Buffer): Promise<void> {
    this.answered = true;
    const body = Buffer.concat([Buffer.from([code & 0xff]), typeof stdout === 'string' ? Buffer.from(stdout) : stdout]);
    return new Promise((resolve) => {
      this.sock.write(frame('A', body), () => resolve());
    });
  }

  private runOnce(req: ExecRequest): Promise<ExecOutcome> {
    return new Promise((resolve) => {
      const parts = [Buffer.from(`${req.path}\0`)];
      for (const [k, v] of Object.entries(req.env)) parts.push(Buffer.from(`${k}=${v}\0`));
      parts.push(Buffer.from('\0'), Buffer.from(req.stdin));
      this.pending = {
        req, resolve, startMono: monotonicNs(), out: [], err: new StderrKeeper(req.keepStderrBytes ?? STDERR_KEEP_BYTES), pid: null, started: null,
      };
      this.send('S', Buffer.concat(parts));
    });
  }

  private send(type: string, payload: Buffer): void {
    try { this.sock.write(frame(type, payload)); } catch { /* the front is gone: lost() handles it */ }
  }

  private receive(chunk: Buffer): void {
    this.inbox = this.inbox.length ? Buffer.concat([this.inbox, chunk]) : chunk;
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
      const c = Buffer.from(body);
      p.err.add(c);
      p.req.onStderr?.(c);
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
  private lost(): void {
    if (this.answered) return;
    this.answered = true;
    const pid = this.pending?.pid;
    if (pid) { try { process.kill(-pid, 'SIGKILL'); } catch { /* already gone */ } }
    if (this.spool) {
      try { rmSync(this.spool, { recursive: true, force: true }); } catch { /* best effort */ }
    }
    process.exit(1);
  }
}

function frame(type: string, payload: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head[0] = type.charCodeAt(0);
  head.writeUInt32LE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

function errnoName(n: number): string {
  return Object.entries(constants.errno).find(([, v]) => v === n)?.[0] ?? `errno ${n}`;
}

function signalName(n: number): string {
  return Object.entries(constants.signals).find(([, v]) => v === n)?.[0] ?? `SIG${n}`;
}
