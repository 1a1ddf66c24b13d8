/**
 * Compiles cni-trace's two C programs with the machine's C compiler: C11, libc only, static
 * and stripped — a static binary starts in about two thirds of the time of a dynamic one, there
 * is no loader or library lookup to trust, and it runs on any node of the same architecture
 * (docs/decisions.md 15). scripts/setup.sh installs gcc and libc6-dev.
 *  - dist/cni-trace-shim: the nested-call shim (wrapper/nested-shim.c, decision 15);
 *  - dist/cni-trace-front: the front the runtime execs (wrapper/front.c, decision 32).
 * Also called by tests that need them without a full build.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, renameSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { LATEST_VERSION } from '../src/cni/version.ts';

const ROOT = join(dirname(new URL(import.meta.url).pathname), '..');
export const SHIM_SOURCE = join(ROOT, 'wrapper/nested-shim.c');
export const SHIM_OUT = join(ROOT, 'dist/cni-trace-shim');
export const FRONT_SOURCE = join(ROOT, 'wrapper/front.c');
export const FRONT_OUT = join(ROOT, 'dist/cni-trace-front');

export const SHIM_CFLAGS = ['-std=c11', '-O2', '-Wall', '-Wextra', '-Werror', '-static', '-s'];
/** The front's CNI errors carry the version the plugin speaks; src/cni/version.ts says which. */
const FRONT_DEFINES = [`-DLATEST_VERSION="${LATEST_VERSION}"`];

function compile(source: string, out: string, extra: readonly string[]): void {
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.tmp`;
  const r = spawnSync('cc', [...SHIM_CFLAGS, ...extra, '-o', tmp, source], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error(`cannot compile ${source} (cc: ${r.error?.message ?? r.status}; scripts/setup.sh installs gcc and libc6-dev):\n${r.stdout ?? ''}${r.stderr ?? ''}`);
  }
  renameSync(tmp, out);
}

/** Builds the nested-call shim; throws with the compiler's output when it fails. */
export function buildShim(out = SHIM_OUT): void {
  compile(SHIM_SOURCE, out, []);
}

/** Builds the front; throws with the compiler's output when it fails. */
export function buildFront(out = FRONT_OUT): void {
  compile(FRONT_SOURCE, out, FRONT_DEFINES);
}

/** Builds the shim unless dist/ has one at least as new as its source. */
export function ensureShim(): void {
  const out = statSync(SHIM_OUT, { throwIfNoEntry: false });
  if (!out || out.mtimeMs < statSync(SHIM_SOURCE).mtimeMs) buildShim();
}
