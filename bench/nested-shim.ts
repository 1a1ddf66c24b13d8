/**
 * What a shim in front of each nested plugin call would cost (issue: nested tracing), measured
 * before choosing one: the real host-local answering VERSION directly, and through
 *  - a Node shim (the way the wrapper is built: start Node, append a begin record, spawn the
 *    plugin with its stdio, append an end record),
 *  - a /bin/sh shim doing the same with `date +%s%N` and `>>`,
 *  - a /bin/sh shim that only execs the plugin (the floor of any exec-in-between design),
 *  - cni-trace's own shim (wrapper/nested-shim.c, dist/cni-trace-shim, set up by
 *    src/plugin/nested.ts), as a delegate's CNI_PATH lookup finds it; the wrapper's reading of
 *    its spool is done between runs, outside the timing,
 * alternated, medians, against `node -e 0` measured in the same run (NODE_EXTRA_CA_CERTS unset
 * by benchEnv, as in every bench).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureShim } from '../scripts/build-shim.ts';
import { NestedTracer } from '../src/plugin/nested.ts';
import { benchEnv, fmt, median, table } from './stats.ts';

const PLUGIN = '/usr/lib/cni/host-local';

export function benchNestedShim(n: number): { text: string; shimRatio: number } {
  const dir = mkdtempSync(join(tmpdir(), 'cnitrace-bench-shim-'));
  try {
    const journal = join(dir, 'journal.jsonl');
    const nodeShim = join(dir, 'node-shim');
    writeFileSync(nodeShim, `#!${process.execPath}
'use strict';
const fs = require('node:fs');
const { spawnSync } = require('node:child_process');
const t0 = process.hrtime.bigint();
fs.appendFileSync(${JSON.stringify(journal)}, JSON.stringify({ rec: 'step.begin', tp: process.env.TRACEPARENT || '', t0: String(t0) }) + '\\n');
const r = spawnSync(${JSON.stringify(PLUGIN)}, [], { stdio: 'inherit' });
fs.appendFileSync(${JSON.stringify(journal)}, JSON.stringify({ rec: 'step.end', code: r.status, d: String(process.hrtime.bigint() - t0) }) + '\\n');
process.exitCode = r.status ?? 1;
`);
    const shShim = join(dir, 'sh-shim');
    writeFileSync(shShim, `#!/bin/sh
t0=$(date +%s%N)
printf '{"rec":"step.begin","tp":"%s","t0":"%s"}\\n' "$TRACEPARENT" "$t0" >> ${journal}
${PLUGIN}
rc=$?
printf '{"rec":"step.end","code":%d,"t1":"%s"}\\n' "$rc" "$(date +%s%N)" >> ${journal}
exit $rc
`);
    const execShim = join(dir, 'exec-shim');
    writeFileSync(execShim, `#!/bin/sh\nexec ${PLUGIN}\n`);
    for (const f of [nodeShim, shShim, execShim]) chmodSync(f, 0o755);
    ensureShim();
    const tracer = NestedTracer.create(join(dir, 'run'), 'bbbbbbbbbbbbbbbb', '/usr/lib/cni', ['/usr/lib/cni']);
    if (typeof tracer === 'string') throw new Error(tracer);
    const env = { ...benchEnv(), CNI_COMMAND: 'VERSION', CNI_PATH: tracer.cniPath, TRACEPARENT: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01` };
    const cases: Array<[string, string, string[]]> = [
      ['node -e 0 (floor)', process.execPath, ['-e', '0']],
      ['host-local VERSION, direct', PLUGIN, []],
      ['through a Node shim', nodeShim, []],
      ['through a sh shim recording begin/end', shShim, []],
      ['through a sh shim that only execs', execShim, []],
      ["through cni-trace's nested shim", join(tracer.binDir, 'host-local'), []],
    ];
    const samples = cases.map(() => [] as number[]);
    for (let i = 0; i < n; i++) {
      cases.forEach(([, cmd, args], k) => {
        const t = process.hrtime.bigint();
        const r = spawnSync(cmd, args, { env, input: '{"cniVersion":"1.0.0"}', stdio: ['pipe', 'ignore', 'ignore'] });
        if (r.status !== 0) throw new Error(`${cases[k]![0]} exited ${r.status}`);
        samples[k]!.push(Number(process.hrtime.bigint() - t) / 1e6);
        tracer.collect('0000000000000001');
      });
    }
    const floor = median(samples[0]!);
    const direct = median(samples[1]!);
    const text = table(['nested call', 'median ms', 'added over direct ms', 'added / floor'], cases.map(([label], k) => {
      const m = median(samples[k]!);
      return [label, fmt(m), k < 2 ? '—' : fmt(m - direct), k < 2 ? '—' : `${((m - direct) / floor).toFixed(2)} ×`];
    })) + `\n\n(N=${n} each, alternated; floor ${fmt(floor)} ms)`;
    return { text, shimRatio: (median(samples[5]!) - direct) / floor };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(benchNestedShim(Number(process.argv[2] ?? 30)).text);
