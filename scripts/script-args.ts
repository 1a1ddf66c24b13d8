/**
 * Flags of the npm scripts (demo, image, bench): `--help` prints the usage and exits 0; an
 * unknown flag or a bad value prints one line and the usage, and exits 2 — never a stack trace,
 * and never a run that starts with nonsense (a benchmark with N=NaN creates sandboxes too).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

/** One line saying what is wrong, the usage, exit 2. */
export function usageError(name: string, usage: string, why: string): never {
  process.stderr.write(`${name}: ${why}\n\n${usage.trim()}\n`);
  process.exit(2);
}

/** Parses process.argv for `name`; exits on --help or a mistake. */
export function scriptArgs<O extends Options>(name: string, usage: string, options: O, allowPositionals = false) {
  const fail = (why: string): never => usageError(name, usage, why);
  if (process.argv.slice(2).some((a) => a === '--help' || a === '-h')) {
    process.stdout.write(`${usage.trim()}\n`);
    process.exit(0);
  }
  try {
    return parseArgs({ options, allowPositionals, strict: true });
  } catch (e) {
    return fail((e as Error).message);
  }
}

/** A whole number at least `min`, or the usage and exit 2. */
export function wholeNumber(name: string, usage: string, what: string, text: string, min = 1): number {
  const n = Number(text);
  return Number.isInteger(n) && n >= min ? n : usageError(name, usage, `${what} must be a whole number ≥ ${min}, got "${text}"`);
}
