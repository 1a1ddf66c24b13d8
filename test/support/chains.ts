/**
 * The conflists the integration tests drive, built per sandbox (unique bridge names,
 * subnets and IPAM dirs), in bare form; `wrapConflist` makes the wrapped twin.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { wrapConflist } from '../../src/cli/conflist.ts';
import type { JsonObject } from '../../src/config/wrapper-entry.ts';
import type { Sandbox } from './sandbox.ts';

/** A /24 in 10.250.0.0/16 chosen from the sandbox id, so parallel sandboxes rarely collide. */
export function subnetFor(sb: Sandbox, salt = 0): string {
  return `10.250.${(parseInt(sb.id.slice(0, 4), 16) + salt) % 250}.0/24`;
}

export interface ChainSpec {
  readonly label: string;
  readonly conflist: JsonObject;
  /** Bridges the chain creates (the sandbox deletes them). */
  readonly links: readonly string[];
  /** Capability args the runtime passes on every call. */
  readonly capArgs?: Record<string, unknown>;
  /** Makes what the chain needs on the host (or in the netns standing in for it) first: a master link, a device. */
  readonly setup?: (hostNetns?: string) => Promise<void>;
}

/** bridge + host-local, portmap, bandwidth, tuning, firewall (a typical full node chain). */
export function fullBridgeChain(sb: Sandbox, ipamDir: string, version = '1.0.0'): ChainSpec {
  const bridge = sb.name('ctbr');
  return {
    label: `bridge+portmap+bandwidth+tuning+firewall (${version})`,
    links: [bridge],
    capArgs: {
      portMappings: [{ hostPort: 30000 + (parseInt(sb.id.slice(0, 3), 16) % 20000), containerPort: 80, protocol: 'tcp' }],
      bandwidth: { ingressRate: 8_000_000, ingressBurst: 16_000_000, egressRate: 8_000_000, egressBurst: 16_000_000 },
    },
    conflist: {
      cniVersion: version,
      name: sb.name('ctnet'),
      plugins: [
        { type: 'bridge', bridge, isGateway: true, ipMasq: false, ipam: { type: 'host-local', ranges: [[{ subnet: subnetFor(sb) }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: ipamDir } },
        { type: 'portmap', snat: true, capabilities: { portMappings: true } },
        { type: 'bandwidth', capabilities: { bandwidth: true } },
        { type: 'tuning', sysctl: { 'net.core.somaxconn': '512' } },
        { type: 'firewall' },
      ],
    },
  };
}

/** ptp + host-local, bandwidth. */
export function ptpChain(sb: Sandbox, ipamDir: string, version = '1.0.0'): ChainSpec {
  return {
    label: `ptp+host-local+bandwidth (${version})`,
    links: [],
    capArgs: { bandwidth: { ingressRate: 8_000_000, ingressBurst: 16_000_000, egressRate: 8_000_000, egressBurst: 16_000_000 } },
    conflist: {
      cniVersion: version,
      name: sb.name('ctptp'),
      plugins: [
        { type: 'ptp', ipMasq: false, ipam: { type: 'host-local', ranges: [[{ subnet: subnetFor(sb, 1) }]], dataDir: ipamDir } },
        { type: 'bandwidth', capabilities: { bandwidth: true } },
      ],
    },
  };
}

/** bridge, then a plugin that fails with a CNI error, then portmap (never reached). */
export function failingChain(sb: Sandbox, ipamDir: string, version = '1.0.0'): ChainSpec {
  const bridge = sb.name('ctbf');
  return {
    label: `bridge then a failing delegate mid-ADD (${version})`,
    links: [bridge],
    conflist: {
      cniVersion: version,
      name: sb.name('ctfail'),
      plugins: [
        { type: 'bridge', bridge, ipam: { type: 'host-local', ranges: [[{ subnet: subnetFor(sb, 2) }]], dataDir: ipamDir } },
        { type: 'fx-fail', fx: { mode: 'fail', code: 142, exit: 3, msg: 'fixture refuses', details: 'on purpose' } },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    },
  };
}

/** bridge + portmap at an older spec version (0.3.1 has no CHECK and no cached DEL result). */
export function olderChain(sb: Sandbox, ipamDir: string, version: '0.3.1' | '0.4.0'): ChainSpec {
  const bridge = sb.name(version === '0.3.1' ? 'ctb3' : 'ctb4');
  return {
    label: `bridge+portmap (${version})`,
    links: [bridge],
    capArgs: { portMappings: [{ hostPort: 40000 + (parseInt(sb.id.slice(0, 3), 16) % 20000), containerPort: 8080, protocol: 'tcp' }] },
    conflist: {
      cniVersion: version,
      name: sb.name(`ctv${version.replaceAll('.', '')}`),
      plugins: [
        { type: 'bridge', bridge, ipam: { type: 'host-local', subnet: subnetFor(sb, version === '0.3.1' ? 3 : 4), dataDir: ipamDir } },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    },
  };
}

/** loopback alone. */
export function loopbackChain(sb: Sandbox, version = '1.0.0'): ChainSpec {
  return { label: `loopback (${version})`, links: [], conflist: { cniVersion: version, name: sb.name('ctlo'), plugins: [{ type: 'loopback' }] } };
}

/** A veth pair, both ends up: a master for macvlan/ipvlan/vlan, or the device host-device moves. */
async function vethPair(name: string, peer: string, netns?: string): Promise<void> {
  const ip = (args: string[]): ReturnType<typeof execa> => netns ? execa('nsenter', [`--net=${netns}`, 'ip', ...args]) : execa('ip', args);
  await ip(['link', 'add', name, 'type', 'veth', 'peer', 'name', peer]);
  await ip(['link', 'set', name, 'up']);
  await ip(['link', 'set', peer, 'up']);
}

const hostLocal = (sb: Sandbox, ipamDir: string, salt: number): JsonObject => ({ type: 'host-local', ranges: [[{ subnet: subnetFor(sb, salt) }]], dataDir: ipamDir });

/** A link plugin (macvlan, ipvlan, vlan) over a veth master the test makes, with host-local. */
export function masterChain(sb: Sandbox, ipamDir: string, type: 'macvlan' | 'ipvlan' | 'vlan', version: string): ChainSpec {
  const master = sb.name(`ct${type.slice(0, 2)}m`);
  const peer = sb.name(`ct${type.slice(0, 2)}p`);
  const own: JsonObject = { macvlan: { mode: 'bridge' }, ipvlan: { mode: 'l2' }, vlan: { vlanId: 100 } }[type];
  return {
    label: `${type} over a veth master (${version})`,
    links: [master, peer],
    setup: (netns) => vethPair(master, peer, netns),
    conflist: { cniVersion: version, name: sb.name(`ct${type}`), plugins: [{ type, master, ...own, ipam: hostLocal(sb, ipamDir, 20 + ['macvlan', 'ipvlan', 'vlan'].indexOf(type)) }] },
  };
}

/** host-device moving one end of a veth pair the test makes into the container (and back on DEL). */
export function hostDeviceChain(sb: Sandbox, ipamDir: string, version: string): ChainSpec {
  const device = sb.name('cthdd');
  const peer = sb.name('cthdp');
  return {
    label: `host-device (${version})`,
    links: [device, peer],
    setup: (netns) => vethPair(device, peer, netns),
    conflist: { cniVersion: version, name: sb.name('cthd'), plugins: [{ type: 'host-device', device, ipam: hostLocal(sb, ipamDir, 23) }] },
  };
}

/** ptp, then a meta plugin working on its interface: sbr (source-based routing table) or vrf. */
export function ptpMetaChain(sb: Sandbox, ipamDir: string, meta: 'sbr' | 'vrf', version: string): ChainSpec {
  const own: JsonObject = meta === 'vrf' ? { vrfname: `vrf${sb.id.slice(0, 4)}` } : {};
  return {
    label: `ptp+${meta} (${version})`,
    links: [],
    conflist: {
      cniVersion: version, name: sb.name(`ct${meta}`),
      plugins: [{ type: 'ptp', ipMasq: false, ipam: { ...hostLocal(sb, ipamDir, meta === 'sbr' ? 24 : 25), routes: [{ dst: '0.0.0.0/0' }] } }, { type: meta, ...own }],
    },
  };
}

/**
 * Whether this kernel makes links of the type: CONFIG_IPVLAN, CONFIG_VLAN_8021Q and CONFIG_NET_VRF
 * are off in some VM kernels (this project's own CI machine among them), and the plugins then fail.
 */
export async function kernelMakes(sb: Sandbox, type: 'ipvlan' | 'vlan' | 'vrf'): Promise<boolean> {
  const [parent, peer, probe] = [sb.name('ctkp'), sb.name('ctkq'), sb.name(`ctk${type}`)];
  await vethPair(parent, peer);
  try {
    const how = { ipvlan: ['link', parent, 'type', 'ipvlan'], vlan: ['link', parent, 'type', 'vlan', 'id', '7'], vrf: ['type', 'vrf', 'table', '4242'] }[type];
    const made = await execa('ip', ['link', 'add', 'name', probe, ...how], { reject: false });
    await execa('ip', ['link', 'del', probe], { reject: false });
    return made.exitCode === 0;
  } finally {
    await execa('ip', ['link', 'del', parent], { reject: false });
  }
}

/** Writes the bare and the wrapped form of a conflist; returns both paths. */
export function writeConflists(sb: Sandbox, spec: ChainSpec, journalDir: string, tag = ''): { bare: string; wrapped: string } {
  const bare = join(sb.dir, `${spec.conflist.name as string}${tag}.bare.conflist`);
  const wrapped = join(sb.dir, `${spec.conflist.name as string}${tag}.wrapped.conflist`);
  writeFileSync(bare, JSON.stringify(spec.conflist));
  writeFileSync(wrapped, JSON.stringify(wrapConflist(spec.conflist, { journalDir })));
  return { bare, wrapped };
}
