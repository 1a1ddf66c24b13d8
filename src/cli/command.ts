/**
 * What every `cni-trace` subcommand is: its help, its flags (node:util parseArgs options) and
 * what it runs; and the rules they share — how a usage error, a permission problem and an
 * absent journal are said (one line, exit 2 for usage, 1 otherwise), and the selection flags.
 * main.ts holds the table of commands; each command lives in its own `*-command.ts` file and
 * is loaded only when it runs (the CLI bundle is split per command, docs/decisions.md 13).
 */
import type { ParseArgsOptionsConfig } from 'node:util';
import { SETTINGS } from '../agent/config.ts';
import { DEFAULTS } from '../config/wrapper-entry.ts';
import { foldInvocations } from '../journal/assemble.ts';
import { journalAccess, onRefusedFile } from '../journal/files.ts';
import { journalRecords } from '../journal/reader.ts';
import { parseDuration, parseSince } from '../view/duration.ts';
import { podSelector, STATUS_WANTED, type InvocationFilter, type StatusWanted } from '../view/filter.ts';
import { SlowBaseline } from '../view/slow.ts';
import { asRoot, fail, usage } from './errors.ts';

export { asRoot, explainFsError, fail, usage } from './errors.ts';

export interface CliCommand {
  /** The `--help` text: the usage line, what it does, its flags. */
  readonly help: string;
  /** Command lines that work as written, printed under "Examples:" after the help. */
  readonly examples: readonly string[];
  readonly options: ParseArgsOptionsConfig;
  readonly positionals?: boolean;
  /** Runs the command; a number is the exit code (otherwise the process's own). */
  run(values: Record<string, string | boolean | string[] | undefined>, positionals: string[]): void | Promise<number | void>;
}

/** The node's places, as the DaemonSet and docs/operations.md set them up. */
export const NODE_DEFAULTS = {
  journal: DEFAULTS.journalDir, binDir: '/opt/cni/bin', confDir: '/etc/cni/net.d', stateDir: SETTINGS.stateDir.default,
} as const;

/** The `--journal DIR` flag every reader takes. */
export const JOURNAL_OPTION = { journal: { type: 'string', default: NODE_DEFAULTS.journal } } as const;

/**
 * Stops with one line unless the journal in `dir` can be read: absent (a reader that follows
 * may wait for it: `wait`), not a directory, or not readable by this user.
 */
export function requireJournal(command: string, dir: string, wait = false): void {
  const access = journalAccess(dir);
  if (!access) return;
  if (access.problem === 'denied') fail(`${command}: cannot read the journal: ${access.path}: permission denied (${asRoot()})`);
  if (access.problem === 'not-a-directory') fail(`${command}: ${dir} is not a journal directory (give the directory: --journal DIR)`);
  const hint = `no journal at ${dir}: nothing was recorded there (is the conflist wrapped, and does its journalDir say so? ${dir === NODE_DEFAULTS.journal ? 'elsewhere: --journal DIR' : `the default is ${NODE_DEFAULTS.journal}`})`;
  if (!wait) fail(`${command}: ${hint}`);
  process.stderr.write(`cni-trace: ${command}: ${hint}; waiting for it\n`);
}

/** Colour only on a terminal, never with NO_COLOR set. */
export function colourWanted(): boolean {
  return Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
}

/** The selection flags tail, show and stats share (and their help lines). */
export const SELECTION_OPTIONS = {
  since: { type: 'string' }, pod: { type: 'string' }, namespace: { type: 'string', short: 'n' }, plugin: { type: 'string' },
  errors: { type: 'boolean' }, command: { type: 'string' }, status: { type: 'string' }, 'slower-than': { type: 'string' },
} as const;

