/** `cni-trace stats`: latency percentiles per plugin and command, and the slowest calls. */
import { keepYoungGenerationSmall } from './heap.ts';
import { JOURNAL_OPTION, NODE_DEFAULTS, OUTPUT_OPTIONS, outputFormat, reportRefusedFiles, requireJournal, selection, SELECTION_HELP, SELECTION_OPTIONS, withSlowBaseline, type CliCommand } from './command.ts';
import { renderStats, statsReport } from './stats.ts';

export const stats: CliCommand = {
  examples: ['cni-trace stats --command ADD --since 1h'],
  help: `Usage: cni-trace stats [--journal DIR] [selection] [-o text|json]

Per plugin and command: count, errors, p50, p95, p99 and max duration; then the
slowest invocations with their slowest step. "(invocation)" rows are whole CNI calls,
"cni-trace" rows cni-trace's own time in them. Pod start only: --command ADD.
  --journal DIR        the journal directory (default ${NODE_DEFAULTS.journal})
${SELECTION_HELP}
  -o, --output FORMAT  text (default) or json; --json = -o json`,
  options: { ...JOURNAL_OPTION, ...OUTPUT_OPTIONS, ...SELECTION_OPTIONS },
  run(values) {
    keepYoungGenerationSmall();
    const journal = values.journal as string;
    const output = outputFormat('stats', values, ['text', 'json'] as const);
    const filter = selection('stats', values);
    reportRefusedFiles();
    requireJournal('stats', journal);
    const report = statsReport(journal, withSlowBaseline(journal, filter));
    console.log(output === 'json' ? JSON.stringify(report, null, 2) : renderStats(report));
  },
};
