/** `cni-trace diagnose`: what is wrong on this node, with evidence and a next step; exit 1 when anything is. */
import { keepYoungGenerationSmall } from './heap.ts';
import { colourWanted, JOURNAL_OPTION, NODE_DEFAULTS, OUTPUT_OPTIONS, outputFormat, reportRefusedFiles, requireJournal, selection, type CliCommand } from './command.ts';
import { diagnoseReport, renderDiagnosis } from './diagnose.ts';

export const diagnose: CliCommand = {
  examples: ['cni-trace diagnose', 'cni-trace diagnose --since 1h --json'],
  help: `Usage: cni-trace diagnose [--journal DIR] [--since WHEN] [-o text|json]

Findings over the journal, each with its evidence and a next step: plugins or
commands slower than their own p95 baseline, errors grouped by plugin and message,
attachments ADDed and never DELeted whose netns is gone (and DELs without an ADD),
containers ADDed again and again, calls abandoned at the runtime's deadline, and
host-local ranges at or near exhaustion. Exit status 1 when it finds anything.
  --journal DIR        the journal directory (default ${NODE_DEFAULTS.journal})
  --since WHEN         only invocations that started since WHEN: a duration back
                       (30s, 5m, 2h) or an RFC 3339 time
  -o, --output FORMAT  text (default) or json; --json = -o json`,
  options: { ...JOURNAL_OPTION, ...OUTPUT_OPTIONS, since: { type: 'string' } },
  run(values) {
    keepYoungGenerationSmall();
    const journal = values.journal as string;
    const output = outputFormat('diagnose', values, ['text', 'json'] as const);
    const { sinceNs } = selection('diagnose', values);
    reportRefusedFiles();
    requireJournal('diagnose', journal);
    const report = diagnoseReport(journal, sinceNs);
    console.log(output === 'json' ? JSON.stringify(report, null, 2) : renderDiagnosis(report, colourWanted()));
    if (report.findings.length > 0) process.exitCode = 1;
  },
};
