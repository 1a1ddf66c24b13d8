/** `cni-trace stats`: latency percentiles per plugin and command, and the slowest calls. */
import { existsSync } from 'node:fs';
import { keepYoungGenerationSmall } from './heap.ts';
import { fail, JOURNAL_OPTION, selection, reportRefusedFiles, type CliCommand } from './command.ts';
import { renderStats, statsReport } from './stats.ts';

export const stats: CliCommand = {
  help: `Usage: cni-trace stats [--journal DIR] [--since DURATION] [--json]

Per plugin and command: count, errors, p50, p95, p99 and max duration; then the
slowest invocations. "(invocation)" rows are whole CNI calls.`,
  options: { ...JOURNAL_OPTION, since: { type: 'string' }, json: { type: 'boolean' } },
  run(values) {
    keepYoungGenerationSmall();
    const journal = values.journal as string;
    reportRefusedFiles();
    if (!existsSync(journal)) fail(`stats: no journal at ${journal}`);
    const report = statsReport(journal, selection(values as Parameters<typeof selection>[0]));
    console.log(values.json ? JSON.stringify(report, null, 2) : renderStats(report));
  },
};
