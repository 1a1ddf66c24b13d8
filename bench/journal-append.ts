/**
 * Journal append latency: W writer processes append the same record shape the wrapper
 * writes (a step.end with a 1 KiB stdout excerpt) to one journal directory at once, each
 * timing every append. Rotation is on (4 MiB files), as on a node. Two loads: paced (each
 * writer appends every 5 ms, like wrappers that also wait for their plugins: 16 writers make
 * 3,200 records/s, far more than a node's pod churn) and saturated (tight loops: 16 processes
 * on 2 cores, so the tail is mostly waiting for a CPU, not for the write).
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

const PACE_MS = 5;

async function writer(dir: string, count: number, paceMs = 0): Promise<number[]> {
  const journal = new Journal({ dir, maxFileBytes: 4 << 20, maxFiles: 4, onDegraded: (r) => { throw new Error(r); } });
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const t = process.hrtime.bigint();
    journal.append(RECORD);
    out.push(Number(process.hrtime.bigint() - t) / 1e6);
    if (paceMs > 0) await new Promise((r) => setTimeout(r, paceMs));
  }
  return out;
}

function writers(dir: string, count: number, perWriter: number, paceMs: number): Promise<number[][]> {
  return Promise.all(Array.from({ length: count }, () => new Promise<number[]>((resolve, reject) => {
    const child = fork(new URL(import.meta.url).pathname, ['--writer', dir, String(perWriter), String(paceMs)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    child.on('message', (m) => resolve(m as number[]));
    child.on('error', reject);
  })));
}

export interface JournalBench { readonly text: string; readonly p99Paced: number; readonly p99Saturated: number }

export async function benchJournal(count: number, perWriter: number): Promise<JournalBench> {
  const dir = mkdtempSync(join(tmpdir(), 'cnitrace-bench-journal-'));
  try {
    const single = await writer(join(dir, 'single'), perWriter);
    const paced = (await writers(join(dir, 'paced'), count, perWriter, PACE_MS)).flat();
    const saturated = (await writers(join(dir, 'saturated'), count, perWriter, 0)).flat();
    const row = (label: string, w: number, s: number[]) => [label, String(w), String(s.length), fmt(percentile(s, 50)), fmt(percentile(s, 99)), fmt(s.reduce((m, x) => Math.max(m, x), -Infinity))];
    const text = table(['load', 'writers', 'appends', 'p50 ms', 'p99 ms', 'max ms'], [
      row('one writer, tight loop', 1, single),
      row(`paced, one append per ${PACE_MS} ms each`, count, paced),
      row('saturated, tight loops', count, saturated),
    ]);
    return { text, p99Paced: percentile(paced, 99), p99Saturated: percentile(saturated, 99) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--writer') {
  const samples = await writer(process.argv[3]!, Number(process.argv[4]), Number(process.argv[5] ?? 0));
  process.send?.(samples, () => process.exit(0));
} else if (import.meta.url === `file://${process.argv[1]}`) {
  console.log((await benchJournal(16, 1000)).text);
}
