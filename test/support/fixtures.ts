/**
 * Installing test plugins into temp bin dirs: the fixture plugin under chosen names, behind a
 * "#!" line naming this test's Node (so nothing relies on a `node` on PATH), and the real
 * cni-trace plugin, the self-contained executable from dist/, as `cni-trace install` does.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { installPlugin } from '../../src/cli/install.ts';

export const ROOT = new URL('../../', import.meta.url).pathname;
export const FIXTURE_PLUGIN = join(ROOT, 'test/fixtures/plugins/fixture-plugin.cjs');
/** The self-contained executable `cni-trace install` installs. */
export const PLUGIN_EXECUTABLE = join(ROOT, 'dist/cni-trace');
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

/** Installs the built self-contained plugin (npm run build) as binDir/cni-trace, as `cni-trace install` does; returns its path. */
export function installCniTrace(binDir: string): string {
  return installPlugin(binDir, PLUGIN_EXECUTABLE);
}
