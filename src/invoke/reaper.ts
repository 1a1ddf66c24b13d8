/**
 * Kill safety for delegates. A runtime that times out SIGKILLs the wrapper (libcni uses
 * exec.CommandContext); nothing in the wrapper runs then. So each invocation starts one
 * tiny /bin/sh watchdog whose stdin is a pipe from the wrapper. Every delegate runs in its
 * own process group; the wrapper tells the watchdog which groups are live. If the pipe hits
 * EOF without a "bye" (the wrapper died), the watchdog SIGKILLs the live groups — the
 * delegate and anything it spawned (IPAM plugins and nested-call shims included) — and
 * removes the invocation's nested-call directory.
 *
 * One sh per invocation costs less than a per-delegate `setpriv --pdeathsig` exec and also
 * covers grandchildren (docs/decisions.md, "kill safety").
 */
import { spawn, type ChildProcess } from 'node:child_process';

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

/** Tracks live delegate process groups and kills them if the wrapper dies. Never throws. */
export class OrphanReaper {
  private proc: ChildProcess | null = null;

  /** Starts the watchdog; when /bin/sh cannot start, delegates still run (unguarded). */
  start(): void {
    try {
      const proc = spawn('/bin/sh', ['-c', WATCHDOG], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
      proc.on('error', () => { this.proc = null; });
      proc.stdin?.on('error', () => { this.proc = null; });
      proc.unref();
      this.proc = proc;
    } catch {
      this.proc = null;
    }
  }

  /** A delegate's process group (its pid: delegates are spawned detached) is now live. */
  track(pgid: number): void { this.send(`add ${pgid}\n`); }

  /** The delegate exited; its group is no longer ours to kill. */
  untrack(pgid: number): void { this.send(`del ${pgid}\n`); }

  /** A directory of this invocation's to remove if the wrapper dies (the nested-call spool). */
  removeOnDeath(dir: string): void { this.send(`dir ${dir}\n`); }

  /** The invocation ended normally: the watchdog exits without killing anything. */
  release(): void {
    this.send('bye\n');
    this.proc?.stdin?.end();
    // The pipe must not keep the wrapper alive.
    (this.proc?.stdin as unknown as { unref?: () => void } | undefined)?.unref?.();
    this.proc = null;
  }

  private send(line: string): void {
    try {
      this.proc?.stdin?.write(line);
    } catch {
      this.proc = null;
    }
  }
}
