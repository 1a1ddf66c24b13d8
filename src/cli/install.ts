/**
 * `cni-trace install --bin-dir DIR`: puts the plugin executable into a CNI bin dir. The file is
 * the self-contained executable dist/cni-trace (scripts/build-sea.ts): the Node runtime and the
 * plugin in one file, so the host needs no Node at all. Copied atomically, mode 0755.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { copyFileAtomic } from '../fs/atomic-write.ts';

/** Where the built executable is: in dist/, beside the CLI (or one up, from a code-split chunk). */
export function pluginExecutablePath(): string {
  const candidates = ['./cni-trace', '../cni-trace'].map((rel) => fileURLToPath(new URL(rel, import.meta.url)));
  return candidates.find((p) => existsSync(p)) ?? candidates[0]!;
}

/** Installs the plugin as DIR/cni-trace; returns its path. */
export function installPlugin(binDir: string, executable = pluginExecutablePath()): string {
  if (!existsSync(executable)) throw new Error(`the plugin executable ${executable} is missing: run "npm run build" first`);
  mkdirSync(binDir, { recursive: true });
  const target = join(binDir, 'cni-trace');
  copyFileAtomic(executable, target, 0o755);
  return target;
}
