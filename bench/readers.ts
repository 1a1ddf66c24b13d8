/**
 * The readers as the journal grows (issue 23): journals of 10k, 100k and 300k invocations and
 * ~1 GB, written once per run into a temp dir by the benchmark writer (two-step ADDs, ~3 KB
 * each) and removed after; for each size the built CLI's `tail --last 10`, `show --pod` of a
 * recent pod and `stats`, and the TUI's first frame: wall time and peak RSS (VmHWM, through
 * /usr/bin/time). NODE_EXTRA_CA_CERTS is unset for every child.
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { CLI } from '../test/support/agent-process.ts';
import { TmuxPane } from '../test/support/tmux.ts';
import { sampleProc } from './proc.ts';
import { benchEnv, fmt, table } from './stats.ts';
import { writeJournal } from './synthetic-journal.ts';

export interface ReaderRun { readonly ms: number; readonly peakRssMb: number }

/** One CLI run: its wall time and peak RSS; fails on a non-zero exit. */
async function cli(args: readonly string[]): Promise<ReaderRun> {
  const start = process.hrtime.bigint();
  const r = await execa('/usr/bin/time', ['-f', 'maxrss %M', process.execPath, CLI, ...args], { env: benchEnv(), extendEnv: false, reject: false, stdout: 'ignore' });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.exitCode !== 0) throw new Error(`cni-trace ${args.join(' ')}: exit ${r.exitCode}: ${r.stderr.slice(-400)}`);
  const kb = Number(/maxrss (\d+)/.exec(r.stderr)?.[1] ?? NaN);
  return { ms, peakRssMb: kb / 1024 };
}

/** The TUI's first frame: from start to the newest invocation on screen, and the RSS then. */
async function tuiFirstFrame(journal: string, newestPod: string): Promise<ReaderRun> {
  const pane = new TmuxPane();
  try {
    const start = process.hrtime.bigint();
    await pane.start([process.execPath, CLI, 'tui', '--journal', journal], { columns: 120, rows: 40, env: { NODE_EXTRA_CA_CERTS: '', TERM: 'xterm-256color' } });
    await pane.waitFor((s) => s.includes(newestPod), 'the TUI showing the newest invocation', 120_000);
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    const pid = Number((await execa('tmux', ['display-message', '-p', '-t', pane.session, '#{pane_pid}'])).stdout);
    const peak = sampleProc(pid).peakRssMb;
    await pane.keys('q');
    return { ms, peakRssMb: peak };
  } finally {
    await pane.dispose();
  }
}

function journalBytes(dir: string): number {
  return readdirSync(dir).reduce((sum, name) => sum + statSync(join(dir, name)).size, 0);
}

export interface ReadersResult {
  readonly text: string;
  /** Per size (invocations) and reader: the run. */
  readonly runs: ReadonlyArray<{ invocations: number; bytes: number; reader: string; run: ReaderRun }>;
}

/** Invocations a ~1 GiB journal holds (the benchmark writer's records, ~3.1 KB an invocation). */
const GIB_INVOCATIONS = 345_000;

export async function benchReaders(sizes: readonly number[] = [10_000, 100_000, 300_000, GIB_INVOCATIONS], tui = true): Promise<ReadersResult> {
  const root = mkdtempSync(join(tmpdir(), 'cnitrace-bench-readers-'));
  const journal = join(root, 'journal');
  const runs: Array<{ invocations: number; bytes: number; reader: string; run: ReaderRun }> = [];
  try {
    let written = 0;
    for (const n of sizes) {
      writeJournal(journal, n - written, written); // the journal grows from one size to the next
      written = n;
      const bytes = journalBytes(journal);
      const recent = `pod-${n - 10}`;
      const readers: Array<[string, () => Promise<ReaderRun>]> = [
        ['tail --last 10', () => cli(['tail', '--journal', journal, '--last', '10'])],
        ['show --pod', () => cli(['show', '--journal', journal, '--pod', `bench/${recent}`])],
        ['stats', () => cli(['stats', '--journal', journal])],
        ...(tui ? [['tui first frame', () => tuiFirstFrame(journal, `pod-${n - 1}`)] as [string, () => Promise<ReaderRun>]] : []),
      ];
      for (const [reader, run] of readers) runs.push({ invocations: n, bytes, reader, run: await run() });
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  const readers = [...new Set(runs.map((r) => r.reader))];
  const rows = [...new Set(runs.map((r) => r.invocations))].map((n) => {
    const at = runs.filter((r) => r.invocations === n);
    return [`${n.toLocaleString('en')} (${(at[0]!.bytes / 1e6).toFixed(0)} MB)`, ...readers.map((reader) => {
      const r = at.find((x) => x.reader === reader)?.run;
      return r ? `${fmt(r.ms)} ms, ${r.peakRssMb.toFixed(0)} MB` : '—';
    })];
  });
  return { text: table(['invocations (journal size)', ...readers.map((r) => `${r} (wall, peak RSS)`)], rows), runs };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
  console.log((await benchReaders(sizes.length > 0 ? sizes : undefined)).text);
}
