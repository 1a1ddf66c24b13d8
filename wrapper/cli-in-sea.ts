/**
 * The self-contained executable is also the `cni-trace` command: given arguments, it runs the
 * CLI (src/cli/main.ts, bundled as one CommonJS file into the asset CLI_ASSET by
 * scripts/build.ts) instead of the plugin, so a node or an image needs that one file for every
 * command (docs/decisions.md 33). A runtime never passes arguments, so a CNI call never reads
 * the asset: the plugin's start is what it was.
 */
export const CLI_ASSET = 'cli';

interface CompilableModule {
  filename: string;
  paths: string[];
  _compile(code: string, filename: string): unknown;
}

/** Runs the CLI and returns true when this is the executable and there are arguments. */
export function runCliIfAsked(): boolean {
  if (process.argv.length <= 2) return false;
  const sea = process.getBuiltinModule('node:sea');
  if (!sea?.isSea()) return false;
  let code: string;
  try {
    code = sea.getAsset(CLI_ASSET, 'utf8');
  } catch {
    return false; // an executable built without the CLI: the plugin's own usage line answers
  }
  const { Module } = process.getBuiltinModule('node:module') as unknown as { Module: new (id: string, parent: null) => CompilableModule };
  const filename = `${process.execPath}#${CLI_ASSET}`;
  const mod = new Module(filename, null);
  mod.filename = filename;
  mod.paths = [];
  mod._compile(code, filename);
  return true;
}
