/**
 * `cni-trace install --bin-dir DIR`: puts the plugin into a CNI bin dir: the compiled front
 * dist/cni-trace-front as `cni-trace`, and beside it the self-contained executable dist/cni-trace
 * (scripts/build-sea.ts: the Node runtime and the plugin in one file, so the host needs no Node
 * at all) as `cni-trace-node`. Copied atomically, mode 0755.
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

/** The Node executable's name beside the front in a bin dir (wrapper/front.c looks for it there). */
export const NODE_PART_SUFFIX = '-node';

/** The files `install` puts into a bin dir, by name. */
export function pluginFiles(): readonly string[] {
  return ['cni-trace', `cni-trace${NODE_PART_SUFFIX}`];
}

/**
 * Installs the plugin: the compiled front as DIR/cni-trace (what the runtime execs) and the
 * self-contained executable beside it as DIR/cni-trace-node (docs/decisions.md 32). The Node
 * part goes first, so a front never finds it missing. Returns the front's path.
 */
export function installPlugin(binDir: string, executable = pluginExecutablePath()): string {
  const front = `${executable}-front`;
  for (const f of [executable, front]) {
    if (!existsSync(f)) throw new Error(`the plugin executable ${f} is missing: run "npm run build" first`);
  }
  mkdirSync(binDir, { recursive: true });
  const target = join(binDir, 'cni-trace');
  copyFileAtomic(executable, `${target}${NODE_PART_SUFFIX}`, 0o755);
  copyFileAtomic(front, target, 0o755);
  return target;
}