export const SELECTION_HELP = `  --since WHEN         only invocations that started since WHEN: a duration back
                       (30s, 5m, 2h) or an RFC 3339 time (2026-12-02T15:04:05Z)
  --pod [NS/]NAME      only this pod's invocations
  -n, --namespace NS   only pods in this namespace
  --plugin TYPE        only invocations that ran this plugin
  --command CMD        only this CNI command: ADD (pod start), DEL, CHECK, STATUS, GC
  --status STATUS      only ok, error, slow, in-flight or abandoned ones; slow is at or above
                       p90 and at least 3x the median of its network and command
  --slower-than DUR    only invocations that took at least DUR (500ms, 2s)
  --errors             only failed and abandoned invocations (= --status error)`;

const COMMANDS = ['ADD', 'DEL', 'CHECK', 'STATUS', 'GC', 'VERSION'];

/** The selection flags as a filter; a bad value is a usage error naming the flag. */
export function selection(command: string, values: Record<string, unknown>): { -readonly [K in keyof InvocationFilter]: InvocationFilter[K] } {
  const f: { -readonly [K in keyof InvocationFilter]: InvocationFilter[K] } = {};
  const text = (k: string): string | undefined => (typeof values[k] === 'string' ? values[k] : undefined);
  const since = text('since');
  if (since !== undefined) {
    try {
      f.sinceNs = BigInt(Math.floor(parseSince(since, Date.now()))) * 1_000_000n;
    } catch (e) {
      usage(command, `--since: ${(e as Error).message}`);
    }
  }
  if (text('pod')) Object.assign(f, podSelector(text('pod')!));
  if (text('namespace')) f.namespace = text('namespace')!;
  if (text('plugin')) f.plugin = text('plugin')!;
  if (values.errors) f.status = 'error';
  const cmd = text('command')?.toUpperCase();
  if (cmd !== undefined) {
    if (!COMMANDS.includes(cmd)) usage(command, `--command: "${text('command')}" is not a CNI command (${COMMANDS.join(', ')})`);
    f.command = cmd;
  }
  const status = text('status')?.toLowerCase();
  if (status !== undefined) {
    if (!(STATUS_WANTED as readonly string[]).includes(status)) usage(command, `--status: "${text('status')}" is not one of ${STATUS_WANTED.join(', ')}`);
    if (values.errors && status !== 'error') usage(command, '--errors and --status exclude each other');
    f.status = status as StatusWanted;
  }
  const slower = text('slower-than');
  if (slower !== undefined) {
    try {
      f.slowerThanMs = /^\d+(\.\d+)?$/.test(slower) ? Number(slower) : parseDuration(slower);
    } catch (e) {
      usage(command, `--slower-than: ${(e as Error).message}`);
    }
  }
  return f;
}

/**
 * With `--status slow`, a filter that knows what slow is here: one pass over the journal (as
 * selected by time) for each network and command's distribution (view/slow.ts).
 */
export function withSlowBaseline(journal: string, f: InvocationFilter): InvocationFilter {
  if (f.status !== 'slow') return f;
  const baseline = new SlowBaseline();
  const open = foldInvocations(journalRecords(journal, f.sinceNs !== undefined ? { sinceNs: f.sinceNs } : {}), (inv) => baseline.add(inv));
  for (const inv of open.list()) baseline.add(inv);
  return { ...f, isSlow: (inv, nowMs) => baseline.isSlow(inv, nowMs) };
}

/** `-o FORMAT` (and the older `--json`). */
export const OUTPUT_OPTIONS = { output: { type: 'string', short: 'o' }, json: { type: 'boolean' } } as const;

/** The output format asked for, one of `allowed` (the first is the default). */
export function outputFormat<T extends string>(command: string, values: Record<string, unknown>, allowed: readonly T[]): T {
  if (values.json) return 'json' as T;
  const o = values.output;
  if (o === undefined) return allowed[0]!;
  if (!(allowed as readonly unknown[]).includes(o)) usage(command, `-o: "${String(o)}" is not one of ${allowed.join(', ')}`);
  return o as T;
}

/** Says once on stderr which journal files were not read (a FIFO, a device, a stranger's file). */
export function reportRefusedFiles(): void {
  onRefusedFile((path, why) => process.stderr.write(`cni-trace: not reading ${path}: ${why}\n`));
}
