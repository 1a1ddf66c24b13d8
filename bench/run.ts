/**
 * All benchmarks: `npm run bench` (as root; N defaults to 30). One table per benchmark, then
 * a summary of the targets. Method: NODE_EXTRA_CA_CERTS unset for every child (it adds ~55 ms
 * to each Node start here); runs alternated; medians; the `node -e 0` floor measured in the
 * same run. `npm run bench -- N --quick` skips the agent, TUI and reader benchmarks.
 */
import { benchAgent } from './agent-export.ts';
import { benchChains } from './chain.ts';
import { benchCri } from './cri.ts';
import { benchExecutable } from './executable.ts';
import { benchImports } from './hot-path-imports.ts';
import { benchJournal } from './journal-append.ts';
import { benchNestedShim } from './nested-shim.ts';
import { benchCommands } from './commands.ts';
import { benchPodman } from './podman.ts';
import { benchReaders } from './readers.ts';
import { table } from './stats.ts';
import { benchTui } from './tui.ts';
import { benchPhases } from './wrapper-phases.ts';
import { scriptArgs, usageError, wholeNumber } from '../scripts/script-args.ts';
import { containerdAvailable } from '../test/support/containerd.ts';

const USAGE = `
Usage: npm run bench -- [N] [--quick] [--chain-runs R] [--chain-n M]   (as root)

Runs every benchmark in bench/, N runs per cell (default 30), and prints one table each and a
summary against the targets. --quick leaves out the agent, TUI and reader benchmarks. --chain-runs R
repeats the chain benchmark R times (default 1) and gives each ratio's spread over the runs;
--chain-n M runs it M times per cell (default N): the five-plugin chain's calls spread by tens
of ms, and its ratios' standard error shrinks only with the square root of M.`;
const { values, positionals } = scriptArgs('bench', USAGE, { quick: { type: 'boolean' }, 'chain-runs': { type: 'string' }, 'chain-n': { type: 'string' } }, true);
if (positionals.length > 1) usageError('bench', USAGE, `one N, got ${positionals.join(' ')}`);
const n = wholeNumber('bench', USAGE, 'N', positionals[0] ?? '30');
const quick = values.quick === true;
const chainRuns = wholeNumber('bench', USAGE, '--chain-runs', values['chain-runs'] ?? '1');
const chainN = wholeNumber('bench', USAGE, '--chain-n', values['chain-n'] ?? String(n));
const section = (title: string, text: string): void => console.log(`\n## ${title}\n\n${text}`);

console.log(`# cni-trace benchmarks (N=${n}${chainN !== n ? `, chains N=${chainN}` : ''}, ${new Date().toISOString()})`);
const chainRunsDone: Awaited<ReturnType<typeof benchChains>>[] = [];
for (let r = 0; r < chainRuns; r++) {
  const run = await benchChains(chainN);
  chainRunsDone.push(run);
  section(`Added time per CNI call, through libcni (test/driver) over the Debian plugins${chainRuns > 1 ? `, run ${r + 1} of ${chainRuns}` : ''}`, run.text);
}
const chains = chainRunsDone[0]!;
const shim = benchNestedShim(n);
section('Nested tracing: a shim in front of a nested plugin call', shim.text);
const commands = await benchCommands(n);
section('Command tracing (`"commands": true`): per traced command, per call of the full chain', commands.text);
section('Where a wrapped call\'s time goes (the journal\'s timestamps)', benchPhases(n));
const exe = await benchExecutable(n);
section('The self-contained executable: size and start-up', exe.text);
section('Start-up: what libraries would cost the hot path', benchImports(n).text);
const journal = await benchJournal(16, 1000);
section('Journal append latency (one record = one write(2), O_APPEND)', journal.text);
const podman = await benchPodman(n);
section('A pod sandbox with podman: bare vs wrapped network', podman.text);
const noContainerd = containerdAvailable();
const cri = noContainerd ? null : await benchCri(n);
section('A pod sandbox through containerd\'s CRI: bare vs wrapped full chain', cri?.text ?? `skipped: ${noContainerd}`);
if (!quick) {
  section('Agent: journal → OTLP/HTTP receiver on loopback (`cni-trace agent --once`)', await benchAgent([10_000, 50_000, 100_000]));
  section('TUI under load', await benchTui());
  section('Readers as the journal grows: tail --last 10, show --pod of a recent pod, stats, the TUI\'s first frame', (await benchReaders()).text);
}

