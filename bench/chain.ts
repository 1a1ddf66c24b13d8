/**
 * Wrapped vs bare ADD and DEL through the libcni driver over the real Debian plugins, runs
 * alternated within one loop so drift hits both alike, with `node -e 0` (the pinned Node,
 * spawned the same way) as the floor measured in the same run. Times are libcni's own
 * (the driver's AddNetworkList/DelNetworkList wall time), in milliseconds.
 * A third form, wrapped with `nested: false`, gives the cost of nested tracing per nested call;
 * a fourth runs the Node part directly (`type: cni-trace-node`, nested on), without the
 * compiled front, which is what the front saves (docs/decisions.md 32).
 * Run as root: `npm run bench` (all) or `node bench/chain.ts [N]`.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { wrapConflist } from '../src/cli/conflist.ts';
import type { JsonObject } from '../src/config/wrapper-entry.ts';
import { driverPath } from '../test/support/driver.ts';
import { DEBIAN_CNI, installCniTrace } from '../test/support/fixtures.ts';
import { fullBridgeChain, subnetFor } from '../test/support/chains.ts';
import { iptablesState, keepSysctl, restoreIptables, Sandbox } from '../test/support/sandbox.ts';
import { benchEnv, bootstrapSe, fmt, median, table } from './stats.ts';

/**
 * `wrapped` traces nested calls (the default); `flat` is the same entry with `nested: false`.
 * Both chains make one nested call per ADD and per DEL (bridge → host-local), so
 * wrapped − flat is the added time per nested call, shim directory set-up included.
 */
export interface ChainBenchRow {
  chain: string; op: string; bare: number; wrapped: number; flat: number; noFront: number; added: number; nested: number; floor: number;
  /** Standard errors (bootstrap over the runs, docs/decisions.md 40) of added / floor and nested / floor. */
  addedSe: number; nestedSe: number;
}

/** Wall time of one spawn of `node -e 0`, in ms. */
function nodeFloor(env: Record<string, string>): number {
  const t = process.hrtime.bigint();
  spawnSync(process.execPath, ['-e', '0'], { env, stdio: 'ignore' });
  return Number(process.hrtime.bigint() - t) / 1e6;
}

