/**
 * `npm run image`: the DaemonSet's container image (collector-config/Containerfile), built with
 * podman (or buildah/docker: any builder of a Containerfile) from a context staged here:
 *
 *   /usr/local/bin/node          the pinned Node 24 that runs this script, stripped
 *   /usr/local/bin/cni-trace  →  /opt/cni-trace/dist/cli.js (its #! line pointing at that node)
 *   /opt/cni-trace/dist/         the build: the CLI, its chunks, and the self-contained plugin
 *                                executable that `cni-trace install` copies onto the node
 *   /opt/cni-trace/node_modules  the production dependencies only (`npm ls --omit=dev`)
 *
 * Nothing is downloaded: the context is what this checkout built, so the image runs exactly the
 * code the tests ran. The base only has to supply the C and C++ runtime (glibc ≥ 2.28,
 * libstdc++, libgcc_s); the default is distroless/cc (docs/decisions.md, 20).
 *
 *   npm run image -- [--tag cni-trace:0.1.0] [--base IMAGE] [--builder podman] [--context DIR] [--context-only]
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { copyStripped } from './build-sea.ts';
import { scriptArgs } from './script-args.ts';

/** The checkout this script is in. */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const CONTAINERFILE = join(ROOT, 'collector-config/Containerfile');
const APP = 'opt/cni-trace';

/** Stages the image's context in `dir` (emptied first); returns `dir`. */
export function stageContext(dir: string, root = ROOT): string {
  const dist = join(root, 'dist');
  for (const f of ['cli.js', 'cni-trace']) {
    if (!existsSync(join(dist, f))) throw new Error(`dist/${f} is missing: run "npm run build" first`);
  }
  rmSync(dir, { recursive: true, force: true });
  const app = join(dir, APP);
  mkdirSync(join(dir, 'usr/local/bin'), { recursive: true });
  mkdirSync(app, { recursive: true });

  copyStripped(process.execPath, join(dir, 'usr/local/bin/node'));
  cpSync(dist, join(app, 'dist'), { recursive: true, filter: (src) => !src.endsWith('.sea') && !src.endsWith('.tmp') });
  // The CLI's #! line names /usr/bin/env, which a distroless base does not have.
  const cli = join(app, 'dist/cli.js');
  writeFileSync(cli, readFileSync(cli, 'utf8').replace(/^#![^\n]*\n/, '#!/usr/local/bin/node\n'));
  chmodSync(cli, 0o755);
  symlinkSync(`/${APP}/dist/cli.js`, join(dir, 'usr/local/bin/cni-trace'));
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(app, 'package.json'), `${JSON.stringify({ name: pkg.name, version: pkg.version, type: pkg.type, bin: pkg.bin, dependencies: pkg.dependencies }, null, 2)}\n`);

  for (const pkgDir of productionPackages(root)) {
    cpSync(pkgDir, join(app, relative(root, pkgDir)), {
      recursive: true,
      // Nested node_modules come as packages of their own, if they are production ones.
      filter: (src) => src === pkgDir || !relative(pkgDir, src).split('/').includes('node_modules'),
    });
  }
  return dir;
}

/** The installed production dependencies, direct and transitive, as absolute directories. */
function productionPackages(root: string): string[] {
  const r = spawnSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`npm ls --omit=dev failed: ${r.stderr}`);
  return r.stdout.split('\n').filter((p) => p.startsWith(join(root, 'node_modules') + '/'));
}

export interface ImageOptions {
  /** Default `cni-trace:<package version>`. */
  readonly tag?: string;
  /** The base image (the Containerfile's BASE): anything with glibc ≥ 2.28, libstdc++, libgcc_s. */
  readonly base?: string;
}

/** The tag the image gets, and the `build` arguments that make it from a staged context. */
export function buildArgs(context: string, opts: ImageOptions = {}): { tag: string; args: string[] } {
  const tag = opts.tag ?? `cni-trace:${(JSON.parse(readFileSync(join(context, APP, 'package.json'), 'utf8')) as { version: string }).version}`;
  return { tag, args: ['build', '-f', CONTAINERFILE, '-t', tag, ...(opts.base ? ['--build-arg', `BASE=${opts.base}`] : []), context] };
}

if (import.meta.main) {
  const { values } = scriptArgs('image', `
Usage: npm run image -- [--tag NAME] [--base IMAGE] [--builder podman|buildah|docker]
                        [--context DIR] [--context-only]

Stages the image's context from this checkout's build (run "npm run build" first) in DIR
(default .cache/image) and builds collector-config/Containerfile: tag cni-trace:<version>,
base gcr.io/distroless/cc-debian12, builder podman. --context-only stops after staging.`, {
    tag: { type: 'string' }, base: { type: 'string' }, builder: { type: 'string' },
    context: { type: 'string', default: join(ROOT, '.cache/image') }, 'context-only': { type: 'boolean' },
  });
  const context = stageContext(resolve(values.context));
  console.log(`staged ${context}`);
  if (!values['context-only']) {
    const builder = values.builder ?? 'podman';
    const { tag, args } = buildArgs(context, values);
    const r = spawnSync(builder, args, { stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`${builder} ${args.join(' ')} failed (${r.status ?? r.error?.message})`);
    console.log(`built ${tag}`);
  }
}