const ratio = (x: number): string => `${x.toFixed(2)} ×`;
const verdict = (ok: boolean, by: string): string => (ok ? 'met' : `not met, by ${by}`);
const rows: string[][] = [];
// Nested on (the default) and off side by side; with several runs, the first run's figure (with
// its standard error, when given) and the spread over all runs.
const spread = (pick: (run: typeof chains, i: number) => number, i: number, se?: number): { worst: number; text: string } => {
  const xs = chainRunsDone.map((run) => pick(run, i));
  const lo = xs.reduce((a, b) => Math.min(a, b));
  const hi = xs.reduce((a, b) => Math.max(a, b));
  const first = se === undefined ? ratio(xs[0]!) : `${ratio(xs[0]!)} ±${se.toFixed(2)}`;
  return { worst: hi, text: xs.length > 1 ? `${first} (${lo.toFixed(2)}–${hi.toFixed(2)})` : first };
};
const chainRows: string[][] = chains.rows.map((r, i) => {
  const on = spread((run, k) => run.rows[k]!.added / run.floor, i, r.addedSe);
  const off = spread((run, k) => (run.rows[k]!.flat - run.rows[k]!.bare) / run.floor, i);
  return [`${r.op}, ${r.chain}`, on.text, off.text, '≤ 1.5 × floor', verdict(on.worst <= 1.5, ratio(on.worst - 1.5))];
});
section('Added per call against the floor, nested tracing on (the default) and off', `${table(['call', 'nested on', 'nested off', 'target (nested on)', ''], chainRows)}\n\n(${chainRuns > 1 ? `each cell: run 1, then the range over ${chainRuns} runs; the verdict takes the worst run. ` : ''}± is run 1's standard error, by bootstrap over its ${chainN} runs per cell)`);
for (const r of chainRows) rows.push([`added per ${r[0]}, nested on (off)`, `${r[1]} (${r[2]})`, r[3]!, r[4]!]);
const nested = chainRunsDone.flatMap((run) => run.rows.map((r) => r.nested / run.floor)).reduce((a, b) => Math.max(a, b));
rows.push(['added per nested call, worst row of every run (shim alone)', `${ratio(nested)} (${ratio(shim.shimRatio)})`, '≤ 0.3 × floor', verdict(nested <= 0.3, ratio(nested - 0.3))]);
rows.push(['added per traced command (per ADD of the full chain, commands it ran)', `${ratio(commands.perCommandRatio)} (${ratio(commands.perAddRatio)}, ${commands.commandsPerAdd})`, '≤ 0.3 × floor per command; opt-in', verdict(commands.perCommandRatio <= 0.3, ratio(commands.perCommandRatio - 0.3))]);
rows.push(['journal append p99, 16 writers paced (saturated)', `${journal.p99Paced.toFixed(2)} ms (${journal.p99Saturated.toFixed(2)} ms)`, '< 1 ms', verdict(journal.p99Paced < 1, `${(journal.p99Paced - 1).toFixed(2)} ms`)]);
rows.push(['executable start-up (VERSION), size', `${ratio(exe.versionRatio)}, ${exe.sizeMb.toFixed(0)} MB`, '—', '—']);
rows.push(['podman run --rm, wrapped − bare', `+${podman.addedMs.toFixed(1)} ms (${podman.addedPct.toFixed(1)} %)`, '—', '—']);
if (cri) rows.push(['containerd RunPodSandbox (StopPodSandbox), wrapped − bare', `+${cri.runAddedMs.toFixed(1)} ms (+${cri.stopAddedMs.toFixed(1)} ms)`, '—', '—']);
section('Summary against the targets', `${table(['measure', 'measured', 'target', ''], rows)}\n\n(floor: \`node -e 0\` median ${chains.floor.toFixed(1)} ms in the chain benchmark)`);
