/**
 * The two generations of containernetworking/plugins the tests run: Debian's 1.1.1 (2022, in
 * /usr/lib/cni), driven by Debian's libcni 1.1.2, and the current release, built pinned from its
 * module by scripts/tools.sh into .cache/tools/bin/cni-plugins and driven by the upstream libcni
 * of test/driver/otel (1.3.1, which issues STATUS and GC), as a node of today runs them.
 */
import { join } from 'node:path';
import { execa } from 'execa';
import type { DriverLibcni } from './driver.ts';
import { DEBIAN_CNI, ROOT } from './fixtures.ts';

export interface PluginGeneration {
  /** For test names: "Debian 1.1.1" or "v1.10.0". */
  readonly label: string;
  /** The CNI_PATH directory holding the plugins. */
  readonly dir: string;
  /** The libcni that drives them. */
  readonly libcni: DriverLibcni;
  /** The conflist versions the suite runs them with (the newest the generation speaks last). */
  readonly versions: readonly string[];
}

export const DEBIAN_PLUGINS: PluginGeneration = { label: 'Debian 1.1.1', dir: DEBIAN_CNI, libcni: 'debian', versions: ['1.0.0'] };

let current: PluginGeneration | null = null;

/** The current upstream plugins, built on first need (seconds with Go's caches warm; scripts/tools.sh). */
export async function currentPlugins(): Promise<PluginGeneration> {
  if (current) return current;
  const r = await execa('bash', [join(ROOT, 'scripts/tools.sh'), 'cni-plugins'], { reject: false, stderr: 'inherit', timeout: 1_800_000 });
  if (r.exitCode !== 0) throw new Error(`scripts/tools.sh cni-plugins failed (exit ${r.exitCode}): the current CNI plugins could not be built`);
  const dir = r.stdout.trim().split('\n').pop()!;
  // The version the build stamped (`bridge --version`: "CNI bridge plugin v1.10.0").
  const said = await execa(join(dir, 'bridge'), ['--version'], { all: true });
  const version = /plugin (v\S+)/.exec(said.all)?.[1];
  if (!version) throw new Error(`${dir}/bridge does not say its version`);
  current = { label: version, dir, libcni: 'upstream', versions: ['1.0.0', '1.1.0'] };
  return current;
}

/** The current plugins when scripts/tools.sh has built them (it builds nothing here), else Debian's. */
export async function newestBuiltPlugins(): Promise<PluginGeneration> {
  const built = await execa('bash', [join(ROOT, 'scripts/tools.sh'), '--check', 'cni-plugins'], { reject: false });
  return built.exitCode === 0 ? currentPlugins() : DEBIAN_PLUGINS;
}
