/** `cni-trace tail`: one line (or JSON object) per invocation, optionally following. */
import { existsSync } from 'node:fs';
import { keepYoungGenerationSmall } from './heap.ts';
import { colourWanted, fail, JOURNAL_OPTION, NODE_DEFAULTS, selection, reportRefusedFiles, type CliCommand } from './command.ts';
import { tail as tailJournal } from './tail.ts';

export const tail: CliCommand = {
  help: `Usage: cni-trace tail [--journal DIR] [--follow] [--last N] [--since DURATION]
                      [--pod [NS/]NAME] [--namespace NS] [--plugin TYPE] [--errors] [--json]

Prints one line per recorded invocation: time, command, status, duration, pod,
container, interface, network and each step's plugin and duration.
  --journal DIR      the journal directory (default ${NODE_DEFAULTS.journal})
  -f, --follow       keep printing invocations as they end
  --last N           of what is recorded, only the last N (then follow, with -f)
  --since DURATION   only invocations that started within DURATION (30s, 5m, 2h)
  --pod [NS/]NAME    only this pod's invocations
  --namespace NS     only pods in this namespace
  --plugin TYPE      only invocations that ran this plugin
  --errors           only failed and abandoned invocations
  --json             one JSON object per invocation (fields in the README)
Colour only on a terminal, never with NO_COLOR set.`,
  options: {
    ...JOURNAL_OPTION, json: { type: 'boolean' }, follow: { type: 'boolean', short: 'f' },
    last: { type: 'string' }, since: { type: 'string' }, pod: { type: 'string' }, namespace: { type: 'string' }, plugin: { type: 'string' },
    errors: { type: 'boolean' },
  },
  run(values) {
    keepYoungGenerationSmall();
    const journal = values.journal as string;
    reportRefusedFiles();
    if (!existsSync(journal)) {
      const hint = `no journal at ${journal}: nothing was recorded there (is the conflist wrapped, and does its journalDir say so?)`;
      if (!values.follow) fail(`tail: ${hint}`);
      process.stderr.write(`cni-trace: ${hint}; waiting for it\n`);
    }
    const last = values.last === undefined ? undefined : Number(values.last);
    if (last !== undefined && (!Number.isInteger(last) || last < 0)) fail(`tail: --last must be a whole number, got "${values.last as string}"`);
    const stop = tailJournal({
      journal, json: values.json === true, follow: values.follow === true, colour: colourWanted(),
      write: (line) => process.stdout.write(line + '\n'),
      filter: selection(values as Parameters<typeof selection>[0]), ...(last !== undefined ? { last } : {}),
    });
    if (values.follow) for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => { stop(); process.exit(0); });
  },
};
