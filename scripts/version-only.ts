/**
 * An esbuild plugin for the plugin bundle: `import pkg from '../package.json'` (src/product.ts)
 * gets `{ "version": … }` only. esbuild cannot tree-shake a JSON default import, and the wrapper
 * would otherwise carry and parse the whole package.json (its dependency list) on every CNI call.
 */
import { readFileSync } from 'node:fs';
import type { Plugin } from 'esbuild';

export const versionOnly: Plugin = {
  name: 'package-json-version-only',
  setup(b) {
    b.onLoad({ filter: /[\\/]package\.json$/ }, (args) => ({
      contents: JSON.stringify({ version: (JSON.parse(readFileSync(args.path, 'utf8')) as { version: string }).version }),
      loader: 'json',
    }));
  },
};
