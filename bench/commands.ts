/**
 * What command tracing (the entry's `commands`) costs: per traced command, the real
 * `iptables -w -t nat -S` run directly against through the command shim (wrapper/nested-shim.c
 * in command mode, as a plugin's PATH lookup finds it; the spool read between runs, outside the
 * timing); per call, the full Debian chain (bridge, portmap, bandwidth, tuning, firewall)
 * through libcni wrapped as usual against wrapped with `"commands": true`, alternated, with
 * how many commands an ADD and a DEL ran. Against `node -e 0` measured in the same run.
 * Run as root: `npm run bench` (all) or `node bench/commands.ts [N]`.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { ensureShim } from '../scripts/build-shim.ts';
import { wrapConflist } from '../src/cli/conflist.ts';
import { DEFAULT_COMMANDS, type JsonObject } from '../src/config/wrapper-entry.ts';
import { InvocationIndex } from '../src/journal/invocations.ts';
import { readJournal } from '../src/journal/reader.ts';
import { NestedTracer } from '../src/plugin/nested.ts';
import { fullBridgeChain } from '../test/support/chains.ts';
import { driverPath } from '../test/support/driver.ts';
import { DEBIAN_CNI, installCniTrace } from '../test/support/fixtures.ts';
import { iptablesState, keepSysctl, restoreIptables, Sandbox } from '../test/support/sandbox.ts';
import { benchEnv, fmt, median, table } from './stats.ts';

export interface CommandBench { text: string; perCommandRatio: number; perAddRatio: number; perAddMs: number; commandsPerAdd: number }

function timed(cmd: string, args: string[], env: Record<string, string>): number {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, stdio: 'ignore' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}`);
  return Number(process.hrtime.bigint() - t) / 1e6;
}

/** Per traced command: the real iptables, direct and through the shim; and the floor. */
function perCommand(n: number, env: Record<string, string>): { floor: number; direct: number; shim: number } {
  const dir = mkdtempSync(join(tmpdir(), 'cnitrace-bench-cmd-'));
  try {
    ensureShim();
    const tracer = NestedTracer.create(join(dir, 'run'), 'cccccccccccccccc', '', []);
    if (typeof tracer === 'string') throw new Error(tracer);
    const got = tracer.commandPath(DEFAULT_COMMANDS, env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin');
    if (!('path' in got)) throw new Error(got.reason);
    const shimEnv = { ...env, PATH: got.path, TRACEPARENT: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01` };
    const args = ['-w', '-t', 'nat', '-S'];
    const s = { floor: [] as number[], direct: [] as number[], shim: [] as number[] };
    for (let i = 0; i < n; i++) {
      s.floor.push(timed(process.execPath, ['-e', '0'], env));
      s.direct.push(timed('iptables', args, env));
      s.shim.push(timed('iptables', args, shimEnv));
      tracer.collect('0000000000000001');
    }
    tracer.dispose();
    return { floor: median(s.floor), direct: median(s.direct), shim: median(s.shim) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Per call: the full chain wrapped, with and without command tracing. */
async function perCall(n: number, env: Record<string, string>): Promise<{ rows: Array<{ op: string; off: number; on: number; commands: number }>; floor: number }> {
  const sb = new Sandbox('bench-cmds');
  const restoreForward = await keepSysctl('net.ipv4.ip_forward');
  const ipt = await iptablesState();
  const driver = await driverPath();
  const floors: number[] = [];
  try {
    const bin = join(sb.dir, 'bin');
    installCniTrace(bin);
    const full = fullBridgeChain(sb, join(sb.dir, 'ipam'));
    full.links.forEach((l) => sb.ownLink(l));
    const wrapped = wrapConflist(full.conflist, { journalDir: join(sb.dir, 'journal-off') });
    const entry = (wrapped.plugins as JsonObject[])[0]!;
    const files = { off: join(sb.dir, 'off.conflist'), on: join(sb.dir, 'on.conflist') };
    writeFileSync(files.off, JSON.stringify({ ...wrapped, plugins: [{ ...entry, runDir: join(sb.dir, 'run') }] }));
    writeFileSync(files.on, JSON.stringify({ ...wrapped, plugins: [{ ...entry, runDir: join(sb.dir, 'run'), journalDir: join(sb.dir, 'journal-on'), commands: true }] }));
    const netns = await sb.netns('bc');
    const samples: Record<string, number[]> = { 'off ADD': [], 'off DEL': [], 'on ADD': [], 'on DEL': [] };
    const run = async (kind: 'off' | 'on', op: 'add' | 'del', id: string): Promise<void> => {
      const args = ['--conflist', files[kind], '--netns', netns, '--id', id, '--path', `${bin}:${DEBIAN_CNI}`, '--cache-dir', join(sb.dir, 'cache'), '--args', 'IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=p', '--cap-args', JSON.stringify(full.capArgs), op];
      const res = await execa(driver, args, { env, extendEnv: false });
      const out = JSON.parse(res.stdout) as { ok: boolean; durationNs: number; error?: { msg: string } };
      if (!out.ok) throw new Error(`${kind} ${op}: ${out.error?.msg}`);
      samples[`${kind} ${op.toUpperCase()}`]!.push(out.durationNs / 1e6);
    };
    for (const kind of ['off', 'on'] as const) { await run(kind, 'add', 'warm'); await run(kind, 'del', 'warm'); }
    for (let i = 0; i < n; i++) {
      for (const kind of i % 2 === 0 ? ['off', 'on'] as const : ['on', 'off'] as const) {
        await run(kind, 'add', `c${i}`);
        await run(kind, 'del', `c${i}`);
      }
      floors.push(timed(process.execPath, ['-e', '0'], env));
    }
    const index = new InvocationIndex(() => false);
    for (const r of readJournal(join(sb.dir, 'journal-on'))) index.add(r);
    const counts = { ADD: [] as number[], DEL: [] as number[] };
    for (const inv of index.list()) if (inv.command === 'ADD' || inv.command === 'DEL') counts[inv.command].push(inv.steps.filter((s) => s.argv).length);
    return {
      floor: median(floors),
      rows: (['ADD', 'DEL'] as const).map((op) => ({ op, off: median(samples[`off ${op}`]!), on: median(samples[`on ${op}`]!), commands: median(counts[op]) })),
    };
  } finally {
    await restoreIptables(ipt);
    await restoreForward();
    await sb.cleanup();
  }
}

export async function benchCommands(n: number): Promise<CommandBench> {
  const env = benchEnv();
  const one = perCommand(n, env);
  const call = await perCall(n, env);
  const perCmd = one.shim - one.direct;
  const add = call.rows.find((r) => r.op === 'ADD')!;
  const text = [
    table(['traced command', 'median ms', 'added ms', 'added / floor'], [
      ['iptables -w -t nat -S, direct', fmt(one.direct), '—', '—'],
      ['through the command shim', fmt(one.shim), fmt(perCmd), `${(perCmd / one.floor).toFixed(2)} ×`],
    ]),
    `(N=${n}, alternated; floor \`node -e 0\` ${fmt(one.floor)} ms)`,
    '',
    table(['full chain, wrapped', 'commands off ms', 'commands on ms', 'commands run', 'added ms', 'added / floor', 'per command ms'], call.rows.map((r) => [
      r.op, fmt(r.off), fmt(r.on), String(r.commands), fmt(r.on - r.off), `${((r.on - r.off) / call.floor).toFixed(2)} ×`, r.commands > 0 ? fmt((r.on - r.off) / r.commands) : '—',
    ])),
    `(N=${n} per cell, alternated; floor \`node -e 0\` ${fmt(call.floor)} ms; bridge, portmap, bandwidth, tuning, firewall)`,
  ].join('\n');
  return { text, perCommandRatio: perCmd / one.floor, perAddRatio: (add.on - add.off) / call.floor, perAddMs: add.on - add.off, commandsPerAdd: add.commands };
}

if (import.meta.url === `file://${process.argv[1]}`) console.log((await benchCommands(Number(process.argv[2] ?? 20))).text);
