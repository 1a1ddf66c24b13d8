/**
 * The table of `cni-trace` commands: each one's summary and its module, loaded only when it runs
 * (src/cli/main.ts dispatches; docs/cli.md documents every flag, test/unit/cli-docs.test.ts
 * holds the two to each other).
 */
import type { CliCommand } from './command.ts';

export interface Entry {
  readonly summary: string;
  readonly load: () => Promise<CliCommand>;
  /** Long-running and fast-allocating: re-exec with a sized heap (below). */
  readonly sizedHeap?: boolean;
}

export const COMMANDS: Record<string, Entry> = {
  wrap: { summary: 'turn an ordinary conflist into the cni-trace form', load: async () => (await import('./wrap-command.ts')).wrap },
  unwrap: { summary: 'give the original conflist back', load: async () => (await import('./wrap-command.ts')).unwrap },
  install: { summary: 'put the plugin into a CNI bin dir, wrap the node\'s conflist (and keep it wrapped)', load: async () => (await import('./install-command.ts')).install },
  uninstall: { summary: 'restore the original conflist and remove the plugin', load: async () => (await import('./install-command.ts')).uninstall },
  doctor: { summary: 'check a node\'s set-up and say how to fix what is wrong', load: async () => (await import('./doctor-command.ts')).doctor },
  tail: { summary: 'print recorded invocations (one line or JSON object each)', load: async () => (await import('./tail-command.ts')).tail },
  show: { summary: 'one invocation as a waterfall with all its details', load: async () => (await import('./show-command.ts')).show },
  stats: { summary: 'latency percentiles per plugin and command, the slowest calls', load: async () => (await import('./stats-command.ts')).stats },
  diagnose: { summary: 'what is wrong here: slow plugins, errors, leaks, retries, exhausted ranges', load: async () => (await import('./diagnose-command.ts')).diagnose },
  tui: { summary: 'the live view: what runs now, what was slow, what failed and why', load: async () => (await import('./tui-command.ts')).tui, sizedHeap: true },
  agent: { summary: 'export the journal as OpenTelemetry traces (OTLP/HTTP)', load: async () => (await import('./agent-command.ts')).agent, sizedHeap: true },
};

/** What `cni-trace COMMAND --help` prints: every command's help in one shape. */
export function helpText(command: CliCommand): string {
  return `${command.help}\n\nExamples:\n${command.examples.map((e) => `  ${e}`).join('\n')}`;
}
