/**
 * Installing test plugins: the fixture plugin under chosen names, and the real cni-trace
 * plugin from dist/, into temp bin dirs. Both get a "#!" line naming this test's Node, as
 * `cni-trace install` does, so nothing relies on a `node` on PATH.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { installPlugin } from '../../src/cli/install.ts';

export const ROOT = new URL('../../', import.meta.url).pathname;
export const FIXTURE_PLUGIN = join(ROOT, 'test/fixtures/plugins/fixture-plugin.cjs');
export const PLUGIN_BUNDLE = join(ROOT, 'dist/cni-trace.cjs');
/** The Debian plugins. */
export const DEBIAN_CNI = '/usr/lib/cni';

/** Installs the fixture plugin as each of `names` in `binDir`. */
export function installFixtures(binDir: string, names: readonly string[]): void {
  mkdirSync(binDir, { recursive: true });
  const body = readFileSync(FIXTURE_PLUGIN);
  for (const name of names) {
    const file = join(binDir, name);
    writeFileSync(file, Buffer.concat([Buffer.from(`#!${process.execPath}\n`), body]));
    chmodSync(file, 0o755);
  }
}

/** Installs the built plugin (npm run build) as binDir/cni-trace; returns its path. */
export function installCniTrace(binDir: string): string {
  return installPlugin(binDir, process.execPath, PLUGIN_BUNDLE);
}
