/**
 * Agent throughput and memory: a journal of N invocations (bench/synthetic-journal.ts) is
 * exported by `cni-trace agent --once` to an OTLP/HTTP receiver on loopback (a separate
 * process, so the agent has its core). Reports invocations/s, bytes sent per invocation and
 * the agent's peak RSS (VmHWM, sampled from /proc) per backlog size and OTLP encoding, to
 * show memory stays flat and what protobuf saves.
 */
import { fork, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from '../test/support/agent-process.ts';
import { OtlpReceiver } from '../test/support/otlp-receiver.ts';
import { benchEnv, table } from './stats.ts';
import { writeJournal } from './synthetic-journal.ts';
import { sampleProc } from './proc.ts';

async function receiverProcess(): Promise<{ endpoint: string; count: () => Promise<{ spans: number; bytes: number }>; stop: () => void }> {
  const child = fork(new URL(import.meta.url).pathname, ['--receiver'], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve) => child.once('message', (m) => resolve(m as number)));
  return {
    endpoint: `http://127.0.0.1:${port}`,
    count: () => new Promise((resolve) => { child.once('message', (m) => resolve(m as { spans: number; bytes: number })); child.send('count'); }),
    stop: () => child.kill(),
  };
}

export async function benchAgent(sizes: readonly number[], protocols: readonly string[] = ['http/json', 'http/protobuf']): Promise<string> {
  const rows: string[][] = [];
  for (const n of sizes) {
    for (const protocol of protocols) {
      const dir = mkdtempSync(join(tmpdir(), 'cnitrace-bench-agent-'));
      const receiver = await receiverProcess();
      try {
        writeJournal(join(dir, 'journal'), n);
        const t0 = process.hrtime.bigint();
        const agent = spawn(process.execPath, [CLI, 'agent', '--once', '--journal', join(dir, 'journal'), '--state-dir', join(dir, 'state'), '--batch', '512', '--endpoint', receiver.endpoint, '--protocol', protocol], { env: benchEnv(), stdio: 'ignore' });
        let peak = 0;
        const sampler = setInterval(() => { peak = Math.max(peak, sampleProc(agent.pid!).peakRssMb); }, 50);
        const code = await new Promise<number | null>((resolve) => agent.on('exit', resolve));
        clearInterval(sampler);
        const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
        const got = await receiver.count();
        if (code !== 0 || got.spans !== n * 3) throw new Error(`agent exited ${code}, receiver got ${got.spans} of ${n * 3} spans`);
        rows.push([String(n), protocol, seconds.toFixed(1), Math.round(n / seconds).toString(), Math.round(got.bytes / n).toString(), peak.toFixed(0)]);
      } finally {
        receiver.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  return table(['backlog (invocations)', 'encoding', 'seconds', 'invocations/s', 'bytes/invocation (traces + metrics)', 'agent peak RSS MB'], rows);
}

if (process.argv[2] === '--receiver') {
  const r = new OtlpReceiver();
  // Keep only a count: the receiver must not be the bottleneck or hold 300k spans.
  let count = 0;
  (r as unknown as { decode: (b: { resourceSpans?: Array<{ scopeSpans?: Array<{ spans?: unknown[] }> }> }) => void }).decode = (b) => {
    for (const rs of b.resourceSpans ?? []) for (const ss of rs.scopeSpans ?? []) count += ss.spans?.length ?? 0;
  };
  await r.start();
  process.send?.(r.port);
  process.on('message', () => process.send?.({ spans: count, bytes: r.bodyBytes.reduce((a, b) => a + b, 0) }));
} else if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await benchAgent([10_000, 100_000]));
}
