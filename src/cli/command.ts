/**
 * What every `cni-trace` subcommand is: its help, its flags (node:util parseArgs options) and
 * what it runs. main.ts holds the table of commands; each command lives in its own
 * `*-command.ts` file and is loaded only when it runs (the CLI bundle is split per command,
 * docs/decisions.md 13).
 */
import type { ParseArgsOptionsConfig } from 'node:util';
import { SETTINGS } from '../agent/config.ts';
import { DEFAULTS } from '../config/wrapper-entry.ts';
import { onRefusedFile } from '../journal/files.ts';
import { parseDuration } from '../view/duration.ts';
import { podSelector, type InvocationFilter } from '../view/filter.ts';

export interface CliCommand {
  /** The whole `--help` text. */
  readonly help: string;
  readonly options: ParseArgsOptionsConfig;
  readonly positionals?: boolean;
  /** Runs the command; a number is the exit code (otherwise the process's own). */
  run(values: Record<string, string | boolean | string[] | undefined>, positionals: string[]): void | Promise<number | void>;
}

/** The node's places, as the DaemonSet and the README set them up. */
export const NODE_DEFAULTS = {
  journal: DEFAULTS.journalDir, binDir: '/opt/cni/bin', confDir: '/etc/cni/net.d', stateDir: SETTINGS.stateDir.default,
} as const;

/** The `--journal DIR` flag every reader takes. */
export const JOURNAL_OPTION = { journal: { type: 'string', default: NODE_DEFAULTS.journal } } as const;

/** One line on stderr, exit code 1. */
export function fail(message: string): never {
  process.stderr.write(`cni-trace: ${message}\n`);
  process.exit(1);
}

/** Colour only on a terminal, never with NO_COLOR set. */
export function colourWanted(): boolean {
  return Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
}

/** The selection flags tail and stats share, as a filter. */
export function selection(values: { since?: string; pod?: string; namespace?: string; plugin?: string; errors?: boolean }): InvocationFilter {
  const f: { -readonly [K in keyof InvocationFilter]: InvocationFilter[K] } = {};
  if (values.since) {
    try {
      f.sinceNs = BigInt(Date.now() - parseDuration(values.since)) * 1_000_000n;
    } catch (e) {
      fail(`--since: ${(e as Error).message}`);
    }
  }
  if (values.pod) Object.assign(f, podSelector(values.pod));
  if (values.namespace) f.namespace = values.namespace;
  if (values.plugin) f.plugin = values.plugin;
  if (values.errors) f.errorsOnly = true;
  return f;
}

/** Says once on stderr which journal files were not read (a FIFO, a device, a stranger's file). */
export function reportRefusedFiles(): void {
  onRefusedFile((path, why) => process.stderr.write(`cni-trace: not reading ${path}: ${why}\n`));
}
