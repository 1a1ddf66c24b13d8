#!/usr/bin/env node
/**
 * The `cni-trace` command: the table of subcommands. Each lives in its own `*-command.ts`
 * (help, flags, run), loaded only when it runs, so the CLI bundle stays split per command
 * (docs/decisions.md 13). The plugin itself (what a runtime execs) is dist/cni-trace.cjs, not
 * this file.
 */
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { VERSION } from '../product.ts';
import { closest } from '../spelling.ts';
import type { CliCommand } from './command.ts';
import { explainFsError, fail, usage } from './errors.ts';

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
  diagnose: { summary: 'what is wrong here: slow plugins, errors, leaks, retries, exhausted ranges', load: async () => (await import('./diagnose-command.ts')).diagnose },
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
       cni-trace --version

Commands:
${rows.join('\n')}

Run "cni-trace <command> --help" for a command's flags; docs/cli.md has them all.`;
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

/**
 * `--last -3`: a string flag followed by a negative number takes it as its value (Node's
 * parseArgs calls it "ambiguous", in three lines); the command then says what is wrong with it.
 */
function joinNegativeValues(args: readonly string[], options: ParseArgsOptionsConfig): string[] {
  const strings = new Set(Object.entries(options).filter(([, o]) => o.type === 'string').flatMap(([k, o]) => [`--${k}`, ...(o.short ? [`-${o.short}`] : [])]));
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const next = args[i + 1];
    if (strings.has(args[i]!) && next !== undefined && /^-\d/.test(next)) {
      out.push(`${args[i]}=${next}`);
      i++;
    } else out.push(args[i]!);
  }
  return out;
}

/** Node's parseArgs error as one line of ours, with "did you mean" for a mistyped flag. */
function parseError(name: string, e: Error & { code?: string }, options: ParseArgsOptionsConfig): never {
  const flags = Object.entries(options).flatMap(([k, o]) => [`--${k}`, ...(o.short ? [`-${o.short}`] : [])]);
  const quoted = /'([^']+)'/.exec(e.message)?.[1] ?? '';
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
      const flag = quoted.split('=')[0]!;
      const meant = closest(flag, flags);
      return usage(name, `unknown flag ${flag}${meant ? ` (did you mean ${meant}?)` : ''}`);
    }
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      const flag = quoted.split(' ')[0]!;
      return usage(name, /argument missing|ambiguous/.test(e.message) ? `${flag} needs a value` : `${flag} takes no value`);
    }
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL': return usage(name, `unexpected argument "${quoted}"`);
    default: return usage(name, e.message.split('\n')[0]!);
  }
}

async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') return void console.log(mainHelp());
  if (name === '--version' || name === '-V' || name === 'version') return void console.log(`cni-trace ${VERSION}`);
  const entry = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!entry) {
    const meant = closest(name, [...Object.keys(COMMANDS), 'version', 'help']);
    usage('', name.startsWith('-') ? `unknown flag ${name}${meant ? ` (did you mean ${meant}?)` : ''}` : `unknown command "${name}"${meant ? ` (did you mean "${meant}"?)` : ''}`);
  }
  const asksHelp = rest.includes('--help') || rest.includes('-h');
  if (entry.sizedHeap && !asksHelp && !rest.includes('--status')) reexecWithSizedHeap();
  const command = await entry.load();
  const options = { ...command.options, help: { type: 'boolean', short: 'h' } } as const satisfies ParseArgsOptionsConfig;
  let parsed;
  try {
    parsed = parseArgs({ args: joinNegativeValues(rest, options), allowPositionals: command.positionals === true, strict: true, options });
  } catch (e) {
    parseError(name, e as Error & { code?: string }, options);
  }
  if (parsed.values.help) return void console.log(command.help);
  try {
    const code = await command.run(parsed.values, parsed.positionals);
    if (typeof code === 'number') process.exitCode = code;
  } catch (e) {
    // One line: a file-system error named with its path and fix, anything else by its message.
    fail(`${name}: ${explainFsError(e) ?? (e as Error)?.message ?? String(e)}`);
  }
}

// `cni-trace tail | head`: the reader went away; stop quietly, as other CLI tools do.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

void main(process.argv.slice(2));
