/**
 * All benchmarks, one table each: `npm run bench` (as root; N defaults to 30).
 * Method: NODE_EXTRA_CA_CERTS unset for every child (it adds ~55 ms to each Node start
 * here); runs alternated; medians; the floor measured in the same run.
 */
import { benchChains } from './chain.ts';
import { benchImports } from './hot-path-imports.ts';
import { benchJournal } from './journal-append.ts';
import { benchAgent } from './agent-export.ts';
import { benchNestedShim } from './nested-shim.ts';

const n = Number(process.argv[2] ?? 30);
console.log(`# cni-trace benchmarks (N=${n}, ${new Date().toISOString()})\n`);
console.log('## Added time per CNI call, through libcni (test/driver) over the Debian plugins\n');
console.log((await benchChains(n)).text);
console.log('\n## Start-up: the wrapper bundle and what libraries would cost the hot path\n');
console.log(benchImports(n).text);
console.log('\n## Journal append latency (one record = one write(2), O_APPEND)\n');
console.log(await benchJournal(16, 1000));
console.log('\n## Agent: journal → OTLP/HTTP receiver on loopback (`cni-trace agent --once`)\n');
console.log(await benchAgent([10_000, 50_000, 100_000]));
console.log('\n## Nested tracing: a shim in front of a nested plugin call\n');
console.log(benchNestedShim(n));
