/**
 * Where a wrapped call's time goes, read off the journal's own timestamps (no instrumentation
 * in the hot path): the installed plugin runs a DEL through two trivial sh delegates, with
 * nested tracing off and on, and on without the compiled front (the Node part exec'd directly,
 * docs/decisions.md 32). Phases: spawn → invocation.begin (exec, Node start, reading and
 * checking stdin), → first step.begin (journal, watchdog, nested shim dir), each step (the
 * delegate's own run is measured separately, spawned directly), between steps, last step →
 * invocation.end, and → exit as the parent sees it (stdout, teardown, reaping; with the front,
 * the answer is sent after invocation.end and Node's teardown is off the caller's clock).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installCniTrace } from '../test/support/fixtures.ts';
import { benchEnv, fmt, median, table } from './stats.ts';

const PHASES = ['exec → begin', 'begin → first step', 'step 1', 'between steps', 'step 2', 'last step → end', 'end → exit', 'whole call'] as const;

export function benchPhases(n: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'cnitrace-bench-phases-'));
  try {
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'noop'), '#!/bin/sh\ncat >/dev/null\n');
    chmodSync(join(bin, 'noop'), 0o755);
    const env = { ...benchEnv(), CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'bench', CNI_IFNAME: 'eth0', CNI_NETNS: '', CNI_PATH: bin };
    const journal = join(dir, 'journal');
    const front = installCniTrace(join(dir, 'plugin'));
    const forms = [['off', front, false], ['on', front, true], ['no front', `${front}-node`, true]] as const;
    const samples: Record<string, Record<string, number[]>> = {};
    const floor: number[] = [];
    const noop: number[] = [];
    for (let i = 0; i < n; i++) {
      for (const [form, exe, nested] of forms) {
        rmSync(journal, { recursive: true, force: true });
        const entry = JSON.stringify({ cniVersion: '1.0.0', name: 'bench', type: 'cni-trace', journalDir: journal, runDir: join(dir, 'run'), nested, delegates: [{ type: 'noop' }, { type: 'noop' }] });
        const t0 = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e3)) * 1000n;
        const m0 = process.hrtime.bigint();
        spawnSync(exe, [], { env, input: entry, stdio: ['pipe', 'ignore', 'ignore'] });
        const t1 = t0 + (process.hrtime.bigint() - m0);
        const recs = readFileSync(join(journal, 'journal.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { rec: string; startNs?: string; endNs?: string });
        const begin = BigInt(recs[0]!.startNs!);
        const end = BigInt(recs.at(-1)!.endNs!);
        const sb = recs.filter((r) => r.rec === 'step.begin').map((r) => BigInt(r.startNs!));
        const se = recs.filter((r) => r.rec === 'step.end').map((r) => BigInt(r.endNs!));
        const ms = (a: bigint, b: bigint): number => Number(b - a) / 1e6;
        const row = (samples[form] ??= Object.fromEntries(PHASES.map((p) => [p, []])));
        const vals = [ms(t0, begin), ms(begin, sb[0]!), ms(sb[0]!, se[0]!), ms(se[0]!, sb[1]!), ms(sb[1]!, se[1]!), ms(se[1]!, end), ms(end, t1), ms(t0, t1)];
        PHASES.forEach((p, k) => row[p]!.push(vals[k]!));
      }
      let t = process.hrtime.bigint();
      spawnSync(process.execPath, ['-e', '0'], { env: benchEnv(), stdio: 'ignore' });
      floor.push(Number(process.hrtime.bigint() - t) / 1e6);
      t = process.hrtime.bigint();
      spawnSync(join(bin, 'noop'), [], { input: '{}', stdio: ['pipe', 'ignore', 'ignore'] });
      noop.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    const rows = PHASES.map((p) => [p, ...forms.map(([form]) => fmt(median(samples[form]![p]!)))]);
    return table(['phase', 'nested off ms', 'nested on ms', 'nested on, no front ms'], rows)
      + `\n\n(N=${n}, alternated; \`node -e 0\` ${fmt(median(floor))} ms; one noop delegate spawned directly ${fmt(median(noop))} ms)`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(benchPhases(Number(process.argv[2] ?? 30)));
