/**
 * `cni-trace tui`: the App in the terminal until the person quits. It draws on the terminal's
 * alternate screen and gives the original screen back when it ends (q, Ctrl-C or SIGTERM).
 * Imports only ink, react and this repository's modules. Load it lazily, with NODE_ENV set to
 * production first: React's development build is twice the CPU and keeps a performance entry
 * per render (tui/README.md, "Loading").
 */
import { render } from 'ink';
import { writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import React from 'react';
import { App } from './app.ts';
import type { TuiConfig } from './state.ts';
import { journalFeed } from './journal-feed.ts';
import { yogaReady } from './yoga-ready.ts';

export interface RunTuiOptions {
  /** The journal directory (it need not exist yet: the TUI waits for it). */
  readonly journal: string;
  /** Invocations of the history shown at start: the last N (default 200), and every one still running. */
  readonly last?: number;
  /** Slow threshold in ms; without it, slow is relative to each network and command (view/slow.ts). */
  readonly slowMs?: number;
  /** The filter line to start with. */
  readonly filterText?: string;
  /** The shell command that shows this journal, for the help. */
  readonly shellHint?: string;
  /** Trace link template with `{traceId}` (default Jaeger's on localhost). */
  readonly traceUrl?: string;
  /** Header window in ms (default 5 minutes). */
  readonly windowMs?: number;
  /** Shown in the header (default $K8S_NODE_NAME, else the host name). */
  readonly nodeName?: string;
  /** Finished invocations held at most (default 2000). */
  readonly maxInvocations?: number;
  /** The keyboard (default process.stdin); must be a TTY. */
  readonly stdin?: NodeJS.ReadStream;
  /** The screen (default process.stdout); must be a TTY. */
  readonly stdout?: NodeJS.WriteStream;
  /** Where a refusal to start is explained (default process.stderr). */
  readonly stderr?: NodeJS.WriteStream;
  /** Every second, `{"frames": N}` (Ink renders so far) is written here, for bench/tui.ts. */
  readonly metricsFile?: string;
}

/** What an option left out means. */
export const DEFAULTS = { last: 200, slowMs: null, windowMs: 300_000, traceUrl: 'http://localhost:16686/trace/{traceId}', maxInvocations: 2000 } as const;

const ALTERNATE_SCREEN = '\x1b[?1049h';
const MAIN_SCREEN = '\x1b[?1049l';

/** Writes the render count; a failed write only loses a sample. */
function writeMetrics(file: string, frames: () => number): void {
  try {
    writeFileSync(file, JSON.stringify({ frames: frames() }));
  } catch {
    // the benchmark reads the previous sample
  }
}

/** The options as a TuiConfig, or a message naming the option that is out of range. */
export function tuiConfig(opts: RunTuiOptions): TuiConfig | string {
  const config: TuiConfig = {
    journal: opts.journal,
    nodeName: opts.nodeName ?? process.env.K8S_NODE_NAME ?? hostname(),
    slowMs: opts.slowMs ?? DEFAULTS.slowMs,
    ...(opts.shellHint ? { shellHint: opts.shellHint } : {}),
    windowMs: opts.windowMs ?? DEFAULTS.windowMs,
    traceUrl: opts.traceUrl ?? DEFAULTS.traceUrl,
    maxInvocations: opts.maxInvocations ?? DEFAULTS.maxInvocations,
  };
  const last = opts.last ?? DEFAULTS.last;
  if (!Number.isInteger(last) || last < 0) return `--last must be a whole number ≥ 0, not ${last}`;
  if (config.slowMs !== null && (!Number.isFinite(config.slowMs) || config.slowMs < 0)) return `--slow must be a number of ms ≥ 0, not ${config.slowMs}`;
  if (!Number.isFinite(config.windowMs) || config.windowMs <= 0) return `--window must be a duration > 0, not ${config.windowMs} ms`;
  if (!Number.isInteger(config.maxInvocations) || config.maxInvocations < 1) return `maxInvocations must be a whole number ≥ 1, not ${config.maxInvocations}`;
  return config;
}

/**
 * Runs the TUI; resolves 0 once the person quits and the terminal is restored, or 1 at once
 * (with a line on stderr) when stdin or stdout is not a terminal or an option is out of range.
 */
export async function runTui(opts: RunTuiOptions): Promise<number> {
  const stdin = opts.stdin ?? process.stdin;
  const stdout = opts.stdout ?? process.stdout;
  const stderr = opts.stderr ?? process.stderr;
  const config = tuiConfig(opts);
  if (typeof config === 'string') {
    stderr.write(`cni-trace: tui: ${config}\n`);
    return 1;
  }
  if (!stdin.isTTY || !stdout.isTTY) {
    stderr.write('cni-trace: tui: needs a terminal on stdin and stdout (in a pipe, use cni-trace tail --follow)\n');
    return 1;
  }
  await yogaReady();
  stdout.write(ALTERNATE_SCREEN);
  let frames = 0;
  const metrics = opts.metricsFile === undefined ? undefined : setInterval(writeMetrics, 1000, opts.metricsFile, () => frames);
  let unmount = (): void => {};
  // Without this, SIGTERM would end the process before the screen is given back.
  const terminated = (): void => unmount();
  process.once('SIGTERM', terminated);
  try {
    const app = render(React.createElement(App, {
      config, feed: journalFeed({ dir: config.journal, last: opts.last ?? DEFAULTS.last }),
      columns: stdout.columns, rows: stdout.rows, now: Date.now, tickMs: 250, batchMs: 100,
      ...(opts.filterText ? { filterText: opts.filterText } : {}),
    }), { stdin, stdout, stderr, exitOnCtrlC: true, onRender: () => { frames++; } });
    unmount = () => app.unmount();
    await app.waitUntilExit();
  } finally {
    clearInterval(metrics);
    process.off('SIGTERM', terminated);
    stdout.write(MAIN_SCREEN);
  }
  return 0;
}
