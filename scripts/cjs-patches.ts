/**
 * The CLI bundled as one CommonJS file for the self-contained executable (a SEA runs one CJS
 * script; its assets are read at run time). Three modules use top-level await, which CJS
 * cannot express; each is rewritten here, and the build fails if a pattern is no longer found
 * (an upgrade changed the file: look again, do not guess):
 *  - yoga-layout awaits its WASM: the module now exports an object filled in when the WASM is
 *    ready, and publishes that promise under YOGA_READY (tui/yoga-ready.ts) for the TUI to await
 *    before its first render (docs/decisions.md 33);
 *  - ink's reconciler awaits React DevTools and its own package.json, only when DEV=true:
 *    neither is in the executable, so both become what they are without DEV.
 */
import { readFileSync } from 'node:fs';
import type { Plugin } from 'esbuild';
import { YOGA_READY } from '../tui/yoga-ready.ts';

const PATCHES: Array<{ file: RegExp; from: string; to: string }> = [
  {
    file: /node_modules\/yoga-layout\/dist\/src\/index\.js$/,
    from: 'const Yoga = wrapAssembly(await loadYoga());',
    to: `const Yoga = {};\nglobalThis[Symbol.for(${JSON.stringify(YOGA_READY)})] = loadYoga().then((m) => { Object.assign(Yoga, wrapAssembly(m)); });`,
  },
  { file: /node_modules\/ink\/build\/reconciler\.js$/, from: "await import('./devtools.js');", to: "throw Object.assign(new Error('React DevTools are not in this executable'), { code: 'ERR_MODULE_NOT_FOUND' });" },
  { file: /node_modules\/ink\/build\/reconciler\.js$/, from: '? await loadPackageJson()', to: '? { name: undefined, version: undefined }' },
];

export const withoutTopLevelAwait: Plugin = {
  name: 'without-top-level-await',
  setup(build) {
    build.onLoad({ filter: /node_modules\/(yoga-layout|ink)\/.*\.js$/ }, (args) => {
      const mine = PATCHES.filter((p) => p.file.test(args.path));
      if (mine.length === 0) return undefined;
      let text = readFileSync(args.path, 'utf8');
      for (const p of mine) {
        if (!text.includes(p.from)) throw new Error(`${args.path}: "${p.from}" is gone; scripts/cjs-patches.ts needs a look`);
        text = text.replace(p.from, p.to);
      }
      return { contents: text, loader: 'js' };
    });
    // Only reachable with DEV=true, which the executable's CLI does not support.
    build.onResolve({ filter: /^react-devtools-core$/ }, () => ({ path: 'react-devtools-core', external: true }));
  },
};
