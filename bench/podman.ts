/**
 * A pod sandbox's network as podman (CNI backend, runc) sets it up: wall time of
 * `podman run --rm <busybox> true` — create, network ADD, start, stop, network DEL, remove —
 * on a bare bridge + host-local + portmap network, the same network wrapped by cni-trace
 * (the installed self-contained executable, nested tracing on), and wrapped with nesting off,
 * runs alternated, medians, against `node -e 0` measured in the same run.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { wrapConflist } from '../src/cli/conflist.ts';
import type { JsonObject } from '../src/config/wrapper-entry.ts';
import { DEBIAN_CNI, installCniTrace } from '../test/support/fixtures.ts';
import { createPodmanSandbox } from '../test/support/podman.ts';
import { pickFreeSubnet24, randomHex } from '../test/support/podman-host.ts';
import { Sandbox } from '../test/support/sandbox.ts';
import { benchEnv, fmt, median, table } from './stats.ts';

export interface PodmanBench { readonly text: string; readonly addedMs: number; readonly addedPct: number }

export async function benchPodman(n: number): Promise<PodmanBench> {
  const suffix = randomHex(4);
  const own = new Sandbox('bench-podman');
  const bin = join(own.dir, 'bin');
  installCniTrace(bin);
  const net = (kind: string, lo: number, hi: number) => ({ name: `cnitrace-b${kind}-${suffix}`, bridge: `ctb${kind}${suffix}`, ...pickFreeSubnet24('10.203', lo, hi) });
  const nets = { bare: net('b', 200, 216), wrapped: net('w', 217, 233), flat: net('f', 234, 250) };
  const list = (n0: typeof nets.bare, ipamDir: string): JsonObject => ({
    cniVersion: '1.0.0', name: n0.name,
    plugins: [
      { type: 'bridge', bridge: n0.bridge, isGateway: true, ipMasq: false, ipam: { type: 'host-local', ranges: [[{ subnet: n0.subnet }]], dataDir: ipamDir } },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  });
  const sandbox = await createPodmanSandbox({
    binDirs: [bin, DEBIAN_CNI],
    conflist: (p) => list(nets.bare, join(p.scratch, 'ipam-bare')),
    trackLinks: [nets.wrapped.bridge, nets.flat.bridge],
  });
  try {
    const journalDir = join(own.dir, 'journal');
    sandbox.addConflist(wrapConflist(list(nets.wrapped, join(sandbox.paths.scratch, 'ipam-wrapped')), { journalDir }));
    const flat = wrapConflist(list(nets.flat, join(sandbox.paths.scratch, 'ipam-flat')), { journalDir }) as { plugins: JsonObject[] };
    sandbox.addConflist({ ...flat, plugins: [{ ...flat.plugins[0]!, nested: false }] });
    const kinds = ['bare', 'wrapped', 'flat'] as const;
    const samples: Record<string, number[]> = { bare: [], wrapped: [], flat: [] };
    const floors: number[] = [];
    for (const kind of kinds) await sandbox.runContainer(nets[kind].name, ['true']); // warm-up
    for (let i = 0; i < n; i++) {
      for (const kind of [...kinds.slice(i % 3), ...kinds.slice(0, i % 3)]) {
        const r = await sandbox.runContainer(nets[kind].name, ['true']);
        if (r.code !== 0) throw new Error(`${kind}: podman run failed: ${r.stderr}`);
        samples[kind]!.push(r.durationMs);
      }
      const t = process.hrtime.bigint();
      spawnSync(process.execPath, ['-e', '0'], { env: benchEnv(), stdio: 'ignore' });
      floors.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    const floor = median(floors);
    const bare = median(samples.bare!);
    const rows = kinds.map((k) => {
      const m = median(samples[k]!);
      return [k === 'bare' ? 'bare network' : k === 'wrapped' ? 'wrapped (nested on)' : 'wrapped, nested off', fmt(m), k === 'bare' ? '—' : fmt(m - bare),
        k === 'bare' ? '—' : `${((m - bare) / floor).toFixed(2)} ×`, k === 'bare' ? '—' : `${((m / bare - 1) * 100).toFixed(1)} %`];
    });
    const text = table(['podman run --rm busybox true', 'median ms', 'added ms', 'added / floor', 'added / bare'], rows)
      + `\n\n(N=${n} each, alternated; floor \`node -e 0\` ${fmt(floor)} ms; each run is one ADD and one DEL)`;
    const wrapped = median(samples.wrapped!);
    return { text, addedMs: wrapped - bare, addedPct: (wrapped / bare - 1) * 100 };
  } finally {
    const report = await sandbox.cleanup();
    await own.cleanup();
    if (report.errors.length > 0) console.error(`podman sandbox clean-up: ${report.errors.join('; ')}`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) console.log((await benchPodman(Number(process.argv[2] ?? 30))).text);
