/** Removing exactly what one podman sandbox created (test/support/podman.ts lists what that is). */
import fs from 'node:fs';
import path from 'node:path';
import { otherLiveSandboxes, podmanEnv, podmanGlobalArgs, readState, runSync, sandboxPaths } from './podman-files.ts';
import { containerIdsFromEvents, errText, linkExists, listNetns, mountsUnder, netnsAttachedTo, netnsInodesInUse, readIpForward, readdirOrEmpty, removePortmapChains } from './podman-host.ts';
import { CNI_HOST_LOCAL_DIR, CNI_RESULTS_DIR, type CleanupReport, IP_FORWARD, NETNS_DIR } from './podman-types.ts';
/**
 * Synchronous cleanup of one sandbox root, driven by its `sandbox.json`.
 * `diffNetns` also deletes unused namespaces that appeared since creation
 * (only safe while the creating process is the one cleaning up).
 */
export function cleanupRoot(root: string, diffNetns: boolean): CleanupReport {
  const report: CleanupReport = {
    removedContainers: [], deletedNetns: [], deletedLinks: [], unmounted: [], removedCniCache: [],
    removedIptablesChains: [], restoredIpForward: false, removedRoot: false, errors: [],
  };
  const p = sandboxPaths(root);
  const state = readState(root);
  const env = podmanEnv(p);
  const g = podmanGlobalArgs(p);
  const netnsToDelete = new Set<string>();

  if (fs.existsSync(p.containersConf)) {
    // 1. Containers (and pods): remember their netns, then force-remove.
    const ps = runSync('podman', [...g, 'ps', '-aq', '--no-trunc'], env);
    const ids = ps.stdout.split('\n').map((s) => s.trim()).filter(Boolean);
    if (!ps.ok) report.errors.push(`podman ps: ${ps.error}`);
    if (ids.length > 0) {
      const ins = runSync('podman', [...g, 'inspect', '--format', '{{.NetworkSettings.SandboxKey}}', ...ids], env);
      for (const key of ins.stdout.split('\n').map((s) => s.trim())) {
        if (key.startsWith(NETNS_DIR + '/')) netnsToDelete.add(path.basename(key));
      }
      runSync('podman', [...g, 'pod', 'rm', '-af', '-t', '0'], env);
      // A container whose conmon died shows as running until podman notices;
      // the first `rm -f` then fails with "container state improper: stopped"
      // after syncing the state, and a second one succeeds.
      let rm = runSync('podman', [...g, 'rm', '-af', '-t', '0'], env);
      for (let i = 0; i < 2 && !rm.ok; i++) rm = runSync('podman', [...g, 'rm', '-af', '-t', '0'], env);
      if (!rm.ok) report.errors.push(`podman rm -af: ${rm.error}`);
      const left = runSync('podman', [...g, 'ps', '-aq', '--no-trunc'], env).stdout.split('\n').filter(Boolean);
      report.removedContainers = ids.filter((id) => !left.includes(id));
    }
  }

  // 2. Network namespaces: those of our containers (above) plus, from the
  // before/after diff, podman-named ones no process uses that are either
  // attached to one of our bridges or appeared while no other sandbox lived.
  if (state && diffNetns) {
    const before = new Set(state.netnsBefore);
    const inUse = netnsInodesInUse();
    const attached = netnsAttachedTo(state.links);
    const othersAlive = otherLiveSandboxes(path.dirname(root), root).length > 0;
    for (const ns of listNetns()) {
      if (before.has(ns) || !/^(netns|cni)-/.test(ns)) continue;
      if (othersAlive && !attached.has(ns)) continue;
      try {
        const st = fs.statSync(path.join(NETNS_DIR, ns));
        if (!inUse.has(`${st.dev}:${st.ino}`)) netnsToDelete.add(ns);
      } catch {
        // vanished meanwhile
      }
    }
  }
  for (const ns of netnsToDelete) {
    if (!fs.existsSync(path.join(NETNS_DIR, ns))) continue;
    const r = runSync('ip', ['netns', 'delete', ns]);
    if (r.ok) report.deletedNetns.push(ns);
    else report.errors.push(`ip netns delete ${ns}: ${r.error}`);
  }

  if (state) {
    // 3. Links (bridges) this sandbox caused to exist.
    for (const l of state.links) {
      if (!linkExists(l)) continue;
      const r = runSync('ip', ['link', 'delete', l]);
      if (r.ok) report.deletedLinks.push(l);
      else report.errors.push(`ip link delete ${l}: ${r.error}`);
    }
    // 4. libcni result cache of our containers (IDs from the events log) and
    // default host-local lease dirs of our networks.
    const nets = new Set(state.networks);
    const ourIds = containerIdsFromEvents(p.eventsLog);
    for (const f of readdirOrEmpty(CNI_RESULTS_DIR)) {
      const net = state.networks.find((n) => f.startsWith(n + '-'));
      if (!net) continue;
      const file = path.join(CNI_RESULTS_DIR, f);
      try {
        const cached = JSON.parse(fs.readFileSync(file, 'utf8')) as { networkName?: string; containerId?: string };
        if (!cached.networkName || !nets.has(cached.networkName)) continue;
        if (!cached.containerId || !ourIds.has(cached.containerId)) continue;
        fs.rmSync(file, { force: true });
        report.removedCniCache.push(file);
      } catch (e) {
        report.errors.push(`CNI cache ${file}: ${errText(e)}`);
      }
    }
    for (const n of state.hostLocalDirs) {
      const d = path.join(CNI_HOST_LOCAL_DIR, n);
      if (fs.existsSync(d)) {
        fs.rmSync(d, { recursive: true, force: true });
        report.removedCniCache.push(d);
      }
    }
    const othersAlive = otherLiveSandboxes(path.dirname(root), root).length > 0;
    // 5. portmap's shared nat chains, if they appeared with this sandbox and nobody maps ports now.
    if (!othersAlive) {
      for (const [bin, existed] of Object.entries(state.portmapChainsBefore ?? {})) {
        if (existed === false) removePortmapChains(bin, report);
      }
    }
    // 6. ip_forward, unless another sandbox may rely on it.
    if (state.restoreIpForward && state.ipForwardBefore === '0' && readIpForward() === '1' && !othersAlive) {
      try {
        fs.writeFileSync(IP_FORWARD, '0');
        report.restoredIpForward = true;
      } catch (e) {
        report.errors.push(`restore ip_forward: ${errText(e)}`);
      }
    }
  }

  // 7. Mounts under the root (container shm, anything left by a crash), then the root.
  for (const mp of mountsUnder(root)) {
    const r = runSync('umount', [mp]);
    if (r.ok) report.unmounted.push(mp);
    else {
      const lazy = runSync('umount', ['-l', mp]);
      if (lazy.ok) report.unmounted.push(mp);
      else report.errors.push(`umount ${mp}: ${r.error}; umount -l: ${lazy.error}`);
    }
  }
  if (fs.existsSync(root)) {
    const left = mountsUnder(root);
    if (left.length > 0) {
      report.errors.push(`not removing ${root}: still mounted: ${left.join(', ')}`);
    } else {
      try {
        fs.rmSync(root, { recursive: true, force: true, maxRetries: 3 });
        report.removedRoot = true;
      } catch (e) {
        report.errors.push(`rm -rf ${root}: ${errText(e)}`);
      }
    }
  }
  return report;
}
