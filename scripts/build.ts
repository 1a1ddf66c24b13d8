/**
 * Builds the executables with esbuild:
 *  - dist/cni-trace.cjs: the plugin (wrapper/main.ts), one self-contained CommonJS file, so a
 *    CNI call loads one file and no node_modules (docs/decisions.md, "hot path");
 *  - dist/cni-trace-shim: the nested-call shim, compiled C (scripts/build-shim.ts);
 *  - dist/cni-trace-front: the front a runtime execs, compiled C (wrapper/front.c), which
 *    starts the plugin proper and spawns its delegates (docs/decisions.md 32);
 *  - dist/cni-trace: the same plugin as a self-contained executable (a Node single executable
 *    application: wrapper/sea-main.ts runs the bundle with a code cache trained on a real call,
 *    the shim, front and CLI embedded as assets) that needs no Node on the
 *    host — what `cni-trace install` puts into a CNI bin dir (scripts/build-sea.ts);
 *  - dist/cli.js (+ dist/chunks/): the `cni-trace` command, ESM, npm dependencies external,
 *    each command's heavy dependencies in a chunk loaded only when that command runs;
 *  - dist/sea-main.cjs: the executable's main script (wrapper/sea-main.ts);
 *  - dist/cli-sea.cjs: the same command as one CommonJS file with every dependency in it, which
 *    the self-contained executable carries and runs when given arguments (decision 33).
 */
import { build } from 'esbuild';
import { chmodSync, rmSync } from 'node:fs';
import { buildSea } from './build-sea.ts';
import { buildFront, buildShim } from './build-shim.ts';
import { withoutTopLevelAwait } from './cjs-patches.ts';
import { versionOnly } from './version-only.ts';

rmSync('dist', { recursive: true, force: true }); // no chunks of an earlier build left behind

buildShim();
buildFront();

await build({
  entryPoints: ['wrapper/main.ts'],
  outfile: 'dist/cni-trace.cjs',
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'cjs',
  // src/plugin/shim-binary.ts uses __filename in the bundle; import.meta only in the ES sources.
  define: { 'import.meta.url': 'undefined' },
  plugins: [versionOnly],
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
});

// Split at dynamic imports, so `cni-trace tail` does not load OpenTelemetry or Ink: each
// command's chunk imports its own packages.
await build({
  entryPoints: { cli: 'src/cli/main.ts' },
  outdir: 'dist',
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'esm',
  packages: 'external',
  logLevel: 'warning',
});
chmodSync('dist/cli.js', 0o755);

// One file, everything in it: a SEA's script cannot load chunks or packages from disk.
await build({
  entryPoints: ['src/cli/main.ts'],
  outfile: 'dist/cli-sea.cjs',
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'cjs',
  // Only the non-SEA branches read import.meta.url (src/cli/install.ts), and shim-binary.ts uses __filename.
  define: { 'import.meta.url': 'undefined' },
  minify: true,
  legalComments: 'none',
  plugins: [withoutTopLevelAwait],
  logLevel: 'warning',
});

// The executable's main script: it runs the plugin bundle above with its trained code cache.
await build({
  entryPoints: ['wrapper/sea-main.ts'],
  outfile: 'dist/sea-main.cjs',
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'cjs',
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
});

await buildSea();
