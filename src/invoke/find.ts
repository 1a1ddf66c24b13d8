/**
 * Finding a plugin binary in CNI_PATH exactly as libcni does (pkg/invoke/find.go):
 * a name with a path separator is refused, and the first *regular file* (after following
 * symlinks) in path order wins. Entries that cannot be stat'ed (missing, symlink loops,
 * no permission) are skipped, as os.Stat errors are in Go.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { goQuote, goStringList } from '../cni/go-format.ts';

/** Returns the plugin's full path, or an error message worded as libcni's. Never throws. */
export function findInPath(plugin: string, paths: readonly string[]): { path: string } | { error: string } {
  if (plugin === '') return { error: 'no plugin name provided' };
  if (plugin.includes('/')) return { error: `invalid plugin name: ${plugin}` };
  if (paths.length === 0) return { error: 'no paths provided' };
  for (const dir of paths) {
    // Go's filepath.Join("", name) is just name: an empty CNI_PATH entry means the cwd.
    const full = dir === '' ? plugin : join(dir, plugin);
    if (isRegularFile(full)) return { path: full };
  }
  return { error: `failed to find plugin ${goQuote(Buffer.from(plugin))} in path ${goStringList(paths)}` };
}

function isRegularFile(path: string): boolean {
  try {
    return statSync(path, { throwIfNoEntry: false })?.isFile() ?? false;
  } catch {
    return false; // ELOOP, EACCES, ENOTDIR …
  }
}
