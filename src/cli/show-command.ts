/** `cni-trace show`: one invocation as a waterfall with all its details. */
import { podSelector } from '../view/filter.ts';
import { colourWanted, fail, JOURNAL_OPTION, reportRefusedFiles, type CliCommand } from './command.ts';
import { renderInvocation, show as findShown, type ShowSelector } from './show.ts';

export const show: CliCommand = {
  help: `Usage: cni-trace show ID [--journal DIR] [--width N]
       cni-trace show --pod [NS/]NAME [--journal DIR]

Prints one invocation: identity and outcome, a waterfall of its steps on a shared
time axis, then each step's config (stdin), result or error, stderr, and the env.
ID is a trace id or span id, or a prefix of one; --pod shows the pod's latest.`,
  options: { ...JOURNAL_OPTION, pod: { type: 'string' }, width: { type: 'string' } },
  positionals: true,
  run(values, positionals) {
    reportRefusedFiles();
    const pod = values.pod as string | undefined;
    if ((positionals.length === 1) === Boolean(pod)) fail('show: give an ID or --pod [NS/]NAME (see --help)');
    const sel: ShowSelector = pod ? podSelector(pod) as ShowSelector : { id: positionals[0]! };
    const found = findShown(values.journal as string, sel);
    if (typeof found === 'string') fail(`show: ${found}`);
    const width = values.width ? Number(values.width) : process.stdout.columns ?? 100;
    console.log(renderInvocation(found, { colour: colourWanted(), width }));
  },
};
