/**
 * How the CLI says something went wrong: one line on stderr. A usage error (exit 2) ends with
 * the help to read; a failure (exit 1) names the path, what is wrong and the fix, with the exact
 * command when the fix is "run as root" (docs/decisions.md 28). Light on purpose: main.ts loads
 * it for every command, before the command's own module.
 */
import { suggest } from './self.ts';

/** One line on stderr, exit code 1. */
export function fail(message: string): never {
  process.stderr.write(`cni-trace: ${message}\n`);
  process.exit(1);
}

/** A usage error: one line with the hint where the flags are explained, exit code 2. */
export function usage(command: string, message: string): never {
  process.stderr.write(`cni-trace: ${command ? `${command}: ` : ''}${message} (see ${suggest(command ? [command, '--help'] : ['--help'])})\n`);
  process.exit(2);
}

/** "run as root" with the exact command that does it, from here. */
export function asRoot(): string {
  return process.geteuid?.() === 0 ? 'check its owner and mode' : `run as root: sudo ${suggest(process.argv.slice(2))}`;
}

/** What a failed system call was doing, in words. */
const SYSCALL_VERBS: Record<string, string> = {
  copyfile: 'write', open: 'open', mkdir: 'create', rename: 'replace', unlink: 'remove', scandir: 'list', read: 'read', write: 'write', chmod: 'change the mode of', stat: 'look at', lstat: 'look at',
};

/**
 * A file-system error as one line naming the path, what is wrong and the fix; null for an
 * error that is not one (the caller says it as it is).
 */
export function explainFsError(e: unknown): string | null {
  const err = e as NodeJS.ErrnoException & { dest?: string };
  // copyfile names both ends; what failed is writing the destination.
  const path = err?.dest ?? err?.path;
  if (!err?.code || !path) return null;
  switch (err.code) {
    case 'EACCES': case 'EPERM': return `cannot ${SYSCALL_VERBS[err.syscall ?? ''] ?? 'open'} ${path}: permission denied (${asRoot()})`;
    case 'ENOENT': return `no such file or directory: ${path}`;
    case 'ENOTDIR': return `not a directory: ${path}`;
    case 'EISDIR': return `${path} is a directory`;
    case 'EROFS': return `cannot write ${path}: read-only file system`;
    case 'ENOSPC': return `cannot write ${path}: no space left on the device`;
    default: return null;
  }
}

