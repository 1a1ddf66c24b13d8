/** A podman sandbox's files: its paths, config, env, state, conflists and busybox image. */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { bridgeNames, errText, linkExists, readdirOrEmpty } from './podman-host.ts';
import { BUSYBOX, BUSYBOX_IMAGE, CNI_HOST_LOCAL_DIR, NETWORK_NAME_RE, type RunOptions, type RunResult, SANDBOX_PREFIX, type SandboxPaths, type SandboxState } from './podman-types.ts';
export function tomlString(s: string): string {
  return JSON.stringify(s);
}

export function tomlArray(xs: string[]): string {
  return `[${xs.map(tomlString).join(', ')}]`;
}

export function sandboxPaths(root: string): SandboxPaths {
  return {
    root,
    netDir: path.join(root, 'net.d'),
    containersConf: path.join(root, 'containers.conf'),
    storageConf: path.join(root, 'storage.conf'),
    graphRoot: path.join(root, 'root'),
    runRoot: path.join(root, 'runroot'),
    libpodTmp: path.join(root, 'libpod-tmp'),
    tmp: path.join(root, 'tmp'),
    eventsLog: path.join(root, 'events', 'events.log'),
    scratch: path.join(root, 'scratch'),
  };
}

export function podmanEnv(p: SandboxPaths): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // Never talk to a remote/system service.
  for (const k of ['CONTAINER_HOST', 'CONTAINER_CONNECTION', 'CONTAINER_SSHKEY', 'CONTAINERS_CONF_OVERRIDE', 'CONTAINERS_REGISTRIES_CONF']) delete env[k];
  env.CONTAINERS_CONF = p.containersConf; // propagated by podman to conmon and the cleanup exit command
  env.CONTAINERS_STORAGE_CONF = p.storageConf;
  env.TMPDIR = p.tmp;
  return env;
}

export function podmanGlobalArgs(p: SandboxPaths): string[] {
  // These are also copied by podman into conmon's `--exit-command` (`podman container cleanup`).
  return [
    '--root', p.graphRoot,
    '--runroot', p.runRoot,
    '--storage-driver', 'vfs',
    '--tmpdir', p.libpodTmp,
    '--network-config-dir', p.netDir,
    '--cgroup-manager', 'cgroupfs',
    '--events-backend', 'file',
    '--runtime', 'runc',
  ];
}

export function runCommand(file: string, args: string[], env: NodeJS.ProcessEnv, opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: { ...env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let spawnError: Error | null = null;
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdin.on('error', () => {}); // EPIPE when the child exits early
    child.stdin.end(opts.input ?? '');
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      spawnError = e;
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const res: RunResult = {
        code: code ?? -1,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8') + (spawnError ? `\n[spawn error] ${spawnError.message}` : '') +
          (signal === 'SIGKILL' && performance.now() - start >= timeoutMs ? `\n[killed after ${timeoutMs} ms timeout]` : ''),
        durationMs: Math.round(performance.now() - start),
      };
      if (opts.check && res.code !== 0) {
        reject(new Error(`${file} ${args.join(' ')} exited ${res.code}${signal ? ` (${signal})` : ''}\nstdout:\n${res.stdout}\nstderr:\n${res.stderr}`));
      } else {
        resolve(res);
      }
    });
  });
}

