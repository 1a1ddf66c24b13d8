/**
 * `cni-trace install --bin-dir DIR`: puts the plugin executable into a CNI bin dir. The file
 * is the esbuild bundle behind a shebang naming the absolute path of the Node binary that
 * runs this command, so a runtime can exec it with no `node` on its PATH. (A self-contained
 * executable without any Node on the host is the subject of a later issue.)
 */
import { existsSync, readFileSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-write.ts';

/** Linux reads at most 255 bytes of a "#!" line (BINPRM_BUF_SIZE). */
const MAX_SHEBANG = 255;

/** Where the built plugin bundle is: in dist/, beside the CLI (or one up, from a code-split chunk). */
export function pluginBundlePath(): string {
  const candidates = ['./cni-trace.cjs', '../cni-trace.cjs'].map((rel) => fileURLToPath(new URL(rel, import.meta.url)));
  return candidates.find((p) => existsSync(p)) ?? candidates[0]!;
}

/** Installs the plugin as DIR/cni-trace (atomically, mode 0755); returns its path. */
export function installPlugin(binDir: string, nodePath = process.execPath, bundlePath = pluginBundlePath()): string {
  const shebang = `#!${nodePath}\n`;
  if (shebang.length > MAX_SHEBANG) throw new Error(`the Node path is too long for a "#!" line: ${nodePath}`);
  let bundle: Buffer;
  try {
    bundle = readFileSync(bundlePath);
  } catch {
    throw new Error(`the plugin bundle ${bundlePath} is missing: run "npm run build" first`);
  }
  mkdirSync(binDir, { recursive: true });
  const target = join(binDir, 'cni-trace');
  writeFileAtomic(target, Buffer.concat([Buffer.from(shebang), bundle]), 0o755);
  return target;
}
