#!/usr/bin/env node
/**
 * The `cni-trace` command: the table of subcommands. Each lives in its own `*-command.ts`
 * (help, flags, run), loaded only when it runs, so the CLI bundle stays split per command
 * (docs/decisions.md 13). The plugin itself (what a runtime execs) is dist/cni-trace.cjs, not
 * this file.
 */
import { parseArgs } from 'node:util';
import type { CliCommand } from './command.ts';

interface Entry {
  readonly summary: string;
  readonly load: () => Promise<CliCommand>;
  /** Long-running and fast-allocating: re-exec with a sized heap (below). */
  readonly sizedHeap?: boolean;
}

const COMMANDS: Record<string, Entry> = {
  wrap: { summary: 'turn an ordinary conflist into the cni-trace form', load: async () => (await import('./wrap-command.ts')).wrap },
  unwrap: { summary: 'give the original conflist back', load: async () => (await import('./wrap-command.ts')).unwrap },
  install: { summary: 'put the plugin into a CNI bin dir, wrap the node\'s conflist (and keep it wrapped)', load: async () => (await import('./install-command.ts')).install },
  uninstall: { summary: 'restore the original conflist and remove the plugin', load: async () => (await import('./install-command.ts')).uninstall },
  doctor: { summary: 'check a node\'s set-up and say how to fix what is wrong', load: async () => (await import('./doctor-command.ts')).doctor },
  tail: { summary: 'print recorded invocations (one line or JSON object each)', load: async () => (await import('./tail-command.ts')).tail },
  show: { summary: 'one invocation as a waterfall with all its details', load: async () => (await import('./show-command.ts')).show },
  stats: { summary: 'latency percentiles per plugin and command, the slowest calls', load: async () => (await import('./stats-command.ts')).stats },
  tui: { summary: 'the live view: what runs now, what was slow, what failed and why', load: async () => (await import('./tui-command.ts')).tui, sizedHeap: true },
  agent: { summary: 'export the journal as OpenTelemetry traces (OTLP/HTTP)', load: async () => (await import('./agent-command.ts')).agent, sizedHeap: true },
};

const USAGE_WORDS = ['wrap FILE', 'unwrap FILE'];

function mainHelp(): string {
  const rows = Object.entries(COMMANDS).map(([name, e]) => {
    const left = USAGE_WORDS.find((w) => w.startsWith(`${name} `)) ?? name;
    return `  ${left.padEnd(13)}  ${e.summary}`;
  });
  return `cni-trace — see the network half of pod startup

Usage: cni-trace <command> [flags]

Commands:
${rows.join('\n')}

Run "cni-trace <command> --help" for a command's flags.`;
}

function fail(message: string): never {
  process.stderr.write(`cni-trace: ${message}\n`);
  process.exit(1);
}

/**
 * The agent and the TUI run for long and allocate fast (catching up; an immutable state
 * copied ten times a second); V8's default heap sizing then grows RSS far past their live
 * data (agent: 395 MB at a 100,000-invocation backlog; TUI: 295 MB at 200 invocations/s).
 * They run with a sized heap instead (bench/agent-export.ts, bench/tui.ts). Node's execve
 * replaces this process, leaving no parent behind.
 */
const LONG_RUNNING_V8_FLAGS = ['--max-old-space-size=128', '--max-semi-space-size=8'];

function reexecWithSizedHeap(): void {
  if (process.execArgv.some((a) => a.startsWith('--max-old-space-size')) || typeof process.execve !== 'function') return;
  process.execve(process.execPath, [process.execPath, ...LONG_RUNNING_V8_FLAGS, ...process.execArgv, process.argv[1]!, ...process.argv.slice(2)], process.env);
}

async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') return void console.log(mainHelp());
  const entry = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!entry) fail(`unknown command "${name}" (see cni-trace --help)`);
  const asksHelp = rest.includes('--help') || rest.includes('-h');
  if (entry.sizedHeap && !asksHelp && !rest.includes('--status')) reexecWithSizedHeap();
  const command = await entry.load();
  let parsed;
  try {
    parsed = parseArgs({ args: rest, allowPositionals: command.positionals === true, strict: true, options: { ...command.options, help: { type: 'boolean', short: 'h' } } });
  } catch (e) {
    // agent's errors name the command (its flags come from the settings table); the others' as before.
    fail(name === 'agent' ? `agent: ${(e as Error).message}` : (e as Error).message);
  }
  if (parsed.values.help) return void console.log(command.help);
  try {
    const code = await command.run(parsed.values, parsed.positionals);
    if (typeof code === 'number') process.exitCode = code;
  } catch (e) {
    fail(name === 'agent' ? `agent: ${(e as Error).message}` : (e as Error).message);
  }
}

// `cni-trace tail | head`: the reader went away; stop quietly, as other CLI tools do.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

void main(process.argv.slice(2));