export function runSync(file: string, args: string[], env?: NodeJS.ProcessEnv, timeoutMs = 60_000): { ok: boolean; stdout: string; error: string } {
  try {
    const stdout = execFileSync(file, args, { env: env ?? process.env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    return { ok: true, stdout, error: '' };
  } catch (e) {
    const o = e as { stdout?: string };
    return { ok: false, stdout: String(o.stdout ?? ''), error: errText(e) };
  }
}

export function writeState(p: SandboxPaths, state: SandboxState): void {
  fs.writeFileSync(path.join(p.root, 'sandbox.json'), JSON.stringify(state, null, 2));
}

export function readState(root: string): SandboxState | null {
  try {
    return JSON.parse(fs.readFileSync(path.join(root, 'sandbox.json'), 'utf8')) as SandboxState;
  } catch {
    return null;
  }
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Temp roots of other sandboxes whose owning process is still alive. */
export function otherLiveSandboxes(parent: string, self: string): string[] {
  const names = readdirOrEmpty(parent).filter((n) => n.startsWith(SANDBOX_PREFIX));
  return names
    .map((n) => path.join(parent, n))
    .filter((r) => r !== self)
    .filter((r) => {
      const s = readState(r);
      return s !== null && pidAlive(s.pid);
    });
}

export function writeConflistFile(p: SandboxPaths, conflist: object): string {
  const name = (conflist as { name?: unknown }).name;
  if (typeof name !== 'string' || !NETWORK_NAME_RE.test(name)) {
    throw new Error(`conflist.name must match ${NETWORK_NAME_RE} for podman, got ${JSON.stringify(name)}`);
  }
  if (name === 'podman') throw new Error('conflist.name "podman" clashes with podman\'s default network');
  const file = path.join(p.netDir, `${name}.conflist`);
  if (fs.existsSync(file)) throw new Error(`network ${name} already exists in ${p.netDir}`);
  fs.writeFileSync(file, JSON.stringify(conflist, null, 2) + '\n');
  return name;
}

/** Registers a conflist's network/bridges in the state (before the file is written, so cleanup knows). */
export function trackConflist(p: SandboxPaths, state: SandboxState, conflist: object, extraLinks: string[] = []): void {
  const name = (conflist as { name?: unknown }).name;
  if (typeof name === 'string' && !state.networks.includes(name)) {
    state.networks.push(name);
    if (!fs.existsSync(path.join(CNI_HOST_LOCAL_DIR, name))) state.hostLocalDirs.push(name);
  }
  for (const l of [...bridgeNames(conflist), ...extraLinks]) {
    if (!linkExists(l) && !state.links.includes(l)) state.links.push(l);
  }
  writeState(p, state);
}

/** Writes a minimal busybox rootfs, tars it and `podman import`s it as {@link BUSYBOX_IMAGE}. */
export async function importBusyboxImage(p: SandboxPaths, env: NodeJS.ProcessEnv, globalArgs: string[]): Promise<void> {
  const rootfs = path.join(p.root, 'image', 'rootfs');
  const tarball = path.join(p.root, 'image', 'rootfs.tar');
  for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'run', 'root', 'var', 'tmp']) {
    fs.mkdirSync(path.join(rootfs, d), { recursive: true });
  }
  fs.chmodSync(path.join(rootfs, 'tmp'), 0o1777);
  fs.copyFileSync(BUSYBOX, path.join(rootfs, 'bin', 'busybox'));
  fs.chmodSync(path.join(rootfs, 'bin', 'busybox'), 0o755);
  const applets = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).split('\n').map((s) => s.trim());
  for (const a of applets) {
    if (!a || a === 'busybox' || a.includes('/')) continue;
    fs.symlinkSync('busybox', path.join(rootfs, 'bin', a));
  }
  for (const d of ['sbin', 'usr/bin', 'usr/sbin']) {
    // Point the usual PATH entries at /bin so any absolute applet path works.
    fs.mkdirSync(path.dirname(path.join(rootfs, d)), { recursive: true });
    fs.symlinkSync(d.startsWith('usr/') ? '../bin' : 'bin', path.join(rootfs, d));
  }
  fs.writeFileSync(path.join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  fs.writeFileSync(path.join(rootfs, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
  execFileSync('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', rootfs, '-cf', tarball, '.'], { stdio: ['ignore', 'ignore', 'pipe'] });
  await runCommand('podman', [
    ...globalArgs, 'import',
    '--change', 'CMD ["/bin/sh"]',
    '--change', 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    '--message', 'cni-trace test image (static busybox)',
    tarball, BUSYBOX_IMAGE,
  ], env, { check: true, timeoutMs: 120_000 });
  fs.rmSync(path.join(p.root, 'image'), { recursive: true, force: true });
}
