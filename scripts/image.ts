/**
 * `npm run image`: the DaemonSet's container image (collector-config/Containerfile), built with
 * podman (or buildah/docker: any builder of a Containerfile) from a context staged here:
 *
 *   /usr/local/bin/cni-trace   the self-contained executable dist/cni-trace: the plugin, the
 *                              CLI (agent, install, doctor, tail, tui …) and the front that
 *                              `cni-trace install` writes beside it on the node (decision 33)
 *
 * One file, one Node. Nothing is downloaded: the context is what this checkout built, so the
 * image runs exactly the code the tests ran. The base only has to supply the C and C++ runtime
 * (glibc ≥ 2.28, libstdc++, libgcc_s); the default is distroless/cc (docs/decisions.md, 20).
 *
 *   npm run image -- [--tag cni-trace:0.1.0] [--base IMAGE] [--builder podman] [--context DIR] [--context-only]
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { scriptArgs } from './script-args.ts';

/** The checkout this script is in. */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const CONTAINERFILE = join(ROOT, 'collector-config/Containerfile');

/** Stages the image's context in `dir` (emptied first); returns `dir`. */
export function stageContext(dir: string, root = ROOT): string {
  const exe = join(root, 'dist/cni-trace');
  if (!existsSync(exe)) throw new Error('dist/cni-trace is missing: run "npm run build" first');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'usr/local/bin'), { recursive: true });
  copyFileSync(exe, join(dir, 'usr/local/bin/cni-trace'));
  return dir;
}

export interface ImageOptions {
  /** Default `cni-trace:<package version>`. */
  readonly tag?: string;
  /** The base image (the Containerfile's BASE): anything with glibc ≥ 2.28, libstdc++, libgcc_s. */
  readonly base?: string;
}

/** The tag the image gets, and the `build` arguments that make it from a staged context. */
export function buildArgs(context: string, opts: ImageOptions = {}): { tag: string; args: string[] } {
  const tag = opts.tag ?? `cni-trace:${(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version}`;
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
