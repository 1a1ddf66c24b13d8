/** `cni-trace tui`: the live view. Loads Ink and React only when it runs. */
import { parseDuration } from '../view/duration.ts';
import { fail, JOURNAL_OPTION, NODE_DEFAULTS, type CliCommand } from './command.ts';

export const tui: CliCommand = {
  help: `Usage: cni-trace tui [--journal DIR] [--last N] [--slow MS|DURATION] [--window DURATION]
                     [--trace-url TEMPLATE]

The live view of pod network operations: a header (rate, ADD p50/p95, errors, in flight),
the invocations newest first with in-flight ones ticking, and for one invocation a
waterfall of its steps with each step's config, result or error, stderr and env.
  --journal DIR          the journal directory (default ${NODE_DEFAULTS.journal})
  --last N               how much history to start with (default 200)
  --slow MS|DURATION     mark invocations slower than this in yellow (default 1000 ms)
  --window DURATION      the header's window (default 5m)
  --trace-url TEMPLATE   the trace link, {traceId} is replaced
                         (default http://localhost:16686/trace/{traceId}, Jaeger)
Keys are shown at the bottom; ? explains them.`,
  options: { ...JOURNAL_OPTION, last: { type: 'string' }, slow: { type: 'string' }, window: { type: 'string' }, 'trace-url': { type: 'string' } },
  async run(values) {
    const ms = (flag: string): number | undefined => {
      const text = values[flag] as string | undefined;
      if (text === undefined) return undefined;
      try {
        return /^\d+(\.\d+)?$/.test(text) ? Number(text) : parseDuration(text);
      } catch (e) {
        return fail(`tui: --${flag}: ${(e as Error).message}`);
      }
    };
    const slowMs = ms('slow');
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
        journal: values.journal as string,
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
