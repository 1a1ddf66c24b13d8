/**
 * Journal append latency: W writer processes append the same record shape the wrapper
 * writes (a step.end with a 1 KiB stdout excerpt) to one journal directory at once, each
 * timing every append. Rotation is on (4 MiB files), as on a node.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Journal } from '../src/journal/writer.ts';
import type { StepEnd } from '../src/journal/record.ts';
import { percentile } from '../src/view/stats.ts';
import { fmt, table } from './stats.ts';

const RECORD: StepEnd = {
  rec: 'step.end', v: 1, traceId: 'a'.repeat(32), invocationSpanId: 'b'.repeat(16), spanId: 'c'.repeat(16), index: 0,
  plugin: 'bridge', command: 'ADD', endNs: '1795851734423916188', durationNs: '12345678', pid: 4242, exitCode: 0, signal: null,
  status: 'ok', stdout: { text: 'x'.repeat(1024), bytes: 1024, truncated: false }, stderr: { text: '', bytes: 0, truncated: false },
};

async function writer(dir: string, count: number): Promise<number[]> {
  const journal = new Journal({ dir, maxFileBytes: 4 << 20, maxFiles: 4, onDegraded: (r) => { throw new Error(r); } });
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const t = process.hrtime.bigint();
    journal.append(RECORD);
    out.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return out;
}

export async function benchJournal(writers: number, perWriter: number): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'cnitrace-bench-journal-'));
  try {
    const runs = await Promise.all(Array.from({ length: writers }, () => new Promise<number[]>((resolve, reject) => {
      const child = fork(new URL(import.meta.url).pathname, ['--writer', dir, String(perWriter)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
      child.on('message', (m) => resolve(m as number[]));
      child.on('error', reject);
    })));
    const all = runs.flat();
    const single = await writer(join(dir, 'single'), perWriter);
    return table(['writers', 'appends', 'p50 ms', 'p99 ms', 'max ms'], [
      ['1', String(single.length), fmt(percentile(single, 50)), fmt(percentile(single, 99)), fmt(Math.max(...single))],
      [String(writers), String(all.length), fmt(percentile(all, 50)), fmt(percentile(all, 99)), fmt(Math.max(...all))],
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--writer') {
  const samples = await writer(process.argv[3]!, Number(process.argv[4]));
  process.send?.(samples, () => process.exit(0));
} else if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await benchJournal(16, 1000));
}
