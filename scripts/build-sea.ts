/**
 * The self-contained plugin executable, dist/cni-trace: a copy of the Node binary running this
 * build (the pinned Node 24), stripped of its symbol tables, with the plugin bundle injected as
 * a single executable application blob (https://nodejs.org/api/single-executable-applications.html).
 * What ships ('trained'): its main script is wrapper/sea-main.ts, which runs the plugin bundle
 * (asset "plugin") with a V8 code cache trained on a real call (asset "plugin-cache",
 * scripts/train-cache.ts, decision 39); the nested-call shim is the asset "nested-shim", the
 * front "front" and the CLI "cli" (decision 33). Measured against Node's own code cache, a
 * startup snapshot and no cache in docs/decisions.md. The result is checked by running VERSION.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { SHIM_ASSET } from '../src/plugin/shim-binary.ts';
import { FRONT_ASSET } from '../src/cli/install.ts';
import { CLI_ASSET } from '../wrapper/cli-in-sea.ts';
import { CACHE_ASSET, PLUGIN_ASSET } from '../wrapper/plugin-script.ts';
import { FRONT_OUT, SHIM_OUT } from './build-shim.ts';
import { trainCache } from './train-cache.ts';

const SENTINEL_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

export interface SeaOptions {
  /** The plugin bundle: the main script, or for 'trained' the asset (for a snapshot: the snapshot's entry). */
  readonly main?: string;
  readonly out?: string;
  /**
   * How V8 gets the plugin: compiled at each start, from Node's code cache (the top level only),
   * from a cache trained on a real call, or a startup snapshot.
   */
  readonly startup?: 'compile' | 'code-cache' | 'trained' | 'snapshot';
  /** For 'trained': the main script that loads the plugin asset (wrapper/sea-main.ts, bundled). */
  readonly loader?: string;
  /** The compiled nested-call shim to embed (src/plugin/shim-binary.ts reads it back). */
  readonly shim?: string;
  /** The CLI as one CommonJS file (wrapper/cli-in-sea.ts runs it); none: the plugin only. */
  readonly cli?: string | null;
}

export async function buildSea(opts: SeaOptions = {}): Promise<void> {
  const { main = 'dist/cni-trace.cjs', out = 'dist/cni-trace', startup = 'trained', shim = SHIM_OUT, cli = 'dist/cli-sea.cjs', loader = 'dist/sea-main.cjs' } = opts;
  const work = resolve(`${out}.sea`);
  mkdirSync(work, { recursive: true });
  const blob = join(work, 'cni-trace.blob');
  const config = join(work, 'sea-config.json');
  const trained = startup === 'trained';
  const cache = join(work, 'plugin.cache');
  if (trained) trainCache({ bundle: main, front: FRONT_OUT, out: cache });
  writeFileSync(config, JSON.stringify({
    main: resolve(trained ? loader : main), output: blob, disableExperimentalSEAWarning: true,
    useCodeCache: startup === 'code-cache' || trained, useSnapshot: startup === 'snapshot',
    // NODE_OPTIONS in a runtime's env must not reach the plugin's Node: one bad flag in it
    // would fail every pod's network (Node refuses to start). Only --node-options on the
    // command line counts, which runtimes never pass: the CLI's agent and TUI use it for a sized heap.
    execArgvExtension: 'cli',
    assets: {
      [SHIM_ASSET]: resolve(shim),
      // install, run from the executable, writes the front beside itself (src/cli/install.ts).
      [FRONT_ASSET]: resolve(FRONT_OUT),
      ...(cli ? { [CLI_ASSET]: resolve(cli) } : {}),
      ...(trained ? { [PLUGIN_ASSET]: resolve(main), [CACHE_ASSET]: cache } : {}),
    },
  }));
  run(process.execPath, ['--experimental-sea-config', config]);
  const tmp = `${out}.tmp`;
  copyStripped(process.execPath, tmp);
  // postject (LIEF) prints harmless ELF-section warnings; only a failure is worth showing.
  const postject = createRequire(import.meta.url).resolve('postject/dist/cli.js');
  run(process.execPath, [postject, tmp, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SENTINEL_FUSE]);
  const version = spawnSync(tmp, [], { env: { CNI_COMMAND: 'VERSION' }, input: '', encoding: 'utf8' });
  // stderr is empty unless V8 refused the trained cache (wrapper/sea-main.ts says so there).
  if (version.status !== 0 || !version.stdout.includes('"supportedVersions"') || version.stderr) {
    throw new Error(`the self-contained executable does not answer VERSION: ${version.stdout}${version.stderr}`);
  }
  renameSync(tmp, out);
  rmSync(work, { recursive: true, force: true });
}

/** Copies the Node binary `src` to `dest` (mode 0755) without its symbol tables: they are 18 MB
 * of the 129 MB binary and nothing at run time reads them. Unstripped where `strip` is missing. */
export function copyStripped(src: string, dest: string): void {
  copyFileSync(src, dest);
  chmodSync(dest, 0o755);
  if (spawnSync('strip', ['--version']).status === 0) run('strip', ['--strip-all', dest]);
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stdout}${r.stderr}`);
}
