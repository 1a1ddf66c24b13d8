/**
 * The libcni driver (test/driver/cnidrv.go): a real CNI runtime built from Debian's libcni
 * source (golang-github-appc-cni-dev) the first time a test needs it, cached by source hash.
 * The `upstream` variant (test/driver/otel) is the same program built against the upstream
 * libcni commit pinned in its go.mod, whose invoke passes the context's span as TRACEPARENT.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { buildGoModule } from './go-build.ts';
import { ROOT } from './fixtures.ts';

const SOURCE = join(ROOT, 'test/driver/cnidrv.go');
const CACHE = join(ROOT, '.cache');

let built: string | null = null;
let upstream: string | null = null;

/** Which libcni the driver is built against: Debian's 1.1.2 (default) or the upstream commit with trace propagation. */
export type DriverLibcni = 'debian' | 'upstream';

/** Builds (once per source version) and returns the driver's path. */
export async function driverPath(libcni: DriverLibcni = 'debian'): Promise<string> {
  if (libcni === 'upstream') {
    upstream ??= await buildGoModule(join(ROOT, 'test/driver/otel'), 'cnidrv-otel');
    return upstream;
  }
  if (built) return built;
  const hash = createHash('sha256').update(readFileSync(SOURCE)).digest('hex').slice(0, 12);
  const out = join(CACHE, `cnidrv-${hash}`);
  if (!existsSync(out)) {
    mkdirSync(join(CACHE, 'gopath'), { recursive: true });
    await execa('go', ['build', '-o', out, SOURCE], {
      env: { GO111MODULE: 'off', GOPATH: `${join(CACHE, 'gopath')}:/usr/share/gocode`, GOCACHE: join(CACHE, 'gocache'), GOFLAGS: '' },
    });
  }
  built = out;
  return out;
}

export interface DriverOutcome {
  readonly ok: boolean;
  readonly result?: Record<string, unknown>;
  readonly error?: { typed: boolean; code: number; msg: string; details?: string; text: string };
  readonly durationNs: number;
}

export interface DriverCall {
  readonly conflist: string;
  readonly netns?: string;
  readonly id: string;
  readonly ifname?: string;
  readonly args?: string;
  readonly capArgs?: Record<string, unknown>;
  readonly path: readonly string[];
  readonly cacheDir: string;
  /** The runtime's deadline, after which libcni SIGKILLs the plugin (e.g. "2s"). */
  readonly timeout?: string;
  /** Extra environment for the runtime (and so for the plugins), e.g. TRACEPARENT. */
  readonly env?: Record<string, string>;
  /** The runtime's span, put in libcni's context (only the upstream build passes it on). */
  readonly traceparent?: string;
  /** Default Debian's libcni. */
  readonly libcni?: DriverLibcni;
  /** Runs the runtime (so its plugins) in this netns (a path) instead of the host's. */
  readonly hostNetns?: string;
  /** gc: the attachments the runtime still holds (libcni's GCArgs.ValidAttachments). */
  readonly validAttachments?: ReadonlyArray<{ containerID: string; ifname: string }>;
}

export interface DriverRun {
  readonly outcome: DriverOutcome;
  /** What the plugins wrote to stderr (libcni copies it on success). */
  readonly stderr: string;
}

/** A libcni operation; gc and status (CNI 1.1) only through the upstream build (libcni ≥ 1.2). */
export type DriverCommand = 'add' | 'check' | 'del' | 'version' | 'gc' | 'status';

/** Runs one libcni operation and returns its outcome. */
export async function runDriver(command: DriverCommand, call: DriverCall): Promise<DriverRun> {
  const args = [
    '--conflist', call.conflist, '--id', call.id, '--ifname', call.ifname ?? 'eth0',
    '--path', call.path.join(':'), '--cache-dir', call.cacheDir,
    ...(call.netns ? ['--netns', call.netns] : []),
    ...(call.args ? ['--args', call.args] : []),
    ...(call.capArgs ? ['--cap-args', JSON.stringify(call.capArgs)] : []),
    ...(call.timeout ? ['--timeout', call.timeout] : []),
    ...(call.traceparent ? ['--traceparent', call.traceparent] : []),
    ...(call.validAttachments ? ['--valid-attachments', JSON.stringify(call.validAttachments)] : []),
    command,
  ];
  const driver = await driverPath(call.libcni);
  const res = call.hostNetns
    ? await execa('nsenter', [`--net=${call.hostNetns}`, driver, ...args], { reject: false, env: call.env ?? {}, extendEnv: true })
    : await execa(driver, args, { reject: false, env: call.env ?? {}, extendEnv: true });
  if (res.exitCode !== 0) throw new Error(`cnidrv ${command} failed to run (exit ${res.exitCode}): ${res.stderr}`);
  return { outcome: JSON.parse(res.stdout) as DriverOutcome, stderr: res.stderr };
}
