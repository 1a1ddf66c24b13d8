/**
 * Kill safety for delegates. A runtime that times out SIGKILLs the wrapper (libcni uses
 * exec.CommandContext); nothing in the wrapper runs then. So an invocation whose delegate runs
 * longer than WATCHDOG_DELAY_MS starts one tiny /bin/sh watchdog whose stdin is a pipe from
 * the wrapper. Every delegate runs in its
 * own process group; the wrapper tells the watchdog which groups are live. If the pipe hits
 * EOF without a "bye" (the wrapper died), the watchdog SIGKILLs the live groups — the
 * delegate and anything it spawned (IPAM plugins and nested-call shims included) — and
 * removes the invocation's nested-call directory.
 *
 * One sh per invocation costs less than a per-delegate `setpriv --pdeathsig` exec and also
 * covers grandchildren (docs/decisions.md, "kill safety").
 */
import type { ChildProcess } from 'node:child_process';
import { childProcess } from './exec.ts';

const WATCHDOG = [
  'live=""; dir=""',
  'while read -r op pg; do',
  '  case "$op" in',
  '    add) live="$live $pg" ;;',
  '    del) next=""; for p in $live; do [ "$p" = "$pg" ] || next="$next $p"; done; live="$next" ;;',
  '    dir) dir="$pg" ;;',
  '    bye) exit 0 ;;',
  '  esac',
  'done',
  // dash's kill takes no "--"; "-PID" after the signal names the process group.
  'for p in $live; do kill -KILL "-$p" 2>/dev/null; done',
  '[ -n "$dir" ] && rm -rf -- "$dir"',
].join('\n');

/**
 * How long a delegate runs before the watchdog is started. A runtime kills the wrapper at its
 * deadline, seconds into a call; starting the watchdog only for delegates that are still
 * running after this long keeps its spawn (~2 ms, bench/wrapper-phases.ts) out of the calls
 * whose delegates finish in milliseconds — nearly all. The one gap: a wrapper killed within this
 * long of a delegate's start, before any delegate of the call ran this long, leaves that delegate
 * running (docs/decisions.md, "kill safety").
 */
export const WATCHDOG_DELAY_MS = 50;

/** What the chain tells about live delegates, so that they do not outlive a killed wrapper. */
export interface DelegateGuard {
  /** A delegate's process group (its pid: delegates are spawned detached) is now live. */
  track(pgid: number): void;
  /** The delegate exited; its group is no longer ours to kill. */
  untrack(pgid: number): void;
  /** A directory of this invocation's to remove if the wrapper dies (the nested-call spool). */
  removeOnDeath(dir: string): void;
  /** The invocation ended normally. */
  release(): void;
}

/** Tracks live delegate process groups and kills them if the wrapper dies. Never throws. */
export class OrphanReaper implements DelegateGuard {
  private proc: ChildProcess | null = null;
  private started = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly live = new Set<number>();
  private dir: string | null = null;
  private readonly delayMs: number;

  constructor(delayMs = WATCHDOG_DELAY_MS) {
    this.delayMs = delayMs;
  }

  /** True once the watchdog process was started (a delegate ran longer than the delay). */
  get watching(): boolean { return this.started; }

  /** A delegate's process group (its pid: delegates are spawned detached) is now live. */
  track(pgid: number): void {
    this.live.add(pgid);
    if (this.started) this.send(`add ${pgid}\n`);
    else if (this.timer === null) {
      this.timer = setTimeout(() => this.start(), this.delayMs);
      this.timer.unref();
    }
  }

  /** The delegate exited; its group is no longer ours to kill. */
  untrack(pgid: number): void {
    this.live.delete(pgid);
    if (this.started) this.send(`del ${pgid}\n`);
    else if (this.live.size === 0) this.stopTimer();
  }

  /** A directory of this invocation's to remove if the wrapper dies (the nested-call spool). */
  removeOnDeath(dir: string): void {
    this.dir = dir;
    if (this.started) this.send(`dir ${dir}\n`);
  }

  /** The invocation ended normally: the watchdog (if any) exits without killing anything. */
  release(): void {
    this.stopTimer();
    this.send('bye\n');
    this.proc?.stdin?.end();
    // The pipe must not keep the wrapper alive.
    (this.proc?.stdin as unknown as { unref?: () => void } | undefined)?.unref?.();
    this.proc = null;
  }

  /** Starts the watchdog and tells it what is live; when /bin/sh cannot start, delegates still run (unguarded). */
  private start(): void {
    this.timer = null;
    this.started = true;
    try {
      const proc = childProcess().spawn('/bin/sh', ['-c', WATCHDOG], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
      proc.on('error', () => { this.proc = null; });
      proc.stdin?.on('error', () => { this.proc = null; });
      proc.unref();
      this.proc = proc;
    } catch {
      this.proc = null;
    }
    for (const pgid of this.live) this.send(`add ${pgid}\n`);
    if (this.dir !== null) this.send(`dir ${this.dir}\n`);
  }

  private stopTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private send(line: string): void {
    try {
      this.proc?.stdin?.write(line);
    } catch {
      this.proc = null;
    }
  }
}
