/**
 * Where the wrapper gets the compiled nested-call shim (wrapper/nested-shim.c): embedded in the
 * self-contained executable as the SEA asset "nested-shim", or, for the bundle and the TS
 * sources, the file dist/cni-trace-shim beside the bundle (or two levels up from src/plugin/).
 * Its identity (where it came from and that file's dev, inode, size and mtime) is part of the
 * shim directory's name, so a new build never reuses an old build's shim.
 */
import { readFileSync, statSync, type BigIntStats } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SHIM_ASSET = 'nested-shim';
export const SHIM_FILE = 'cni-trace-shim';

export interface ShimBinary {
  readonly identity: string;
  /** The binary's bytes, read only when a shim directory is built. */
  bytes(): Uint8Array;
}

/** The shim binary, or null when this build has none (nesting is then off). Never throws. */
export function findShimBinary(): ShimBinary | null {
  try {
    const sea = process.getBuiltinModule('node:sea');
    if (sea?.isSea()) {
      const asset = sea.getRawAsset(SHIM_ASSET);
      return { identity: `sea ${stamp(statSync(process.execPath, { bigint: true }))} ${asset.byteLength}`, bytes: () => new Uint8Array(asset) };
    }
  } catch {
    return null; // a SEA built without the asset
  }
  // In the CommonJS bundle __filename is the bundle; in the ES module sources it is undefined.
  const here = dirname(typeof __filename === 'string' ? __filename : fileURLToPath(import.meta.url));
  for (const file of [join(here, SHIM_FILE), join(here, '../../dist', SHIM_FILE)]) {
    try {
      const st = statSync(file, { bigint: true, throwIfNoEntry: false });
      if (st?.isFile()) return { identity: `file ${file} ${stamp(st)}`, bytes: () => readFileSync(file) };
    } catch { /* unreadable: try the next */ }
  }
  return null;
}

function stamp(st: BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}`;
}
