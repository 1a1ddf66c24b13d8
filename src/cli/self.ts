/**
 * How to run this CLI again from where the person stands, for every command the tool suggests
 * (a fix, "run as root", the demo's things to find): `cni-trace` when that name on PATH is this
 * very script, else the absolute node and script paths — never a name that is not there
 * ("cni-trace: command not found") nor a flag left out.
 */
import { accessSync, constants, realpathSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';

function real(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}

/** The executable `name` resolves to on PATH (real path), or null. */
function onPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return real(join(dir, name));
    } catch { /* next */ }
  }
  return null;
}

/** A word as a POSIX shell reads it back unchanged. */
export function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** The command line that runs the CLI `script` (default: this process's) from here. */
export function cliCommand(script = process.argv[1] ?? ''): string {
  // The self-contained executable is its own script: the command is the executable alone
  // (reached through the front on a node: `cni-trace` on PATH may be either).
  if (process.getBuiltinModule('node:sea')?.isSea()) {
    const onPathIs = onPath('cni-trace');
    const me = real(process.execPath);
    return onPathIs === me || onPathIs === real(script) || (onPathIs !== null && real(`${onPathIs}-node`) === me) ? 'cni-trace' : shellWord(me);
  }
  const mine = real(script);
  if (onPath('cni-trace') === mine) return 'cni-trace';
  const node = onPath('node') === real(process.execPath) ? 'node' : process.execPath;
  return `${shellWord(node)} ${shellWord(mine)}`;
}

/** `cni-trace ARGS` as it runs from here, each argument quoted as the shell needs. */
export function suggest(args: readonly string[], script?: string): string {
  return [cliCommand(script), ...args.map(shellWord)].join(' ');
}
