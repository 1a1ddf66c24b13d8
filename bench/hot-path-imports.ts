/**
 * What loading a library would cost the wrapper, per CNI call: start-up of `node` requiring
 * the library (and of the wrapper bundle answering VERSION) minus `node -e 0`, medians of
 * alternated runs. This is the measurement behind keeping zod and execa out of the hot
 * path (docs/decisions.md).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from '../test/support/fixtures.ts';
import { benchEnv, fmt, median, table } from './stats.ts';

export function benchImports(n: number): { text: string; floor: number } {
  const env = benchEnv();
  const cases: Array<[string, string[], Record<string, string>?]> = [
    ['node -e 0 (floor)', ['-e', '0']],
    ['wrapper bundle, VERSION', [join(ROOT, 'dist/cni-trace.cjs')], { CNI_COMMAND: 'VERSION' }],
    ['require("zod")', ['-e', 'require("zod")']],
    ['import("zod/mini")', ['--input-type=module', '-e', 'await import("zod/mini")']],
    ['import("execa")', ['--input-type=module', '-e', 'await import("execa")']],
    ['require("node:child_process")', ['-e', 'require("node:child_process")']],
    ['require("node:crypto") random bytes', ['-e', 'require("node:crypto").randomFillSync(Buffer.alloc(24))']],
    ['/dev/urandom random bytes', ['-e', 'const f=require("node:fs");f.readSync(f.openSync("/dev/urandom","r"),Buffer.alloc(24))']],
    ['performance.timeOrigin', ['-e', 'performance.timeOrigin']],
  ];
  const samples = cases.map(() => [] as number[]);
  for (let i = 0; i < n; i++) {
    cases.forEach(([, args, extra], k) => {
      const t = process.hrtime.bigint();
      const r = spawnSync(process.execPath, args, { env: { ...env, ...extra }, cwd: ROOT, stdio: ['pipe', 'ignore', 'ignore'], input: '{}' });
      if (r.status !== 0) throw new Error(`${cases[k]![0]} exited ${r.status}`);
      samples[k]!.push(Number(process.hrtime.bigint() - t) / 1e6);
    });
  }
  const floor = median(samples[0]!);
  const rows = cases.map(([label], k) => {
    const m = median(samples[k]!);
    return [label, fmt(m), k === 0 ? '—' : fmt(m - floor), k === 0 ? '1.00 ×' : `${(m / floor).toFixed(2)} ×`];
  });
  return { floor, text: table(['start-up', 'median ms', 'over floor ms', '× floor'], rows) + `\n\n(N=${n} each, alternated)` };
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(benchImports(Number(process.argv[2] ?? 30)).text);
