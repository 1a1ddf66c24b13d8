/**
 * The self-contained plugin executable, dist/cni-trace: a copy of the Node binary running this
 * build (the pinned Node 24), stripped of its symbol tables, with the plugin bundle injected as
 * a single executable application blob (https://nodejs.org/api/single-executable-applications.html)
 * carrying a V8 code cache, the nested-call shim as the asset "nested-shim", the front as
 * "front" and the CLI as "cli" (decision 33). Measured against a startup snapshot and no cache in
 * docs/decisions.md ("self-contained executable"). The result is checked by running VERSION.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { SHIM_ASSET } from '../src/plugin/shim-binary.ts';
import { FRONT_ASSET } from '../src/cli/install.ts';
import { CLI_ASSET } from '../wrapper/cli-in-sea.ts';
import { FRONT_OUT, SHIM_OUT } from './build-shim.ts';

const SENTINEL_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

export interface SeaOptions {
  /** The CommonJS script the executable runs (for a snapshot: the snapshot's entry). */
  readonly main?: string;
  readonly out?: string;
  /** How V8 gets the script: compiled at each start, from a code cache, or a startup snapshot. */
  readonly startup?: 'compile' | 'code-cache' | 'snapshot';
  /** The compiled nested-call shim to embed (src/plugin/shim-binary.ts reads it back). */
  readonly shim?: string;
  /** The CLI as one CommonJS file (wrapper/cli-in-sea.ts runs it); none: the plugin only. */
  readonly cli?: string | null;
}

export async function buildSea(opts: SeaOptions = {}): Promise<void> {
  const { main = 'dist/cni-trace.cjs', out = 'dist/cni-trace', startup = 'code-cache', shim = SHIM_OUT, cli = 'dist/cli-sea.cjs' } = opts;
  const work = resolve(`${out}.sea`);
  mkdirSync(work, { recursive: true });
  const blob = join(work, 'cni-trace.blob');
  const config = join(work, 'sea-config.json');
  writeFileSync(config, JSON.stringify({
    main: resolve(main), output: blob, disableExperimentalSEAWarning: true,
    useCodeCache: startup === 'code-cache', useSnapshot: startup === 'snapshot',
    // NODE_OPTIONS in a runtime's env must not reach the plugin's Node: one bad flag in it
    // would fail every pod's network (Node refuses to start). Only --node-options on the
    // command line counts, which runtimes never pass: the CLI's agent and TUI use it for a sized heap.
    execArgvExtension: 'cli',
    assets: {
      [SHIM_ASSET]: resolve(shim),
      // install, run from the executable, writes the front beside itself (src/cli/install.ts).
      [FRONT_ASSET]: resolve(FRONT_OUT),
      ...(cli ? { [CLI_ASSET]: resolve(cli) } : {}),
    },
  }));
  run(process.execPath, ['--experimental-sea-config', config]);
  const tmp = `${out}.tmp`;
  copyStripped(process.execPath, tmp);
  // postject (LIEF) prints harmless ELF-section warnings; only a failure is worth showing.
  const postject = createRequire(import.meta.url).resolve('postject/dist/cli.js');
  run(process.execPath, [postject, tmp, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SENTINEL_FUSE]);
  const version = spawnSync(tmp, [], { env: { CNI_COMMAND: 'VERSION' }, input: '', encoding: 'utf8' });
  if (version.status !== 0 || !version.stdout.includes('"supportedVersions"')) {
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
