/** `cni-trace tui`: the live view. Loads Ink and React only when it runs. */
import { parseDuration } from '../view/duration.ts';
import { fail, JOURNAL_OPTION, NODE_DEFAULTS, requireJournal, selection, usage, type CliCommand } from './command.ts';
import { suggest } from './self.ts';

export const tui: CliCommand = {
  examples: ['cni-trace tui', 'cni-trace tui --command ADD --status slow'],
  help: `Usage: cni-trace tui [--journal DIR] [--last N] [--slow MS|DURATION] [--window DURATION]
                     [--command CMD] [--status STATUS] [--slower-than DUR] [--trace-url TEMPLATE]

The live view of pod network operations: a header (over the rows shown: how many, rate,
ADD p50/p95, errors, in flight), the invocations newest first with their slowest step
and in-flight ones ticking, and for one invocation a waterfall of its steps (and
cni-trace's own time) with each step's config, result or error, stderr and env.
Keys and columns: docs/tui.md.
  --journal DIR          the journal directory (default ${NODE_DEFAULTS.journal})
  --last N               how much history to start with (default 200)
  --slow MS|DURATION     slow is at least this long (default: above p90 and at least
                         3x the median of its network and command, in what is shown)
  --window DURATION      the header's rate window (default 5m)
  --command CMD, --status STATUS, --slower-than DUR
                         start with this filter (as typed after /: ADD status:slow >2s)
  --trace-url TEMPLATE   the trace link, {traceId} is replaced
                         (default http://localhost:16686/trace/{traceId}, Jaeger)
Keys are shown at the bottom; ? explains them.`,
  options: {
    ...JOURNAL_OPTION, last: { type: 'string' }, slow: { type: 'string' }, window: { type: 'string' }, 'trace-url': { type: 'string' },
    command: { type: 'string' }, status: { type: 'string' }, 'slower-than': { type: 'string' },
  },
  async run(values) {
    const ms = (flag: string): number | undefined => {
      const text = values[flag] as string | undefined;
      if (text === undefined) return undefined;
      try {
        return /^\d+(\.\d+)?$/.test(text) ? Number(text) : parseDuration(text);
      } catch (e) {
        return usage('tui', `--${flag}: ${(e as Error).message}`);
      }
    };
    const slowMs = ms('slow');
    // The same checks as tail's, then as the filter line the TUI shows and lets you edit.
    const f = selection('tui', values);
    const filterText = [f.command ?? '', f.status ? `status:${f.status}` : '', f.slowerThanMs !== undefined ? `>${f.slowerThanMs}ms` : ''].filter(Boolean).join(' ');
    const journal = values.journal as string;
    if (process.stdout.isTTY) requireJournal('tui', journal, true);
    const windowMs = ms('window');
    // React's development build costs the TUI 2.5 x the CPU at 200 invocations/s.
    process.env.NODE_ENV ??= 'production';
    // Ink's colours (chalk) do not look at NO_COLOR themselves.
    if (process.env.NO_COLOR) process.env.FORCE_COLOR ??= '0';
    // With CI set, Ink draws only a final frame and chalk drops colour (it checks that CI
    // exists at all). The TUI runs only on a terminal, where a CI variable inherited by an
    // interactive shell must not leave the screen blank and grey.
    if (process.stdout.isTTY) {
      delete process.env.CI;
      delete process.env.CONTINUOUS_INTEGRATION;
    }
    const traceUrl = values['trace-url'] as string | undefined;
    try {
      const { runTui } = await import('../../tui/run.ts');
      return await runTui({
        ...(process.env.CNI_TRACE_TUI_METRICS ? { metricsFile: process.env.CNI_TRACE_TUI_METRICS } : {}),
        journal,
        ...(filterText ? { filterText } : {}),
        shellHint: suggest(['tail', ...(journal === NODE_DEFAULTS.journal ? [] : ['--journal', journal]), '--command', 'ADD', '--status', 'slow']),
        ...(values.last !== undefined ? { last: Number(values.last) } : {}),
        ...(slowMs !== undefined ? { slowMs } : {}),
        ...(windowMs !== undefined ? { windowMs } : {}),
        ...(traceUrl ? { traceUrl } : {}),
      });
    } catch (e) {
      return fail(`tui: ${(e as Error).message}`);
    }
  },
};
