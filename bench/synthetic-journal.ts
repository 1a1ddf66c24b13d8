/**
 * Journals for benchmarks, written by the wrapper's own recorder and journal writer (the
 * same records a node's journal holds), without running plugins: each invocation is an ADD
 * of a pod with two steps (bridge, portmap) that took 5 ms each.
 */
import type { ExecOutcome } from '../src/invoke/exec.ts';
import { credentialKeyMatcher } from '../src/config/redact.ts';
import { Journal } from '../src/journal/writer.ts';
import { InvocationRecorder } from '../src/plugin/recorder.ts';

const RESULT = JSON.stringify({ cniVersion: '1.0.0', interfaces: [{ name: 'eth0', mac: '0a:58:0a:f4:00:05', sandbox: '/var/run/netns/cni-1' }], ips: [{ interface: 0, address: '10.244.0.5/24', gateway: '10.244.0.1' }], dns: {} });
const isCredential = credentialKeyMatcher();

export function benchJournal(dir: string): Journal {
  return new Journal({ dir, maxFileBytes: 16 << 20, maxFiles: 1000, onDegraded: (r) => { throw new Error(r); } });
}

/** Appends one invocation (begin, two steps, end) for pod number `i`; returns its trace id. */
export function writeInvocation(journal: Journal, i: number): string {
  const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: `c${i}`, CNI_NETNS: '/var/run/netns/cni-1', CNI_IFNAME: 'eth0', CNI_ARGS: `K8S_POD_NAMESPACE=bench;K8S_POD_NAME=pod-${i};K8S_POD_UID=u${i}`, CNI_PATH: '/opt/cni/bin' };
  const rec = new InvocationRecorder({ journal, env, isCredential, captureMaxBytes: 65536 });
  const entry = { cniVersion: '1.0.0', name: 'k8s-pod-network', type: 'cni-trace', delegates: [{ type: 'bridge' }, { type: 'portmap' }] };
  rec.begin({ command: 'ADD', containerId: `c${i}`, netns: env.CNI_NETNS, ifname: 'eth0', args: env.CNI_ARGS, path: env.CNI_PATH }, 'k8s-pod-network', '1.0.0', entry, ['bridge', 'portmap']);
  for (const [k, plugin] of ['bridge', 'portmap'].entries()) {
    const step = rec.stepBegin(k, plugin, `/opt/cni/bin/${plugin}`, { type: plugin, name: 'k8s-pod-network', cniVersion: '1.0.0' });
    const t = process.hrtime.bigint();
    const outcome: ExecOutcome = { exitCode: 0, signal: null, stdout: Buffer.from(RESULT), stderr: Buffer.alloc(0), stderrBytes: 0, spawnError: null, pid: 1000 + k, startMono: t, endMono: t + 5_000_000n };
    rec.stepEnd(step, outcome, 'ok');
  }
  rec.end(0, RESULT);
  return rec.traceId;
}

/** Writes n invocations into a journal directory. */
export function writeJournal(dir: string, n: number, from = 0): void {
  const journal = benchJournal(dir);
  for (let i = from; i < from + n; i++) writeInvocation(journal, i);
}
