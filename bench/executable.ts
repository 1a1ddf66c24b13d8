/**
 * The self-contained executable: size and start-up of the ways a Node single executable
 * application can carry the plugin — compile at each start, Node's V8 code cache (the script's
 * top level), a code cache trained on a real call (what ships, decision 39), a startup
 * snapshot — against `node -e 0`, the bundle run by node (the "#!" form), and a bare
 * Debian plugin answering VERSION. Two measures per variant: VERSION (start-up alone) and a DEL
 * through two trivial sh delegates with nesting off (start-up plus the wrapper's own work).
 * The variants other than the shipped one are built here, into a temp dir.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { buildSea } from '../scripts/build-sea.ts';
import { versionOnly } from '../scripts/version-only.ts';
import { ROOT } from '../test/support/fixtures.ts';
import { benchEnv, fmt, median, table } from './stats.ts';

export interface ExecutableBench { readonly text: string; readonly versionRatio: number; readonly sizeMb: number }

export async function benchExecutable(n: number): Promise<ExecutableBench> {
  const dir = mkdtempSync(join(tmpdir(), 'cnitrace-bench-sea-'));
  try {
    const snapEntry = join(dir, 'snapshot.cjs');
    await build({ entryPoints: [join(ROOT, 'wrapper/snapshot.ts')], outfile: snapEntry, bundle: true, platform: 'node', target: 'node22', format: 'cjs', minify: true, logLevel: 'warning', define: { 'import.meta.url': 'undefined' }, plugins: [versionOnly] });
    const variants = { compile: join(dir, 'sea-compile'), cache: join(dir, 'sea-code-cache'), snapshot: join(dir, 'sea-snapshot') };
    await buildSea({ out: variants.compile, startup: 'compile', main: join(ROOT, 'dist/cni-trace.cjs') });
    await buildSea({ out: variants.cache, startup: 'code-cache', main: join(ROOT, 'dist/cni-trace.cjs') });
    await buildSea({ out: variants.snapshot, startup: 'snapshot', main: snapEntry });
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'noop'), '#!/bin/sh\ncat >/dev/null\n');
    chmodSync(join(bin, 'noop'), 0o755);
    const shipped = join(ROOT, 'dist/cni-trace');
    const cases: Array<[label: string, cmd: string, args: string[], size: string | null]> = [
      ['node -e 0 (floor)', process.execPath, ['-e', '0'], null],
      ['Debian bridge plugin', '/usr/lib/cni/bridge', [], '/usr/lib/cni/bridge'],
      ['node + bundle (the "#!" form)', process.execPath, [join(ROOT, 'dist/cni-trace.cjs')], join(ROOT, 'dist/cni-trace.cjs')],
      ['executable, compiled at start', variants.compile, [], variants.compile],
      ['executable, Node\'s code cache (top level)', variants.cache, [], variants.cache],
      ['executable, trained code cache (shipped)', shipped, [], shipped],
      ['executable, startup snapshot', variants.snapshot, [], variants.snapshot],
    ];
    const env = benchEnv();
    const del = { ...env, CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'bench', CNI_IFNAME: 'eth0', CNI_NETNS: '', CNI_PATH: bin };
    const entry = JSON.stringify({ cniVersion: '1.0.0', name: 'bench', type: 'cni-trace', journalDir: join(dir, 'journal'), nested: false, delegates: [{ type: 'noop' }, { type: 'noop' }] });
    const version: number[][] = cases.map(() => []);
    const call: number[][] = cases.map(() => []);
    const time = (cmd: string, args: string[], e: Record<string, string>, input: string): number => {
      const t = process.hrtime.bigint();
      spawnSync(cmd, args, { env: e, input, stdio: ['pipe', 'ignore', 'ignore'] });
      return Number(process.hrtime.bigint() - t) / 1e6;
    };
    for (let i = 0; i < n; i++) {
      cases.forEach(([, cmd, args], k) => {
        version[k]!.push(time(cmd, args, { ...env, CNI_COMMAND: 'VERSION' }, '{}'));
        if (k >= 2) call[k]!.push(time(cmd, args, del, entry));
      });
    }
    const floor = median(version[0]!);
    const rows = cases.map(([label, , , size], k) => {
      const v = median(version[k]!);
      const c = k >= 2 ? median(call[k]!) : null;
      return [label, size ? `${(statSync(size).size / 1e6).toFixed(size.endsWith('.cjs') || size.includes('/usr/lib/') ? 3 : 1)} MB` : '—', fmt(v), `${(v / floor).toFixed(2)} ×`,
        c === null ? '—' : fmt(c), c === null ? '—' : `${((c - floor) / floor).toFixed(2)} ×`];
    });
    const text = table(['plugin form', 'size', 'VERSION ms', 'VERSION / floor', 'DEL, 2 sh delegates ms', 'DEL over floor / floor'], rows)
      + `\n\n(N=${n} each, alternated; floor ${fmt(floor)} ms; the bundle's size is without the Node it needs)`;
    return { text, versionRatio: median(version[5]!) / floor, sizeMb: statSync(shipped).size / 1e6 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) console.log((await benchExecutable(Number(process.argv[2] ?? 30))).text);
