/**
 * From an ADD's end to its trace being queryable in Jaeger, over the real programs: ADDs are
 * journaled at a steady rate by the wrapper's own recorder and journal writer (two steps each,
 * bench/synthetic-journal.ts: no plugins run, so 100 pods/s fit on two cores), a running
 * `cni-trace agent` (default settings: it looks for new records every 500 ms) exports them to
 * the OpenTelemetry Collector running collector-config/otel-collector.yaml, which exports to
 * Jaeger v2 (memory storage). For a sample of the ADDs, Jaeger's query API is asked for the
 * trace every 50 ms from the ADD's end until the whole trace (3 spans) is there.
 *   node bench/jaeger.ts [--seconds S]   (default 20 s per rate)
 * Prints a Markdown table: per rate, median and p99 of the latency, the sample and the rate reached.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { percentile } from '../src/view/stats.ts';
import { agentDaemon } from '../test/support/agent-process.ts';
import { ensureTools, jaegerTrace, startCollector, startJaeger, type Backend } from '../test/support/backends.ts';
import { scriptArgs, wholeNumber } from '../scripts/script-args.ts';
import { benchEnv, fmt, table } from './stats.ts';
import { benchJournal, writeInvocation } from './synthetic-journal.ts';

const USAGE = `
Usage: node bench/jaeger.ts [--seconds S]

The time from an ADD's end to its trace being queryable in Jaeger, at 1 and 100 pods/s, through
the agent, the OpenTelemetry Collector (shipped otel-collector.yaml) and Jaeger v2 (built by
scripts/tools.sh on first need). S seconds per rate (default 20).`;
const { values } = scriptArgs('bench/jaeger', USAGE, { seconds: { type: 'string', default: '20' } });
const seconds = wholeNumber('bench/jaeger', USAGE, '--seconds', values.seconds, 5);
const POLL_MS = 50;

/** Polls Jaeger for one trace from `endedAt` until it has all 3 spans; resolves the latency in ms. */
async function queryable(queryUrl: string, traceId: string, endedAt: number, deadline: number): Promise<number | null> {
  while (performance.now() < deadline) {
    const t = await jaegerTrace(queryUrl, traceId);
    if (t && t.spans.length >= 3) return performance.now() - endedAt;
    await sleep(POLL_MS);
  }
  return null;
}

async function atRate(queryUrl: string, journalDir: string, perSecond: number): Promise<string[]> {
  const journal = benchJournal(journalDir);
  const total = perSecond * seconds;
  // At 100/s every 5th ADD is followed (200 in 10 s… enough for a p99), at 1/s each.
  const every = perSecond >= 50 ? 5 : 1;
  const waits: Array<Promise<number | null>> = [];
  const start = performance.now();
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / perSecond;
    const now = performance.now();
    if (due > now) await sleep(due - now);
    const traceId = writeInvocation(journal, i);
    const endedAt = performance.now();
    if (i % every === 0) waits.push(queryable(queryUrl, traceId, endedAt, endedAt + 60_000));
  }
  const reached = total / ((performance.now() - start) / 1000);
  const lat = await Promise.all(waits);
  const got = lat.filter((x): x is number => x !== null);
  return [`${perSecond} pods/s`, `${reached.toFixed(1)}`, `${got.length} of ${lat.length}`, fmt(percentile(got, 50)), fmt(percentile(got, 99)), fmt(got.reduce((a, b) => Math.max(a, b), 0))];
}

await ensureTools();
const dir = mkdtempSync(join(tmpdir(), 'cnitrace-bench-jaeger-'));
const backends: Backend[] = [];
try {
  const jaeger = await startJaeger(dir);
  backends.push(jaeger);
  const collector = await startCollector(dir, { jaeger: jaeger.otlpGrpc });
  backends.push(collector);
  const rows: string[][] = [];
  for (const rate of [1, 100]) {
    const journalDir = join(dir, `journal-${rate}`);
    const agent = agentDaemon(['--journal', journalDir, '--state-dir', join(dir, `state-${rate}`), '--status-every', '0'], { ...benchEnv(), OTEL_EXPORTER_OTLP_ENDPOINT: collector.otlpHttp });
    try {
      await sleep(1000); // the agent's start
      rows.push(await atRate(jaeger.queryUrl, journalDir, rate));
    } finally {
      agent.kill('SIGTERM');
      await agent;
    }
  }
  console.log(`## ADD end → trace queryable in Jaeger (${new Date().toISOString()}, ${seconds} s per rate, polled every ${POLL_MS} ms)\n`);
  console.log(table(['rate asked', 'pods/s reached', 'traces followed', 'median ms', 'p99 ms', 'max ms'], rows));
} finally {
  await Promise.allSettled(backends.map((b) => b.stop()));
  rmSync(dir, { recursive: true, force: true });
}
