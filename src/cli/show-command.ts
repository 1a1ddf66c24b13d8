/** `cni-trace show`: one invocation as a waterfall with all its details. */
import { colourWanted, fail, JOURNAL_OPTION, NODE_DEFAULTS, OUTPUT_OPTIONS, outputFormat, reportRefusedFiles, requireJournal, selection, SELECTION_HELP, SELECTION_OPTIONS, usage, withSlowBaseline, type CliCommand } from './command.ts';
import { othersLine, renderInvocation, show as findShown, type ShowSelector } from './show.ts';
import { invocationJson } from './tail.ts';

export const show: CliCommand = {
  examples: ['cni-trace show --pod default/web-0', 'cni-trace show 4bf92f35 -o json'],
  help: `Usage: cni-trace show ID [--journal DIR] [--width N] [-o text|json]
       cni-trace show --pod [NS/]NAME [selection] [--journal DIR]
       cni-trace show [selection] [--journal DIR]

Prints one invocation: identity and outcome, a waterfall of its steps on a shared
time axis (cni-trace's own time as a "cni-trace" row), then each step's config
(stdin), result or error, stderr, and the env.
ID is a trace id or span id, or a prefix of one. --pod shows the pod's latest ADD
(its start, failed or not), with a line listing its other operations; with only
selection flags, the latest invocation that matches (e.g. --command ADD --status error).
  --journal DIR        the journal directory (default ${NODE_DEFAULTS.journal})
  --width N            the waterfall's width (default: the terminal's)
${SELECTION_HELP}
  -o, --output FORMAT  text (default) or json (as tail -o json); --json = -o json`,
  options: { ...JOURNAL_OPTION, ...OUTPUT_OPTIONS, ...SELECTION_OPTIONS, width: { type: 'string' } },
  positionals: true,
  run(values, positionals) {
    const pod = values.pod as string | undefined;
    if (positionals.length > 1) usage('show', `one ID at most, got ${positionals.length}`);
    if (positionals.length === 1 && pod) usage('show', 'give an ID or --pod [NS/]NAME, not both');
    const output = outputFormat('show', values, ['text', 'json'] as const);
    const width = values.width === undefined ? process.stdout.columns ?? 100 : Number(values.width);
    if (!Number.isInteger(width) || width < 20) usage('show', `--width must be a whole number of columns (20 or more), got "${values.width as string}"`);
    const filter = selection('show', values);
    let sel: ShowSelector = positionals.length === 1 ? { id: positionals[0]! } : { latest: true };
    if (pod) {
      // The pod is the selector (its ADD first), not a filter; -n NS names its namespace.
      sel = { pod: filter.pod!, ...(filter.namespace !== undefined ? { namespace: filter.namespace } : {}) };
      delete filter.pod;
      delete filter.namespace;
    }
    const journal = values.journal as string;
    reportRefusedFiles();
    requireJournal('show', journal);
    const found = findShown(journal, sel, withSlowBaseline(journal, filter));
    if (typeof found === 'string') fail(`show: ${found}`);
    if (output === 'json') return void console.log(JSON.stringify({ ...invocationJson(found.inv), ...('pod' in sel ? { otherOperations: found.others.map(invocationJson) } : {}) }, null, 2));
    console.log(renderInvocation(found.inv, { colour: colourWanted(), width }));
    if (found.others.length > 0) console.log(`\n${othersLine(found.others)}`);
  },
};
