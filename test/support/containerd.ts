/**
 * containerd (Debian's 1.6 package, or the 2.x that scripts/tools.sh builds: `binDir`), the CRI
 * plugin built in, started by a test with its own config,
 * root, state dir, socket, runc root, CNI bin_dir and conf_dir, all in one temp dir — never the
 * system's socket, unit or /var/lib/containerd. The kubelet's calls go through test/cri.
 *
 * Host state containerd (1.6 and 2.x alike) does not let us move, and how `down()` handles it:
 *  - the shims' sockets are under /run/containerd/s (hard-coded): each shim removes its own on
 *    exit; /run/containerd/s and /run/containerd are removed when they did not exist before
 *    and are empty;
 *  - each sandbox's netns is a bind mount under our state dir (`netns_mounts_under_state_dir`),
 *    removed by StopPodSandbox; `down()` unmounts whatever is still mounted under the dir;
 *  - libcni's result cache /var/lib/cni/results/<network>-<sandbox id>-<ifname> (go-cni sets
 *    no cache dir): removed by DEL; leftovers of our sandboxes are deleted;
 *  - the bridge, portmap's and firewall's iptables chains and ip_forward: the test's Sandbox
 *    owns them, as for libcni (test/support/sandbox.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readdirSync, readFileSync, rmdirSync, rmSync, symlinkSync, writeFileSync, accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import type { JsonObject } from '../../src/config/wrapper-entry.ts';
import { criCall, type CriOutcome, type CriPod } from './cri.ts';
import { ROOT } from './fixtures.ts';
import { buildSandboxImage, BUSYBOX } from './oci-image.ts';

/** The sandbox image's name in containerd's k8s.io namespace (containerd's `sandbox_image`). */
export const SANDBOX_IMAGE = 'localhost/cnitrace-pause:1';
const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const SHIM_ROOT = '/run/containerd';

