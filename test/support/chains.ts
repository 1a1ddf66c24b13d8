/**
 * The conflists the integration tests drive, built per sandbox (unique bridge names,
 * subnets and IPAM dirs), in bare form; `wrapConflist` makes the wrapped twin.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
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
export function ptpChain(sb: Sandbox, ipamDir: string): ChainSpec {
  return {
    label: 'ptp+host-local+bandwidth (1.0.0)',
    links: [],
    capArgs: { bandwidth: { ingressRate: 8_000_000, ingressBurst: 16_000_000, egressRate: 8_000_000, egressBurst: 16_000_000 } },
    conflist: {
      cniVersion: '1.0.0',
      name: sb.name('ctptp'),
      plugins: [
        { type: 'ptp', ipMasq: false, ipam: { type: 'host-local', ranges: [[{ subnet: subnetFor(sb, 1) }]], dataDir: ipamDir } },
        { type: 'bandwidth', capabilities: { bandwidth: true } },
      ],
    },
  };
}

/** bridge, then a plugin that fails with a CNI error, then portmap (never reached). */
export function failingChain(sb: Sandbox, ipamDir: string): ChainSpec {
  const bridge = sb.name('ctbf');
  return {
    label: 'bridge then a failing delegate mid-ADD (1.0.0)',
    links: [bridge],
    conflist: {
      cniVersion: '1.0.0',
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
export function loopbackChain(sb: Sandbox): ChainSpec {
  return { label: 'loopback (1.0.0)', links: [], conflist: { cniVersion: '1.0.0', name: sb.name('ctlo'), plugins: [{ type: 'loopback' }] } };
}

/** Writes the bare and the wrapped form of a conflist; returns both paths. */
export function writeConflists(sb: Sandbox, spec: ChainSpec, journalDir: string, tag = ''): { bare: string; wrapped: string } {
  const bare = join(sb.dir, `${spec.conflist.name as string}${tag}.bare.conflist`);
  const wrapped = join(sb.dir, `${spec.conflist.name as string}${tag}.wrapped.conflist`);
  writeFileSync(bare, JSON.stringify(spec.conflist));
  writeFileSync(wrapped, JSON.stringify(wrapConflist(spec.conflist, { journalDir })));
  return { bare, wrapped };
}
