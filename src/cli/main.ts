#!/usr/bin/env node
/**
 * The `cni-trace` command: the table of subcommands. Each lives in its own `*-command.ts`
 * (help, flags, run), loaded only when it runs, so the CLI bundle stays split per command
 * (docs/decisions.md 13). The plugin itself (what a runtime execs) is dist/cni-trace.cjs, not
 * this file; the self-contained executable carries this file bundled whole, and runs it when
 * given arguments (wrapper/cli-in-sea.ts).
 */
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { VERSION } from '../product.ts';
import { closest } from '../spelling.ts';
import { COMMANDS, helpText } from './commands.ts';
import { explainFsError, fail, usage } from './errors.ts';
import { reexecWithSizedHeap } from './heap.ts';

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

Run "cni-trace <command> --help" for a command's flags; docs/cli.md has them all.

Examples:
  cni-trace tui
  cni-trace tail --command ADD --status slow
  cni-trace show --pod default/web-0
  cni-trace doctor`;
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
  if (parsed.values.help) return void console.log(helpText(command));
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
