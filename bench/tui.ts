/**
 * The TUI under load: a journal with 100,000 old invocations, then 200 new invocations per
 * second for 30 s written by another process, while `cni-trace tui` runs in a 120×40 tmux
 * pane. Reports the TUI's CPU (share of one core), RSS (peak) and frame rate during the load
 * (Ink renders, which the TUI counts into the file CNI_TRACE_TUI_METRICS names, every second).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { CLI } from '../test/support/agent-process.ts';
import { TmuxPane } from '../test/support/tmux.ts';
import { sampleProc } from './proc.ts';
import { benchJournal, writeInvocation, writeJournal } from './synthetic-journal.ts';
import { table } from './stats.ts';

export async function benchTui(old = 100_000, perSecond = 200, seconds = 30): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'cnitrace-bench-tui-'));
  const journal = join(dir, 'journal');
  const metrics = join(dir, 'metrics.json');
  const pane = new TmuxPane();
  try {
    writeJournal(journal, old);
    await pane.start([process.execPath, CLI, 'tui', '--journal', journal], { columns: 120, rows: 40, env: { CNI_TRACE_TUI_METRICS: metrics, NODE_EXTRA_CA_CERTS: '', TERM: 'xterm-256color' } });
    await pane.waitFor((s) => s.includes(`pod-${old - 1}`), 'the TUI showing the newest old invocation', 60_000);
    const pid = Number((await execa('tmux', ['display-message', '-p', '-t', pane.session, '#{pane_pid}'])).stdout);
    const frames = (): number => { try { return (JSON.parse(readFileSync(metrics, 'utf8')) as { frames: number }).frames; } catch { return 0; } };
    await sleep(1100);
    const before = sampleProc(pid);
    const framesBefore = frames();
    const live = benchJournal(journal);
    const start = Date.now();
    let written = 0;
    let peak = before.peakRssMb;
    while (Date.now() - start < seconds * 1000) {
      const due = Math.floor(((Date.now() - start) / 1000) * perSecond);
      for (; written < due; written++) writeInvocation(live, old + written);
      peak = Math.max(peak, sampleProc(pid).peakRssMb);
      await sleep(20);
    }
    const elapsed = (Date.now() - start) / 1000;
    const after = sampleProc(pid);
    await sleep(1100);
    const framesDuring = frames() - framesBefore;
    await pane.waitFor((s) => s.includes(`pod-${old + written - 1}`), 'the TUI showing the last new invocation', 10_000);
    await pane.keys('q');
    return table(['old invocations', 'new per second', 'seconds', 'TUI CPU (one core)', 'TUI peak RSS MB', 'frames per second'], [[
      String(old), String(Math.round(written / elapsed)), elapsed.toFixed(0),
      `${(((after.cpuSeconds - before.cpuSeconds) / elapsed) * 100).toFixed(0)} %`, Math.max(peak, after.peakRssMb).toFixed(0), (framesDuring / (elapsed + 1.1)).toFixed(1),
    ]]);
  } finally {
    await pane.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await benchTui());
