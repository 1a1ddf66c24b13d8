/**
 * Driving a terminal program the way a person would: in a tmux pane of a fixed size, typing
 * keys and reading the screen. Each session has a unique name and is killed on dispose.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';

export class TmuxPane {
  readonly session = `cnitrace-${randomBytes(4).toString('hex')}`;

  /** Starts `command` (argv) in a detached session of `columns`×`rows` with the given env. */
  async start(command: readonly string[], opts: { columns: number; rows: number; env?: Record<string, string> }): Promise<void> {
    const env = Object.entries(opts.env ?? {}).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
    await execa('tmux', ['new-session', '-d', '-s', this.session, '-x', String(opts.columns), '-y', String(opts.rows), ...env, ...command]);
  }

  /** Types keys (tmux key names: Enter, Escape, Up, "j", …). */
  async keys(...keys: string[]): Promise<void> {
    await execa('tmux', ['send-keys', '-t', this.session, ...keys]);
  }

  /** Types literal text. */
  async type(text: string): Promise<void> {
    await execa('tmux', ['send-keys', '-t', this.session, '-l', text]);
  }

  /** The screen as text; with `escapes`, including colour codes (SGR). */
  async screen(escapes = false): Promise<string> {
    const r = await execa('tmux', ['capture-pane', '-p', '-t', this.session, ...(escapes ? ['-e'] : [])], { reject: false });
    return r.stdout;
  }

  /** Waits until the screen satisfies `predicate` (polling), or throws with the last screen. */
  async waitFor(predicate: (screen: string) => boolean, what: string, timeoutMs = 10_000, escapes = false): Promise<string> {
    const until = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < until) {
      last = await this.screen(escapes);
      if (predicate(last)) return last;
      await sleep(100);
    }
    throw new Error(`timed out waiting for ${what}; the screen was:\n${last}`);
  }

  async resize(columns: number, rows: number): Promise<void> {
    await execa('tmux', ['resize-window', '-t', this.session, '-x', String(columns), '-y', String(rows)], { reject: false });
  }

  /** True while the program runs. */
  async alive(): Promise<boolean> {
    return (await execa('tmux', ['has-session', '-t', this.session], { reject: false })).exitCode === 0;
  }

  async dispose(): Promise<void> {
    await execa('tmux', ['kill-session', '-t', this.session], { reject: false });
  }
}