function onPath(cmd: string): boolean {
  return PATH.split(':').some((d) => {
    try {
      accessSync(join(d, cmd), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** The containerd 2.x that scripts/tools.sh builds (containerd, ctr, containerd-shim-runc-v2). */
export const CONTAINERD2_BIN = join(ROOT, '.cache/tools/bin/containerd');

/**
 * Null when containerd's CRI can run here, else why not (a test's skip reason). With `binDir`
 * containerd, ctr and the shim come from there (built by scripts/tools.sh before this is asked).
 */
export function containerdAvailable(binDir?: string): string | null {
  if (process.platform !== 'linux') return 'containerd tests need Linux';
  if (process.getuid?.() !== 0) return 'containerd tests need root';
  for (const cmd of ['containerd', 'ctr', 'containerd-shim-runc-v2', 'runc', 'ip', 'tar']) {
    if (binDir && cmd !== 'runc' && cmd !== 'ip' && cmd !== 'tar') {
      if (!existsSync(join(binDir, cmd))) return `${join(binDir, cmd)} not built (scripts/tools.sh builds it)`;
    } else if (!onPath(cmd)) return `${cmd} not found (scripts/setup.sh installs containerd)`;
  }
  if (!existsSync(BUSYBOX)) return `${BUSYBOX} missing (install busybox-static)`;
  return null;
}

export interface ContainerdOptions {
  /** The dir everything goes in (removed by `down()`); keep it short, sockets live in it. */
  readonly dir: string;
  /** The conflist containerd loads (its conf_dir holds only this). */
  readonly conflist: JsonObject;
  /** Plugin dirs whose executables are linked into containerd's single bin_dir, first one wins. */
  readonly pluginDirs: readonly string[];
  /** Extra environment for containerd, and so for the plugins it runs. */
  readonly env?: Record<string, string>;
  /** Where containerd, ctr and its shim are (first on their PATH); Debian's from PATH without it. */
  readonly binDir?: string;
}

/** One containerd with its CRI plugin, confined to `dir`. */
export class Containerd {
  readonly socket: string;
  readonly binDir: string;
  readonly confDir: string;
  private proc: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private readonly sandboxes = new Set<string>();
  private readonly netnses = new Set<string>();
  /**
   * This process's containerds alive, and whether the first of them found no shim socket dir:
   * the last one down removes it (the demo runs three, each may finish first).
   */
  private static live = 0;
  private static shimRootOurs = false;
  private isDown = false;

  readonly dir: string;
  private readonly opts: ContainerdOptions;
  /** containerd's and ctr's PATH: containerd looks its shim up there. */
  private readonly path: string;

  private constructor(dir: string, opts: ContainerdOptions) {
    this.dir = dir;
    this.opts = opts;
    this.path = opts.binDir ? `${opts.binDir}:${PATH}` : PATH;
    this.socket = join(dir, 'containerd.sock');
    this.binDir = join(dir, 'bin');
    this.confDir = join(dir, 'net.d');
  }

  /** Writes the config, bin_dir and conf_dir, starts containerd, imports the sandbox image, waits until the CRI is ready. */
  static async start(opts: ContainerdOptions): Promise<Containerd> {
    const c = new Containerd(opts.dir, opts);
    if (Containerd.live++ === 0) Containerd.shimRootOurs = !existsSync(SHIM_ROOT);
    try {
      c.prepare();
      await c.launch();
      const tar = await buildSandboxImage(join(c.dir, 'image'), SANDBOX_IMAGE);
      // 2.x's ctr imports through the transfer service, whose unpacker knows only the default
      // snapshotter: `--local` imports in ctr itself, as 1.6's ctr (which has no such flag) does.
      const local = opts.binDir ? ['--local'] : [];
      await execa('ctr', ['-a', c.socket, '-n', 'k8s.io', 'images', 'import', ...local, '--snapshotter', 'native', tar], { env: { PATH: c.path } });
      c.check(await criCall(c.socket, 'image', { image: SANDBOX_IMAGE, timeout: '20s' }), 'sandbox image');
    } catch (e) {
      await c.down();
      throw e;
    }
    return c;
  }

  private prepare(): void {
    mkdirSync(this.binDir, { recursive: true });
    mkdirSync(this.confDir, { recursive: true });
    for (const d of this.opts.pluginDirs) {
      for (const name of readdirSync(d)) {
        if (!existsSync(join(this.binDir, name))) symlinkSync(join(d, name), join(this.binDir, name));
      }
    }
    writeFileSync(join(this.confDir, `10-${this.opts.conflist.name as string}.conflist`), JSON.stringify(this.opts.conflist));
    const d = this.dir;
    writeFileSync(join(d, 'config.toml'), `version = 2
root = "${d}/root"
state = "${d}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]

[grpc]
  address = "${this.socket}"
[ttrpc]
  address = "${this.socket}.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "${d}/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${SANDBOX_IMAGE}"
  disable_apparmor = true
  # The sandbox's oom_score_adj (-998) needs CAP_SYS_RESOURCE, which a node that is itself a
  # container may lack: no lower than containerd's own.
  restrict_oom_score_adj = true
  # Each sandbox's netns under our state dir, not /var/run/netns.
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "${d}/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${this.binDir}"
    conf_dir = "${this.confDir}"
    max_conf_num = 1
`);
  }

  private async launch(): Promise<void> {
    const log = openSync(join(this.dir, 'containerd.log'), 'a');
    const bin = this.opts.binDir ? join(this.opts.binDir, 'containerd') : 'containerd';
    const proc = spawn(bin, ['--config', join(this.dir, 'config.toml')], {
      stdio: ['ignore', log, log], env: { PATH: this.path, ...this.opts.env },
    });
    closeSync(log);
    this.proc = proc;
    this.exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    const deadline = Date.now() + 20_000;
    while (!existsSync(this.socket)) {
      if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`containerd did not start: ${this.log().slice(-2000)}`);
      await sleep(20);
    }
    this.check(await criCall(this.socket, 'ready', { timeout: '20s' }), 'runtime and network ready');
  }

  /** containerd's own log (its stderr). */
  log(): string {
    try {
      return readFileSync(join(this.dir, 'containerd.log'), 'utf8');
    } catch {
      return '';
    }
  }

  private check(o: CriOutcome, what: string): CriOutcome {
    if (!o.ok) throw new Error(`${what}: ${o.code}: ${o.message}\n${this.log().slice(-2000)}`);
    return o;
  }

  /** RunPodSandbox: the outcome as the kubelet gets it. */
  async run(pod: CriPod): Promise<CriOutcome> {
    const o = await criCall(this.socket, 'run', { pod });
    if (o.id) {
      this.sandboxes.add(o.id);
      const st = await criCall(this.socket, 'status', { id: o.id });
      if (st.status?.netns) this.netnses.add(st.status.netns);
    }
    return o;
  }

  /** PodSandboxStatus (verbose): IPs, the sandbox's netns and pid. */
  async status(id: string): Promise<CriOutcome> {
    return this.check(await criCall(this.socket, 'status', { id }), `status ${id}`);
  }

  async stop(id: string): Promise<CriOutcome> {
    return criCall(this.socket, 'stop', { id });
  }

  async remove(id: string): Promise<CriOutcome> {
    return criCall(this.socket, 'remove', { id });
  }

  /** SIGKILLs containerd (its shims and pods live on), then starts it again on the same root and state. */
  async restart(): Promise<void> {
    this.proc?.kill('SIGKILL');
    await this.exited;
    rmSync(this.socket, { force: true });
    await this.launch();
  }

  /**
   * Removes everything: the pods through the CRI (the kubelet's stop and remove), containerd,
   * whatever of its containers and shims is left, mounts under the dir, the netns and libcni
   * cache files of our sandboxes, the shim socket dir if we made it, the dir. Never throws;
   * returns what went wrong.
   */
  async down(): Promise<string[]> {
    if (this.isDown) return [];
    this.isDown = true;
    const errors: string[] = [];
    if (this.proc && this.proc.exitCode === null) {
      const listed = await criCall(this.socket, 'list', { timeout: '20s' }).catch(() => null);
      for (const id of listed?.ids ?? []) this.sandboxes.add(id);
      for (const id of this.sandboxes) {
        for (const step of ['stop', 'remove'] as const) {
          const o = await criCall(this.socket, step, { id, timeout: '60s' }).catch((e: Error) => ({ ok: false, message: e.message }));
          if (!o.ok && !/not found/.test(o.message ?? '')) errors.push(`${step} ${id}: ${o.message}`);
        }
      }
      this.proc.kill('SIGTERM');
      const killed = await Promise.race([this.exited.then(() => true), sleep(10_000).then(() => false)]);
      if (!killed) {
        this.proc.kill('SIGKILL');
        await this.exited;
      }
    }
    // What containerd did not remove: containers in our runc root, then our shims.
    const runcRoot = join(this.dir, 'runc');
    if (existsSync(runcRoot)) {
      for (const ns of readdirSync(runcRoot)) {
        const root = join(runcRoot, ns);
        const listed = await execa('runc', ['--root', root, 'list', '-q'], { reject: false, env: { PATH } });
        for (const id of listed.stdout.split('\n').filter(Boolean)) {
          errors.push(`container ${id} left running`);
          await execa('runc', ['--root', root, 'delete', '-f', id], { reject: false, env: { PATH } });
        }
      }
    }
    for (const pid of this.shims()) {
      errors.push(`shim ${pid} left running`);
      try {
        process.kill(pid, 'SIGKILL');
      } catch { /* gone */ }
    }
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '').filter((m) => m.startsWith(`${this.dir}/`));
    for (const m of mounts.reverse()) await execa('umount', ['-l', m], { reject: false });
    for (const ns of this.netnses) {
      if (!existsSync(ns)) continue;
      errors.push(`netns ${ns} left`);
      await execa('umount', [ns], { reject: false });
      rmSync(ns, { force: true });
    }
    const results = '/var/lib/cni/results';
    const net = this.opts.conflist.name as string;
    for (const f of existsSync(results) ? readdirSync(results) : []) {
      if ([...this.sandboxes].some((id) => f === `${net}-${id}-eth0` || f === `cni-loopback-${id}-lo`)) {
        errors.push(`libcni cache ${f} left`);
        rmSync(join(results, f), { force: true });
      }
    }
    if (--Containerd.live === 0 && Containerd.shimRootOurs) {
      // Each shim removes its socket as it exits, which may be just after containerd did.
      const shimSockets = join(SHIM_ROOT, 's');
      for (let end = Date.now() + 5_000; existsSync(shimSockets) && readdirSync(shimSockets).length > 0 && Date.now() < end;) await sleep(50);
      for (const d of [shimSockets, SHIM_ROOT]) {
        try {
          rmdirSync(d);
        } catch { /* absent, or in use by another containerd */ }
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
    return errors;
  }

  /** Pids of containerd-shim-runc-v2 processes serving our socket. */
  private shims(): number[] {
    const out: number[] = [];
    for (const p of readdirSync('/proc')) {
      if (!/^\d+$/.test(p)) continue;
      try {
        const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
        if (argv[0]?.endsWith('containerd-shim-runc-v2') && argv.includes(this.socket)) out.push(Number(p));
      } catch { /* exited */ }
    }
    return out;
  }
}
