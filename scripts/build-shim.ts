/**
 * Compiles the nested-call shim (wrapper/nested-shim.c) into dist/cni-trace-shim with the
 * machine's C compiler: C11, libc only, static and stripped — a static binary starts in about
 * two thirds of the time of a dynamic one, there is no loader or library lookup to trust, and
 * it runs on any node of the same architecture (docs/decisions.md 15). scripts/setup.sh
 * installs gcc and libc6-dev. Also called by tests that need the shim without a full build.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, renameSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

const ROOT = join(dirname(new URL(import.meta.url).pathname), '..');
export const SHIM_SOURCE = join(ROOT, 'wrapper/nested-shim.c');
export const SHIM_OUT = join(ROOT, 'dist/cni-trace-shim');

export const SHIM_CFLAGS = ['-std=c11', '-O2', '-Wall', '-Wextra', '-Werror', '-static', '-s'];

/** Builds `out` from the source; throws with the compiler's output when it fails. */
export function buildShim(out = SHIM_OUT): void {
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.tmp`;
  const r = spawnSync('cc', [...SHIM_CFLAGS, '-o', tmp, SHIM_SOURCE], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error(`cannot compile ${SHIM_SOURCE} (cc: ${r.error?.message ?? r.status}; scripts/setup.sh installs gcc and libc6-dev):\n${r.stdout ?? ''}${r.stderr ?? ''}`);
  }
  renameSync(tmp, out);
}

/** Builds the shim unless dist/ has one at least as new as its source. */
export function ensureShim(): void {
  const out = statSync(SHIM_OUT, { throwIfNoEntry: false });
  if (!out || out.mtimeMs < statSync(SHIM_SOURCE).mtimeMs) buildShim();
}
