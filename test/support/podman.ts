/**
 * Self-cleaning podman harness for integration tests.
 *
 * Every sandbox lives in its own temp root (`$TMPDIR/cnitrace-podman-XXXXXX`)
 * holding podman's config, image/container storage (vfs), libpod state, file
 * locks, the events log and the CNI network config dir. Podman is driven as
 * root with the CNI network backend, runc and cgroupfs, and a busybox image
 * built from the host's static /bin/busybox (no registry access).
 *
 * Host state that cannot be relocated into the temp root (podman 4.3.1 /
 * containers-common 0.50 / libcni 1.1) and how it is handled:
 *  - libcni result cache `/var/lib/cni/results/<net>-<cid>-<if>` (libcni's
 *    default cache dir; podman creates its CNIConfig without a cache dir and
 *    has no option to change it). libcni removes the file on DEL; cleanup
 *    removes any leftover whose `networkName` is one of this sandbox's networks.
 *  - host-local without `dataDir` stores leases in `/var/lib/cni/networks/<net>`;
 *    removed on cleanup if it did not exist before. Prefer `dataDir` in tmp.
 *  - network namespaces `/run/netns/netns-<uuid>` (podman removes them when a
 *    container is cleaned up). Cleanup deletes namespaces of this sandbox's
 *    remaining containers (their SandboxKey), plus `netns-*`/`cni-*`
 *    namespaces that appeared since creation (`ip netns` diff), that no
 *    process is in, and that are either attached (veth peer) to one of this
 *    sandbox's bridges or appeared while no other sandbox was alive.
 *  - bridges created by the bridge plugin are never deleted by CNI DEL.
 *    Cleanup deletes every `bridge` named in the sandbox's conflists (found
 *    recursively, so delegates inside a meta plugin count) that did not exist
 *    when the sandbox was created, plus links passed in `trackLinks`.
 *  - the bridge plugin with `isGateway` sets net.ipv4.ip_forward=1. With
 *    `restoreIpForward: true` cleanup restores 0 if it was 0 before and no
 *    other live sandbox exists; by default it is left at 1.
 *  - the portmap plugin creates host-wide nat chains CNI-HOSTPORT-{DNAT,SETMARK,MASQ}
 *    (plus jumps from PREROUTING/OUTPUT/POSTROUTING) on the first `-p` mapping
 *    and never removes them. Cleanup removes them if they did not exist at
 *    creation, CNI-HOSTPORT-DNAT is empty and no other live sandbox exists.
 *    Per-container chains (CNI-DN-*) are removed by portmap's own DEL.
 *  - left alone (shared, harmless, recreated on demand by podman/runc/libcni):
 *    the `/run/netns` self bind-mount, empty `/run/runc`, empty
 *    `/var/lib/cni/results`, `/var/lib/containers/cache/blob-info-cache-v1.boltdb`
 *    (containers/image's digest cache, written by `podman import`; root's
 *    location is hard-coded) and the `libpod_parent/conmon` cgroups.
 *
 * Uses only node built-ins; runs under Node's type stripping.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cleanupRoot } from './podman-cleanup.ts';
import { importBusyboxImage, pidAlive, podmanEnv, podmanGlobalArgs, readState, runCommand, sandboxPaths, tomlArray, tomlString, trackConflist, writeConflistFile, writeState } from './podman-files.ts';
import { IPTABLES_BINS, PORTMAP_DNAT, listNetns, natRules, readIpForward, readdirOrEmpty } from './podman-host.ts';
import { BUSYBOX_IMAGE, type CleanupReport, type PodmanSandbox, type PodmanSandboxOptions, SANDBOX_PREFIX, type SandboxState } from './podman-types.ts';
/**
 * Cleans up sandboxes under `parent` (default os.tmpdir()) whose creating
 * process is gone (e.g. a test run killed by a signal). Only state recorded
 * by those sandboxes is touched. Returns the cleaned roots' reports.
 */
export function reapStalePodmanSandboxes(parent: string = os.tmpdir()): Record<string, CleanupReport> {
  const out: Record<string, CleanupReport> = {};
  const names = readdirOrEmpty(parent).filter((n) => n.startsWith(SANDBOX_PREFIX));
  for (const n of names) {
    const root = path.join(parent, n);
    const state = readState(root);
    if (!state || pidAlive(state.pid)) continue; // no state yet: may be a sandbox being created
    out[root] = cleanupRoot(root, false);
  }
  return out;
}

const liveSandboxes = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Best effort for sandboxes whose cleanup() was never called (not run when
  // the process is killed by a signal; reapStalePodmanSandboxes() covers that).
  process.on('exit', () => {
    for (const root of liveSandboxes) cleanupRoot(root, true);
  });
}

