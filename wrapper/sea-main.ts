/**
 * The self-contained executable's main script: the CLI when given arguments, else the plugin
 * bundle from the asset PLUGIN_ASSET with its trained code cache (wrapper/plugin-script.ts).
 * A cache V8 refuses only costs time: it is said on stderr (the build checks there is no such
 * line) and the bundle is compiled from source.
 */
import { writeSync } from 'node:fs';
import { runCliIfAsked } from './cli-in-sea.ts';
import { CACHE_ASSET, PLUGIN_ASSET, compilePlugin, runBundle } from './plugin-script.ts';

if (!runCliIfAsked()) {
  const sea = process.getBuiltinModule('node:sea');
  const filename = `${process.execPath}#${PLUGIN_ASSET}`;
  let cache: Uint8Array | undefined;
  try {
    cache = new Uint8Array(sea.getRawAsset(CACHE_ASSET));
  } catch { /* built without one */ }
  const compiled = compilePlugin(sea.getAsset(PLUGIN_ASSET, 'utf8'), filename, cache);
  if (compiled.rejected) {
    try { writeSync(2, 'cni-trace: the code cache does not fit this executable; compiling from source (slower)\n'); } catch { /* no stderr */ }
  }
  runBundle(compiled, filename);
}
