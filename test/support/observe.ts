/**
 * Observing what a CNI operation did to the host and to the container, in a form two runs
 * can be compared by: MAC addresses, veth names, netns paths and per-run directories are
 * normalised; everything else (addresses, routes, rules, qdiscs, IPAM files) is kept.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import type { DriverRun } from './driver.ts';
import { addedLines, hostLinks, iptablesState } from './sandbox.ts';

export interface HostState {
  readonly links: string[];
  readonly iptables: string[];
  readonly qdiscs: string[];
}

/** The host's links, rules and qdiscs, or those of `netns` where a test runs its plugins as on a node. */
export async function hostState(netns?: string): Promise<HostState> {
  const qd = netns ? await execa('nsenter', [`--net=${netns}`, 'tc', 'qdisc', 'show']) : await execa('tc', ['qdisc', 'show']);
  return { links: await hostLinks(netns), iptables: await iptablesState(netns), qdiscs: qd.stdout.split('\n').filter(Boolean) };
}

/** What appeared on the host between two states. */
export function hostDelta(before: HostState, after: HostState): HostState {
  return {
    links: after.links.filter((l) => !before.links.includes(l)).sort(),
    iptables: addedLines(before.iptables, after.iptables),
    qdiscs: addedLines(before.qdiscs, after.qdiscs),
  };
}

/** Interfaces with addresses, routes and the sysctl tuning sets, inside the container netns. */
export async function containerState(netns: string): Promise<unknown> {
  const ns = (args: string[]) => execa('nsenter', [`--net=${netns}`, ...args]);
  const addrs = JSON.parse((await ns(['ip', '-j', 'addr', 'show'])).stdout) as Array<{ ifname: string; mtu: number; operstate: string; addr_info: Array<{ family: string; local: string; prefixlen: number }> }>;
  const routes = JSON.parse((await ns(['ip', '-j', 'route', 'show'])).stdout) as Array<Record<string, unknown>>;
  const somaxconn = (await ns(['cat', '/proc/sys/net/core/somaxconn'])).stdout.trim();
  // Policy routing (sbr's rules and table, vrf's): the rules and every table but main and local.
  const rules = JSON.parse((await ns(['ip', '-j', 'rule', 'show'])).stdout) as Array<Record<string, unknown>>;
  const tables = (JSON.parse((await ns(['ip', '-j', 'route', 'show', 'table', 'all'])).stdout) as Array<Record<string, unknown>>)
    .filter((r) => r.table !== undefined && r.table !== 'main' && r.table !== 'local');
  return {
    interfaces: addrs.map((a) => ({ ifname: a.ifname, mtu: a.mtu, operstate: a.operstate, addrs: a.addr_info.map((i) => `${i.family} ${i.local}/${i.prefixlen}`) })),
    routes: routes.map((r) => ({ dst: r.dst, gateway: r.gateway, dev: r.dev, scope: r.scope })),
    rules: rules.map((r) => ({ priority: r.priority, src: r.src, srclen: r.srclen, table: r.table })),
    tables: tables.map((r) => ({ table: r.table, dst: r.dst, gateway: r.gateway, dev: r.dev })),
    somaxconn,
  };
}

/** host-local's files (reservations and last_reserved_ip) with their contents. */
export function ipamFiles(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(dir)) return out;
  const walk = (d: string, rel: string): void => {
    for (const name of readdirSync(d)) {
      const full = join(d, name);
      if (statSync(full).isDirectory()) walk(full, `${rel}${name}/`);
      else if (name !== 'lock') out[`${rel}${name}`] = readFileSync(full, 'utf8');
    }
  };
  walk(dir, '');
  return out;
}

/** Replaces what legitimately differs between two runs of the same operation. */
export function normalise(value: unknown): unknown {
  const text = JSON.stringify(value)
    .replace(/\b([0-9a-f]{2}:){5}[0-9a-f]{2}\b/g, '<mac>')
    // Go's log lines (sbr's, on stderr) carry their time and printed pointers.
    .replace(/\d{4}\/\d{2}\/\d{2} \d{2}:\d{2}:\d{2}/g, '<time>')
    .replace(/\b0x[0-9a-f]{8,}\b/g, '<pointer>')
    .replace(/veth[0-9a-f]{8}/g, '<veth>')
    .replace(/fe80::[0-9a-f:]+/g, '<link-local>')
    .replace(/\/(var\/)?run\/netns\/[A-Za-z0-9_-]+/g, '<netns>')
    .replace(/ipam-(bare|wrapped)/g, 'ipam-<run>');
  return JSON.parse(text);
}

/** A driver run as compared: libcni's outcome without timing, error text without libcni's prefix. */
export function comparableRun(run: DriverRun): unknown {
  const { durationNs: _ignored, ...rest } = run.outcome;
  if (rest.error) {
    rest.error = { ...rest.error, text: rest.error.text.replace(/^plugin type="[^"]+"( name="[^"]*")? failed \((add|delete)\): /, '') };
  }
  return rest;
}