export async function benchChains(n: number): Promise<{ rows: ChainBenchRow[]; floor: number; text: string }> {
  const sb = new Sandbox('bench');
  const restoreForward = await keepSysctl('net.ipv4.ip_forward');
  const ipt = await iptablesState();
  const env = benchEnv();
  const driver = await driverPath();
  const floors: number[] = [];
  const rows: ChainBenchRow[] = [];
  try {
    const bin = join(sb.dir, 'bin');
    installCniTrace(bin);
    const bridge = sb.name('ctbb');
    sb.ownLink(bridge);
    const chains: Array<[string, JsonObject, Record<string, unknown> | undefined]> = [
      ['bridge+host-local', {
        cniVersion: '1.0.0', name: sb.name('ctbn'),
        plugins: [{ type: 'bridge', bridge, ipam: { type: 'host-local', ranges: [[{ subnet: subnetFor(sb, 20) }]], dataDir: join(sb.dir, 'ipam-b') } }],
      }, undefined],
    ];
    const full = fullBridgeChain(sb, join(sb.dir, 'ipam-full'));
    full.links.forEach((l) => sb.ownLink(l));
    chains.push(['bridge+portmap+bandwidth+tuning+firewall', full.conflist, full.capArgs]);
    for (const [label, list, capArgs] of chains) {
      const files = { bare: join(sb.dir, `${label}.bare`), wrapped: join(sb.dir, `${label}.wrapped`), flat: join(sb.dir, `${label}.flat`), direct: join(sb.dir, `${label}.direct`) };
      writeFileSync(files.bare, JSON.stringify(list));
      const wrapped = wrapConflist(list, { journalDir: join(sb.dir, 'journal') });
      writeFileSync(files.wrapped, JSON.stringify(wrapped));
      const flat = { ...wrapped, plugins: [{ ...(wrapped.plugins as JsonObject[])[0]!, nested: false }] };
      writeFileSync(files.flat, JSON.stringify(flat));
      const direct = { ...wrapped, plugins: [{ ...(wrapped.plugins as JsonObject[])[0]!, type: 'cni-trace-node' }] };
      writeFileSync(files.direct, JSON.stringify(direct));
      const netns = await sb.netns(`b${rows.length}`);
      const samples: Record<string, number[]> = { 'bare ADD': [], 'bare DEL': [], 'wrapped ADD': [], 'wrapped DEL': [], 'flat ADD': [], 'flat DEL': [], 'direct ADD': [], 'direct DEL': [] };
      const run = async (kind: keyof typeof files, op: 'add' | 'del', id: string, keep = true): Promise<void> => {
        const args = ['--conflist', files[kind], '--netns', netns, '--id', id, '--path', `${bin}:${DEBIAN_CNI}`, '--cache-dir', join(sb.dir, 'cache'), '--args', 'IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=p', ...(capArgs ? ['--cap-args', JSON.stringify(capArgs)] : []), op];
        const res = await execa(driver, args, { env, extendEnv: false });
        const out = JSON.parse(res.stdout) as { ok: boolean; durationNs: number; error?: { msg: string } };
        if (!out.ok) throw new Error(`${kind} ${op}: ${out.error?.msg}`);
        if (keep) samples[`${kind} ${op.toUpperCase()}`]!.push(out.durationNs / 1e6);
      };
      // Warm-up: page cache, bridge creation, iptables chains.
      const kinds = ['bare', 'wrapped', 'flat', 'direct'] as const;
      for (const kind of kinds) { await run(kind, 'add', 'warm', false); await run(kind, 'del', 'warm', false); }
      const chainFloors: number[] = [];
      for (let i = 0; i < n; i++) {
        // Rotate the order so no form always runs first (or right after another).
        const order = [...kinds.slice(i % kinds.length), ...kinds.slice(0, i % kinds.length)];
        for (const kind of order) {
          await run(kind, 'add', `b${i}`);
          await run(kind, 'del', `b${i}`);
        }
        chainFloors.push(nodeFloor(env));
      }
      for (const f of chainFloors) floors.push(f);
      const floor = median(floors);
      for (const op of ['ADD', 'DEL']) {
        const form = (kind: string, runs?: readonly number[]): number => {
          const xs = samples[`${kind} ${op}`]!;
          return median(runs ? runs.map((i) => xs[i]!) : xs);
        };
        const bare = form('bare');
        const wrapped = form('wrapped');
        const flatMs = form('flat');
        // Over this chain's own runs: each run's forms and floor were measured side by side.
        const over = (minus: string) => (runs: readonly number[]): number => (form('wrapped', runs) - form(minus, runs)) / median(runs.map((i) => chainFloors[i]!));
        rows.push({
          chain: label, op, bare, wrapped, flat: flatMs, noFront: form('direct'), added: wrapped - bare, nested: wrapped - flatMs, floor,
          addedSe: bootstrapSe(n, over('bare')), nestedSe: bootstrapSe(n, over('flat')),
        });
      }
    }
  } finally {
    await restoreIptables(ipt);
    await restoreForward();
    await sb.cleanup();
  }
  const floor = median(floors);
  const text = table(['chain', 'op', 'bare ms', 'wrapped ms', 'added ms', 'added / floor', 'nested off ms', 'per nested call ms', 'nested / floor', 'no front ms', 'no front: added / floor'],
    rows.map((r) => [r.chain, r.op, fmt(r.bare), fmt(r.wrapped), fmt(r.added), `${(r.added / floor).toFixed(2)} × ±${r.addedSe.toFixed(2)}`,
      fmt(r.flat), fmt(r.nested), `${(r.nested / floor).toFixed(2)} × ±${r.nestedSe.toFixed(2)}`, fmt(r.noFront), `${((r.noFront - r.bare) / floor).toFixed(2)} ×`]));
  return { rows, floor, text: `${text}\n\nfloor: \`node -e 0\` median ${fmt(floor)} ms (N=${n} per cell, alternated; ± is the standard error, by bootstrap over the runs)` };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const n = Number(process.argv[2] ?? 30);
  const { text } = await benchChains(n);
  console.log(text);
}
