/**
 * Building the tests' Go programs that have their own go.mod (test/cri, test/driver/otel):
 * modules from the Go proxy, pinned by go.sum, everything cached in .cache/ by source hash.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { ROOT } from './fixtures.ts';

const CACHE = join(ROOT, '.cache');

/**
 * The Go release the modules are built with where the local go is older than 1.21 (Debian
 * bookworm's golang-go is 1.19, which knows no toolchains): fetched once through the module
 * proxy as Go's own toolchain module, as a newer go does by itself (GOTOOLCHAIN).
 */
const BOOTSTRAP_GO = 'go1.26.0';

/** Go's environment for builds in .cache (modules from the proxy, pinned by go.sum). */
export function goEnv(): Record<string, string> {
  return { GOPATH: join(CACHE, 'gopath'), GOMODCACHE: join(CACHE, 'gopath/pkg/mod'), GOCACHE: join(CACHE, 'gocache'), GOFLAGS: '-mod=readonly', GO111MODULE: 'on' };
}

let goBin: string | null = null;

/** A go that can build a module: /usr/local/go's or the one on PATH if ≥ 1.21, else the bootstrap toolchain. */
export async function goBinary(): Promise<string> {
  if (goBin) return goBin;
  for (const candidate of ['/usr/local/go/bin/go', 'go']) {
    const r = await execa(candidate, ['env', 'GOVERSION'], { reject: false });
    const minor = /^go1\.(\d+)/.exec(r.stdout.trim())?.[1];
    if (r.exitCode === 0 && minor && Number(minor) >= 21) return (goBin = candidate);
  }
  const arch = ({ x64: 'amd64', arm64: 'arm64' } as Record<string, string>)[process.arch] ?? process.arch;
  mkdirSync(join(CACHE, 'gopath'), { recursive: true });
  const r = await execa('go', ['mod', 'download', '-json', `golang.org/toolchain@v0.0.1-${BOOTSTRAP_GO}.linux-${arch}`], { cwd: CACHE, env: { ...goEnv(), GOFLAGS: '' } });
  const dir = (JSON.parse(r.stdout) as { Dir: string }).Dir;
  // Module zips keep no executable bits; the go command sets them the same way when it switches.
  await execa('chmod', ['-R', 'u+x', join(dir, 'bin'), join(dir, 'pkg/tool')]);
  return (goBin = join(dir, 'bin/go'));
}

/** Builds (once per source version) the Go program in `dir` to .cache/<name>-<hash>; returns its path. */
export async function buildGoModule(dir: string, name: string): Promise<string> {
  const hash = createHash('sha256');
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.go') || n === 'go.mod' || n === 'go.sum').sort()) hash.update(readFileSync(join(dir, f)));
  const out = join(CACHE, `${name}-${hash.digest('hex').slice(0, 12)}`);
  if (!existsSync(out)) {
    mkdirSync(join(CACHE, 'gopath'), { recursive: true });
    await execa(await goBinary(), ['build', '-o', out, '.'], { cwd: dir, env: goEnv() });
  }
  return out;
}