/**
 * Creates an isolated podman sandbox in a fresh temp root and writes
 * `opts.conflist` into its network config dir.
 *
 * Podman setup (podman 4.3.1): containers.conf via CONTAINERS_CONF with
 * `[network] network_backend="cni"`, `cni_plugin_dirs`, `network_config_dir`;
 * `[engine] runtime="runc"`, `cgroup_manager="cgroupfs"`, `events_logger="file"`,
 * `events_logfile_path`, `tmp_dir`, `lock_type="file"` (no /dev/shm lock
 * segment shared with other podman roots); `[containers] log_driver="k8s-file"`,
 * `default_ulimits`. Storage via CONTAINERS_STORAGE_CONF (vfs, graphroot,
 * runroot) and the matching global flags.
 *
 * Quirk: without `default_ulimits` podman (as root) asks runc for
 * RLIMIT_NOFILE/RLIMIT_NPROC = 1048576, which exceeds the hard limits when
 * CAP_SYS_RESOURCE is missing from the bounding set (as on this CI VM):
 * `error setting rlimits for ready process: error setting rlimit type 6:
 * operation not permitted`. Values must not exceed conmon's limits (conmon
 * ran with nproc 32768 here), hence the small defaults.
 *
 * Also removes stale sandboxes of dead processes first (see
 * {@link reapStalePodmanSandboxes}). On failure the partial sandbox is
 * cleaned up and the error rethrown.
 */
export async function createPodmanSandbox(opts: PodmanSandboxOptions): Promise<PodmanSandbox> {
  const parent = opts.tmpParent ?? os.tmpdir();
  reapStalePodmanSandboxes(parent);
  const root = fs.mkdtempSync(path.join(parent, SANDBOX_PREFIX));
  const p = sandboxPaths(root);
  const env = podmanEnv(p);
  const globalArgs = podmanGlobalArgs(p);
  const state: SandboxState = {
    pid: process.pid,
    createdAt: new Date().toISOString(),
    networks: [],
    links: [],
    netnsBefore: listNetns(),
    hostLocalDirs: [],
    ipForwardBefore: readIpForward(),
    restoreIpForward: opts.restoreIpForward ?? false,
    portmapChainsBefore: Object.fromEntries(IPTABLES_BINS.map((b) => {
      const rules = natRules(b);
      return [b, rules === null ? null : rules.includes(`-N ${PORTMAP_DNAT}`)];
    })),
  };
  writeState(p, state);
  liveSandboxes.add(root);
  installExitHook();

  let cleanupPromise: Promise<CleanupReport> | null = null;
  const cleanup = (): Promise<CleanupReport> => {
    cleanupPromise ??= Promise.resolve().then(() => {
      try {
        return cleanupRoot(root, true);
      } finally {
        liveSandboxes.delete(root);
      }
    });
    return cleanupPromise;
  };

  try {
    for (const d of [p.netDir, p.graphRoot, p.runRoot, p.libpodTmp, p.tmp, path.dirname(p.eventsLog), p.scratch]) {
      fs.mkdirSync(d, { recursive: true });
    }
    const ulimits = opts.ulimits ?? ['nofile=1024:1024', 'nproc=4096:4096'];
    fs.writeFileSync(p.containersConf, [
      '# generated by test/support/podman.ts',
      '[containers]',
      `default_ulimits = ${tomlArray(ulimits)}`,
      'log_driver = "k8s-file"',
      '',
      '[network]',
      'network_backend = "cni"',
      `cni_plugin_dirs = ${tomlArray(opts.binDirs)}`,
      `network_config_dir = ${tomlString(p.netDir)}`,
      '',
      '[engine]',
      'runtime = "runc"',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      `events_logfile_path = ${tomlString(p.eventsLog)}`,
      `tmp_dir = ${tomlString(p.libpodTmp)}`,
      `volume_path = ${tomlString(path.join(p.graphRoot, 'volumes'))}`,
      `static_dir = ${tomlString(path.join(p.graphRoot, 'libpod'))}`,
      'lock_type = "file"',
      '',
    ].join('\n'));
    fs.writeFileSync(p.storageConf, [
      '[storage]',
      'driver = "vfs"',
      `graphroot = ${tomlString(p.graphRoot)}`,
      `runroot = ${tomlString(p.runRoot)}`,
      '',
    ].join('\n'));

    const conflist = typeof opts.conflist === 'function' ? opts.conflist(p) : opts.conflist;
    trackConflist(p, state, conflist, opts.trackLinks ?? []);
    const networkName = writeConflistFile(p, conflist);

    if (opts.buildImage ?? true) await importBusyboxImage(p, env, globalArgs);

    const sandbox: PodmanSandbox = {
      paths: p,
      networkName,
      image: BUSYBOX_IMAGE,
      env,
      globalArgs,
      run: (args, runOpts) => runCommand('podman', [...globalArgs, ...args], env, runOpts),
      runContainer: (net, cmd, runOpts = {}) =>
        runCommand('podman', [
          ...globalArgs, 'run', '--rm', '--pull=never', '--network', net,
          ...(runOpts.podmanArgs ?? []), runOpts.image ?? BUSYBOX_IMAGE, ...cmd,
        ], env, runOpts),
      addConflist: (c) => {
        trackConflist(p, state, c);
        return writeConflistFile(p, c);
      },
      cleanup,
    };
    return sandbox;
  } catch (e) {
    const report = await cleanup();
    if (report.errors.length > 0 && e instanceof Error) {
      e.message += `\n(cleanup after failed creation also reported: ${report.errors.join('; ')})`;
    }
    throw e;
  }
}
