/**
 * Agent throughput and memory: a journal of N invocations (each ADD with two steps, written
 * by the wrapper's own recorder and journal writer, as a node's journal would hold them) is
 * exported by `cni-trace agent --once` to an OTLP/HTTP receiver on loopback (a separate
 * process, so the agent has its core). Reports invocations/s and the agent's peak RSS
 * (VmHWM, sampled from /proc) for two backlog sizes, to show memory stays flat.
 */
import { fork, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecOutcome } from '../src/invoke/exec.ts';
import { Journal } from '../src/journal/writer.ts';
import { credentialKeyMatcher } from '../src/config/redact.ts';
import { InvocationRecorder } from '../src/plugin/recorder.ts';
import { CLI } from '../test/support/agent-process.ts';
import { OtlpReceiver } from '../test/support/otlp-receiver.ts';
import { benchEnv, table } from './stats.ts';

const RESULT = JSON.stringify({ cniVersion: '1.0.0', interfaces: [{ name: 'eth0', mac: '0a:58:0a:f4:00:05', sandbox: '/var/run/netns/cni-1' }], ips: [{ interface: 0, address: '10.244.0.5/24', gateway: '10.244.0.1' }], dns: {} });

/** Writes n invocations as the wrapper writes them (begin, two steps, end). */
function writeJournal(dir: string, n: number): void {
  const journal = new Journal({ dir, maxFileBytes: 16 << 20, maxFiles: 1000, onDegraded: (r) => { throw new Error(r); } });
  const isCredential = credentialKeyMatcher();
  for (let i = 0; i < n; i++) {
    const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: `c${i}`, CNI_NETNS: '/var/run/netns/cni-1', CNI_IFNAME: 'eth0', CNI_ARGS: `K8S_POD_NAMESPACE=bench;K8S_POD_NAME=pod-${i};K8S_POD_UID=u${i}`, CNI_PATH: '/opt/cni/bin' };
    const rec = new InvocationRecorder({ journal, env, isCredential, captureMaxBytes: 65536 });
    const entry = { cniVersion: '1.0.0', name: 'k8s-pod-network', type: 'cni-trace', delegates: [{ type: 'bridge' }, { type: 'portmap' }] };
    rec.begin({ command: 'ADD', containerId: `c${i}`, netns: env.CNI_NETNS, ifname: 'eth0', args: env.CNI_ARGS, path: env.CNI_PATH }, 'k8s-pod-network', '1.0.0', entry, ['bridge', 'portmap']);
    for (const [k, plugin] of ['bridge', 'portmap'].entries()) {
      const step = rec.stepBegin(k, plugin, `/opt/cni/bin/${plugin}`, { type: plugin, name: 'k8s-pod-network', cniVersion: '1.0.0' });
      const t = process.hrtime.bigint();
      const outcome: ExecOutcome = { exitCode: 0, signal: null, stdout: Buffer.from(RESULT), stderr: Buffer.alloc(0), spawnError: null, pid: 1000 + k, startMono: t, endMono: t + 5_000_000n };
      rec.stepEnd(step, outcome, 'ok');
    }
    rec.end(0, RESULT);
  }
}

/** Peak RSS (VmHWM) of a running pid, in MB; 0 once it is gone. */
function peakRssMb(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

async function receiverProcess(): Promise<{ endpoint: string; count: () => Promise<number>; stop: () => void }> {
  const child = fork(new URL(import.meta.url).pathname, ['--receiver'], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve) => child.once('message', (m) => resolve(m as number)));
  return {
    endpoint: `http://127.0.0.1:${port}`,
    count: () => new Promise((resolve) => { child.once('message', (m) => resolve(m as number)); child.send('count'); }),
    stop: () => child.kill(),
  };
}

export async function benchAgent(sizes: readonly number[]): Promise<string> {
  const rows: string[][] = [];
  for (const n of sizes) {
    const dir = mkdtempSync(join(tmpdir(), 'cnitrace-bench-agent-'));
    const receiver = await receiverProcess();
    try {
      writeJournal(join(dir, 'journal'), n);
      const t0 = process.hrtime.bigint();
      const agent = spawn(process.execPath, [CLI, 'agent', '--once', '--journal', join(dir, 'journal'), '--state-dir', join(dir, 'state'), '--batch', '512', '--endpoint', receiver.endpoint], { env: benchEnv(), stdio: 'ignore' });
      let peak = 0;
      const sampler = setInterval(() => { peak = Math.max(peak, peakRssMb(agent.pid!)); }, 50);
      const code = await new Promise<number | null>((resolve) => agent.on('exit', resolve));
      clearInterval(sampler);
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const spans = await receiver.count();
      if (code !== 0 || spans !== n * 3) throw new Error(`agent exited ${code}, receiver got ${spans} of ${n * 3} spans`);
      rows.push([String(n), seconds.toFixed(1), Math.round(n / seconds).toString(), peak.toFixed(0)]);
    } finally {
      receiver.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return table(['backlog (invocations)', 'seconds', 'invocations/s', 'agent peak RSS MB'], rows);
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
  process.on('message', () => process.send?.(count));
} else if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await benchAgent([10_000, 100_000]));
}
