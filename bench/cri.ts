/**
 * A pod's sandbox as the kubelet sets it up and tears it down through containerd's CRI
 * (test/support/containerd.ts, test/cri): RunPodSandbox, StopPodSandbox and RemovePodSandbox,
 * each RPC timed in the client, on the bare full chain (bridge + host-local, portmap,
 * bandwidth, tuning, firewall) and on the same chain wrapped, two containerd instances side by
 * side, calls alternated, medians.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { wrapConflist } from '../src/cli/conflist.ts';
import { fullBridgeChain } from '../test/support/chains.ts';
import { Containerd } from '../test/support/containerd.ts';
import type { CriPod } from '../test/support/cri.ts';
import { DEBIAN_CNI, installCniTrace } from '../test/support/fixtures.ts';
import { Sandbox } from '../test/support/sandbox.ts';
import { benchEnv, fmt, median, table } from './stats.ts';

export interface CriBench { readonly text: string; readonly runAddedMs: number; readonly stopAddedMs: number; readonly runBareMs: number; readonly stopBareMs: number }

const CALLS = ['run', 'stop', 'remove'] as const;

export async function benchCri(n: number): Promise<CriBench> {
  const own = new Sandbox('bench-cri');
  await own.keepHostNetwork();
  const bin = join(own.dir, 'bin');
  installCniTrace(bin);
  const kinds = ['bare', 'wrapped'] as const;
  const instances: Partial<Record<(typeof kinds)[number], Containerd>> = {};
  const sbs = { bare: new Sandbox('bench-cri-b'), wrapped: new Sandbox('bench-cri-w') };
  try {
    for (const kind of kinds) {
      const spec = fullBridgeChain(sbs[kind], join(sbs[kind].dir, 'ipam'));
      spec.links.forEach((l) => sbs[kind].ownLink(l));
      const conflist = kind === 'bare' ? spec.conflist : wrapConflist(spec.conflist, { journalDir: join(own.dir, 'journal') });
      instances[kind] = await Containerd.start({ dir: join(own.dir, `cd-${kind}`), conflist, pluginDirs: [bin, DEBIAN_CNI] });
    }
    const samples = { bare: { run: [] as number[], stop: [] as number[], remove: [] as number[] }, wrapped: { run: [] as number[], stop: [] as number[], remove: [] as number[] } };
    const floors: number[] = [];
    for (let i = -1; i < n; i++) { // i = -1: warm-up, not counted
      for (const kind of i % 2 === 0 ? kinds : [...kinds].reverse()) {
        const cd = instances[kind]!;
        const pod: CriPod = {
          name: `bench-${i + 1}`, namespace: 'bench', uid: `uid-${own.id}-${kind}-${i + 1}`,
          portMappings: [{ protocol: 'TCP', containerPort: 80, hostPort: kind === 'bare' ? 31801 : 31802 }],
          annotations: { 'kubernetes.io/ingress-bandwidth': '8M', 'kubernetes.io/egress-bandwidth': '8M' },
        };
        const run = await cd.run(pod);
        if (!run.ok) throw new Error(`${kind}: RunPodSandbox failed: ${run.message}`);
        const stop = await cd.stop(run.id!);
        const remove = await cd.remove(run.id!);
        if (!stop.ok || !remove.ok) throw new Error(`${kind}: stop/remove failed: ${stop.message ?? remove.message}`);
        if (i >= 0) {
          samples[kind].run.push(run.durationNs / 1e6);
          samples[kind].stop.push(stop.durationNs / 1e6);
          samples[kind].remove.push(remove.durationNs / 1e6);
        }
      }
      const t = process.hrtime.bigint();
      spawnSync(process.execPath, ['-e', '0'], { env: benchEnv(), stdio: 'ignore' });
      floors.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    const floor = median(floors);
    const names = { run: 'RunPodSandbox', stop: 'StopPodSandbox', remove: 'RemovePodSandbox' };
    const rows = CALLS.map((c) => {
      const [b, w] = [median(samples.bare[c]), median(samples.wrapped[c])];
      return [names[c], fmt(b), fmt(w), fmt(w - b), `${((w - b) / floor).toFixed(2)} ×`, `${((w / b - 1) * 100).toFixed(1)} %`];
    });
    const text = table(['CRI call (containerd, full chain)', 'bare median ms', 'wrapped median ms', 'added ms', 'added / floor', 'added / bare'], rows)
      + `\n\n(N=${n} pods each, bare and wrapped alternated, each RPC timed in the client; floor \`node -e 0\` ${fmt(floor)} ms; RunPodSandbox holds one ADD, StopPodSandbox one DEL, RemovePodSandbox one more DEL without netns)`;
    const m = (k: 'bare' | 'wrapped', c: 'run' | 'stop'): number => median(samples[k][c]);
    return { text, runAddedMs: m('wrapped', 'run') - m('bare', 'run'), stopAddedMs: m('wrapped', 'stop') - m('bare', 'stop'), runBareMs: m('bare', 'run'), stopBareMs: m('bare', 'stop') };
  } finally {
    for (const cd of Object.values(instances)) {
      const errors = await cd.down();
      if (errors.length > 0) console.error(`containerd clean-up: ${errors.join('; ')}`);
    }
    await sbs.bare.cleanup();
    await sbs.wrapped.cleanup();
    await own.cleanup();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) console.log((await benchCri(Number(process.argv[2] ?? 30))).text);
