/**
 * The plugin bundle as the self-contained executable runs it: compiled with a V8 code cache
 * trained on a real call (scripts/train-cache.ts, docs/decisions.md 39). Node's own SEA code
 * cache holds only the script's top level; every function a call runs was then compiled at its
 * first call, ~6 ms of each call. A cache taken after a call holds those functions too.
 * The trainer and the executable both compile through here, so the source V8 checks the cache
 * against is the same string.
 */
import type * as Vm from 'node:vm';
import { dirname } from 'node:path';

export const PLUGIN_ASSET = 'plugin';
export const CACHE_ASSET = 'plugin-cache';

export interface PluginScript {
  readonly script: Vm.Script;
  /** A cache was given and V8 refused it (another Node or other V8 flags): compiled from source. */
  readonly rejected: boolean;
}

/** Compiles the CommonJS bundle `source` as Node's loader wraps a module, with `cachedData` when given. */
export function compilePlugin(source: string, filename: string, cachedData?: Uint8Array): PluginScript {
  const vm = process.getBuiltinModule('node:vm') as typeof Vm;
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`,
    { filename, ...(cachedData ? { cachedData } : {}) });
  return { script, rejected: cachedData !== undefined && script.cachedDataRejected === true };
}

/** Runs a compiled bundle. Its require serves Node's built-in modules only: the bundle needs no other. */
export function runBundle(compiled: PluginScript, filename: string): void {
  const fn = compiled.script.runInThisContext() as (...args: unknown[]) => void;
  const module = { exports: {} };
  const require = (id: string): unknown => {
    const m = process.getBuiltinModule(id);
    if (!m) throw new Error(`the plugin bundle asked for ${id}, which is not a Node built-in module`);
    return m;
  };
  fn.call(module.exports, module.exports, require, module, filename, dirname(filename));
}
