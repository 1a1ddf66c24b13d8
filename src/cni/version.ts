/**
 * CNI spec versions: what the wrapper accepts and how versions compare.
 * Conflists exist from 0.3.0 on, so the wrapper supports 0.3.0 … 1.1.0.
 */

export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export const LATEST_VERSION = '1.1.0';

const SEMVER = /^(\d+)\.(\d+)\.(\d+)$/;

/** Parses "x.y.z" into numbers, or returns null for anything else. */
export function parseVersion(v: string): [number, number, number] | null {
  const m = SEMVER.exec(v);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
}

/** a >= b for two valid versions; false when either is not a version. */
export function versionAtLeast(a: string, b: string): boolean {
  const pa = parseVersion(a);
  const pb = parseVersion(b);
  if (!pa || !pb) return false;
  for (let i = 0; i < 3; i++) {
    if (pa[i]! !== pb[i]!) return pa[i]! > pb[i]!;
  }
  return true;
}

/** The VERSION command's answer, as skel encodes it. */
export function versionInfoJson(): string {
  return JSON.stringify({ cniVersion: LATEST_VERSION, supportedVersions: SUPPORTED_VERSIONS });
}
