/**
 * `cni-trace install --bin-dir DIR`: puts the plugin into a CNI bin dir: the compiled front
 * dist/cni-trace-front as `cni-trace`, and beside it the self-contained executable dist/cni-trace
 * (scripts/build-sea.ts: the Node runtime and the plugin in one file, so the host needs no Node
 * at all) as `cni-trace-node`. Copied atomically, mode 0755.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { copyFileAtomic, writeFileAtomic } from '../fs/atomic-write.ts';

/** The Node executable's name beside the front in a bin dir (wrapper/front.c looks for it there). */
export const NODE_PART_SUFFIX = '-node';
/** The self-contained executable's asset holding the compiled front (scripts/build-sea.ts). */
export const FRONT_ASSET = 'front';

/** The files `install` puts into a bin dir, by name. */
export function pluginFiles(): readonly string[] {
  return ['cni-trace', `cni-trace${NODE_PART_SUFFIX}`];
}

/** What to install: the self-contained executable and the front's bytes. */
interface Build {
  readonly executable: string;
  readonly front: () => Buffer | string;
}

/**
 * Run from the self-contained executable: itself, and the front it carries. Run from the
 * CLI bundle: dist/cni-trace and dist/cni-trace-front beside it (or one up, from a chunk).
 */
function currentBuild(): Build {
  const sea = process.getBuiltinModule('node:sea');
  if (sea?.isSea()) return { executable: process.execPath, front: () => Buffer.from(sea.getRawAsset(FRONT_ASSET)) };
  const candidates = ['./cni-trace', '../cni-trace'].map((rel) => fileURLToPath(new URL(rel, import.meta.url)));
  const executable = candidates.find((p) => existsSync(p)) ?? candidates[0]!;
  return { executable, front: () => `${executable}-front` };
}

/**
 * Installs the plugin: the compiled front as DIR/cni-trace (what the runtime execs) and the
 * self-contained executable beside it as DIR/cni-trace-node (docs/decisions.md 32). The Node
 * part goes first, so a front never finds it missing. `executable` names a built
 * dist/cni-trace (with dist/cni-trace-front beside it). Returns the front's path.
 */
export function installPlugin(binDir: string, executable?: string): string {
  const build = executable ? { executable, front: () => `${executable}-front` } : currentBuild();
  const front = build.front();
  for (const f of [build.executable, ...(typeof front === 'string' ? [front] : [])]) {
    if (!existsSync(f)) throw new Error(`the plugin executable ${f} is missing: run "npm run build" first`);
  }
  mkdirSync(binDir, { recursive: true });
  const target = join(binDir, 'cni-trace');
  copyFileAtomic(build.executable, `${target}${NODE_PART_SUFFIX}`, 0o755);
  if (typeof front === 'string') copyFileAtomic(front, target, 0o755);
  else writeFileAtomic(target, front, 0o755);
  return target;
}
