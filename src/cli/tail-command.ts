/** `cni-trace tail`: one line (or JSON object) per invocation, optionally following. */
import { keepYoungGenerationSmall } from './heap.ts';
import { colourWanted, JOURNAL_OPTION, NODE_DEFAULTS, OUTPUT_OPTIONS, outputFormat, reportRefusedFiles, requireJournal, selection, SELECTION_HELP, SELECTION_OPTIONS, usage, withSlowBaseline, type CliCommand } from './command.ts';
import { tail as tailJournal } from './tail.ts';

export const tail: CliCommand = {
  examples: ['cni-trace tail --command ADD --status slow', 'cni-trace tail -f --status error --since 1h'],
  help: `Usage: cni-trace tail [--journal DIR] [-f] [--last N] [selection] [-o text|wide|json]

Prints one line per recorded invocation: time, command, status, duration, pod,
container, interface, network, each step's plugin and duration, and cni-trace's own
time. Pod start is --command ADD; what was slow, --status slow or --slower-than 2s.
  --journal DIR        the journal directory (default ${NODE_DEFAULTS.journal})
  -f, --follow         keep printing invocations as they end
  --last N             of what is recorded, only the last N (then follow, with -f)
${SELECTION_HELP}
  -o, --output FORMAT  text (default), wide (adds the trace id) or json (one object
                       per invocation, fields in docs/cli.md); --json = -o json
Colour only on a terminal, never with NO_COLOR set.`,
  options: { ...JOURNAL_OPTION, ...OUTPUT_OPTIONS, ...SELECTION_OPTIONS, follow: { type: 'boolean', short: 'f' }, last: { type: 'string' } },
  run(values) {
    keepYoungGenerationSmall();
    const journal = values.journal as string;
    const output = outputFormat('tail', values, ['text', 'wide', 'json'] as const);
    const last = values.last === undefined ? undefined : Number(values.last);
    if (last !== undefined && (!Number.isInteger(last) || last < 0)) usage('tail', `--last must be a whole number, got "${values.last as string}"`);
    const filter = selection('tail', values);
    reportRefusedFiles();
    requireJournal('tail', journal, values.follow === true);
    const stop = tailJournal({
      journal, json: output === 'json', wide: output === 'wide', follow: values.follow === true, colour: colourWanted(),
      write: (line) => process.stdout.write(line + '\n'),
      filter: withSlowBaseline(journal, filter), ...(last !== undefined ? { last } : {}),
    });
    if (values.follow) for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => { stop(); process.exit(0); });
  },
};
