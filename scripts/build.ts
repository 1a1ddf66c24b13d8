/**
 * Builds the executables with esbuild:
 *  - dist/cni-trace.cjs: the plugin (wrapper/main.ts), one self-contained CommonJS file, so a
 *    CNI call loads one file and no node_modules (docs/decisions.md, "hot path");
 *  - dist/cli.js: the `cni-trace` command, ESM, with its npm dependencies left external.
 */
import { build } from 'esbuild';
import { chmodSync } from 'node:fs';

await build({
  entryPoints: ['wrapper/main.ts'],
  outfile: 'dist/cni-trace.cjs',
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'cjs',
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
});

await build({
  entryPoints: ['src/cli/main.ts'],
  outfile: 'dist/cli.js',
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'esm',
  packages: 'external',
  logLevel: 'warning',
});
chmodSync('dist/cli.js', 0o755);
