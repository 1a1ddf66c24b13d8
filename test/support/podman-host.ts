/**
 * What the podman harness reads of the host to know what it created: links, network
 * namespaces, portmap's nat chains, mounts, ip_forward (test/support/podman.ts says why).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ruleArgs } from './sandbox.ts';
import { runSync } from './podman-files.ts';
import { BUSYBOX, type CleanupReport, IP_FORWARD, NETNS_DIR } from './podman-types.ts';
/** Random lowercase hex string of `len` characters. */
export function randomHex(len: number): string {
  return randomBytes(Math.ceil(len / 2)).toString('hex').slice(0, len);
}

function which(cmd: string): string | null {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    if (!dir) continue;
    const p = path.join(dir, cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // keep looking
    }
  }
  return null;
}

export function errText(e: unknown): string {
  if (e && typeof e === 'object') {
    const o = e as { message?: string; stderr?: Buffer | string };
    const stderr = o.stderr ? String(o.stderr).trim() : '';
    return stderr ? `${o.message ?? ''}: ${stderr}` : String(o.message ?? e);
  }
  return String(e);
}

/**
 * Returns null when podman can be used for integration tests here, else a
 * human-readable reason (use it as the `skip` reason). Checks: Linux, root,
 * `podman`, `runc`, `conmon`, `ip`, `tar` on PATH / working, and a
 * statically linked /bin/busybox for the test image.
 */
export function podmanAvailable(): string | null {
  if (process.platform !== 'linux') return `podman tests need Linux (platform is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'podman tests need root (CNI networking, netns, bridges)';
  for (const cmd of ['podman', 'runc', 'conmon', 'ip', 'tar', 'umount']) {
    if (!which(cmd) && !fs.existsSync(`/usr/bin/${cmd}`) && !fs.existsSync(`/usr/libexec/podman/${cmd}`)) {
      return `${cmd} not found on PATH`;
    }
  }
  for (const [cmd, args] of [['podman', ['--version']], ['runc', ['--version']]] as const) {
    try {
      execFileSync(cmd, [...args], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
    } catch (e) {
      return `\`${cmd} ${args.join(' ')}\` failed: ${errText(e)}`;
    }
  }
  if (!fs.existsSync(BUSYBOX)) return `${BUSYBOX} missing (install busybox-static)`;
  try {
    execFileSync(BUSYBOX, ['true'], { stdio: 'ignore' });
  } catch (e) {
    return `${BUSYBOX} does not run: ${errText(e)}`;
  }
  return null;
}

function ipv4ToInt(a: string): number | null {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(a);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  if (parts.some((x) => x > 255)) return null;
  return (((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!) >>> 0;
}

function cidrRange(cidr: string): [number, number] | null {
  const [addr, lenStr] = cidr.split('/');
  const base = ipv4ToInt(addr ?? '');
  const len = lenStr === undefined ? 32 : Number(lenStr);
  if (base === null || !Number.isInteger(len) || len < 0 || len > 32) return null;
  const size = 2 ** (32 - len);
  const start = Math.floor(base / size) * size;
  return [start, start + size - 1];
}

/**
 * Picks `<prefix>.X.0/24` with X random in [min, max] that overlaps no
 * IPv4 route (any table) or address on the host. Returns the subnet and X.
 * Collisions with sandboxes created concurrently are unlikely but possible.
 */
export function pickFreeSubnet24(prefix = '10.203', min = 200, max = 250): { subnet: string; octet: number } {
  const used: Array<[number, number]> = [];
  const routes = execFileSync('ip', ['-4', 'route', 'show', 'table', 'all'], { encoding: 'utf8' });
  const addrs = execFileSync('ip', ['-4', '-o', 'addr', 'show'], { encoding: 'utf8' });
  const routeTypes = new Set(['unicast', 'local', 'broadcast', 'multicast', 'anycast', 'blackhole', 'unreachable', 'prohibit', 'throw', 'nat']);
  for (const line of routes.split('\n')) {
    const words = line.trim().split(/\s+/);
    const dst = routeTypes.has(words[0] ?? '') ? words[1] : words[0];
    const r = dst && dst !== 'default' ? cidrRange(dst) : null;
    if (r) used.push(r);
  }
  for (const m of addrs.matchAll(/inet (\d+\.\d+\.\d+\.\d+\/\d+)/g)) {
    const r = cidrRange(m[1]!);
    if (r) used.push(r);
  }
  const candidates: number[] = [];
  for (let x = min; x <= max; x++) {
    const r = cidrRange(`${prefix}.${x}.0/24`);
    if (r && !used.some(([a, b]) => a <= r[1] && r[0] <= b)) candidates.push(x);
  }
  if (candidates.length === 0) throw new Error(`no free ${prefix}.[${min}-${max}].0/24 subnet`);
  const octet = candidates[randomBytes(2).readUInt16BE(0) % candidates.length]!;
  return { subnet: `${prefix}.${octet}.0/24`, octet };
}

/** Collects `bridge` names of every object with type "bridge" anywhere in a conflist (default cni0). */
export function bridgeNames(conf: unknown, out: Set<string> = new Set()): Set<string> {
  if (Array.isArray(conf)) {
    for (const v of conf) bridgeNames(v, out);
  } else if (conf && typeof conf === 'object') {
    const o = conf as Record<string, unknown>;
    if (o.type === 'bridge') out.add(typeof o.bridge === 'string' && o.bridge ? o.bridge : 'cni0');
    for (const v of Object.values(o)) bridgeNames(v, out);
  }
  return out;
}

export function linkExists(name: string): boolean {
  return fs.existsSync(path.join('/sys/class/net', name));
}

export function readdirOrEmpty(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

export function listNetns(): string[] {
  return readdirOrEmpty(NETNS_DIR);
}

export function readIpForward(): string | null {
  try {
    return fs.readFileSync(IP_FORWARD, 'utf8').trim();
  } catch {
    return null;
  }
}

/** Names of /run/netns namespaces holding the peer of a veth enslaved to one of `bridges`. */
export function netnsAttachedTo(bridges: string[]): Set<string> {
  const out = new Set<string>();
  const present = bridges.filter(linkExists);
  if (present.length === 0) return out;
  const list = runSync('ip', ['-j', 'netns', 'list']);
  if (!list.ok || !list.stdout.trim()) return out;
  const byId = new Map<number, string>();
  for (const n of JSON.parse(list.stdout) as Array<{ name: string; id?: number }>) {
    if (n.id !== undefined) byId.set(n.id, n.name);
  }
  for (const br of present) {
    const links = runSync('ip', ['-j', 'link', 'show', 'master', br]);
    if (!links.ok || !links.stdout.trim()) continue;
    for (const l of JSON.parse(links.stdout) as Array<{ link_netnsid?: number }>) {
      const name = l.link_netnsid === undefined ? undefined : byId.get(l.link_netnsid);
      if (name) out.add(name);
    }
  }
  return out;
}

/** IDs of every container this sandbox's podman ever created (from its file events log). */
export function containerIdsFromEvents(eventsLog: string): Set<string> {
  const ids = new Set<string>();
  let text: string;
  try {
    text = fs.readFileSync(eventsLog, 'utf8');
  } catch {
    return ids;
  }
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const ev = JSON.parse(line) as { ID?: string; Type?: string };
      if (ev.Type === 'container' && ev.ID) ids.add(ev.ID);
    } catch {
      // partial line
    }
  }
  return ids;
}

/** Inodes of all network namespaces some process is currently in. */
export function netnsInodesInUse(): Set<string> {
  const inUse = new Set<string>();
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const st = fs.statSync(`/proc/${pid}/ns/net`);
      inUse.add(`${st.dev}:${st.ino}`);
    } catch {
      // process gone or not ours to see
    }
  }
  return inUse;
}

export const IPTABLES_BINS = ['iptables', 'ip6tables'];
/** Host-wide nat chains the portmap plugin creates on first use and never removes. */
export const PORTMAP_DNAT = 'CNI-HOSTPORT-DNAT';
const PORTMAP_CHAINS = [PORTMAP_DNAT, 'CNI-HOSTPORT-SETMARK', 'CNI-HOSTPORT-MASQ'];

/** `<bin> -t nat -S` lines, or null if the binary is missing/unusable. */
export function natRules(bin: string): string[] | null {
  const r = runSync(bin, ['-w', '5', '-t', 'nat', '-S'], undefined, 20_000);
  return r.ok ? r.stdout.split('\n').filter(Boolean) : null;
}

/**
 * Removes portmap's CNI-HOSTPORT-* nat chains and the jumps to them, but only
 * when CNI-HOSTPORT-DNAT is empty (no port mapping of anyone is active).
 */
export function removePortmapChains(bin: string, report: CleanupReport): void {
  const rules = natRules(bin);
  if (!rules || !rules.includes(`-N ${PORTMAP_DNAT}`)) return;
  if (rules.some((r) => r.startsWith(`-A ${PORTMAP_DNAT} `))) return; // still in use
  const ours = new Set(PORTMAP_CHAINS);
  for (const rule of rules) {
    const args = ruleArgs(rule);
    const j = args.indexOf('-j');
    if (args[0] !== '-A' || ours.has(args[1]!) || j < 0 || !ours.has(args[j + 1]!)) continue;
    const r = runSync(bin, ['-w', '5', '-t', 'nat', '-D', ...args.slice(1)]);
    if (!r.ok) report.errors.push(`${bin} -t nat -D ${args.slice(1).join(' ')}: ${r.error}`);
  }
  for (const c of PORTMAP_CHAINS) {
    if (!rules.includes(`-N ${c}`)) continue;
    const f = runSync(bin, ['-w', '5', '-t', 'nat', '-F', c]);
    const x = f.ok ? runSync(bin, ['-w', '5', '-t', 'nat', '-X', c]) : f;
    if (x.ok) report.removedIptablesChains.push(`${bin}:nat/${c}`);
    else report.errors.push(`${bin} -t nat -F/-X ${c}: ${x.error}`);
  }
}

/** Unescapes a mountinfo path field (`\040` etc.). */
function unescapeMountPath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Mount points at or under `root` (deepest first). */
export function mountsUnder(root: string): string[] {
  let info: string;
  try {
    info = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const line of info.split('\n')) {
    const mp = line.split(' ')[4];
    if (!mp) continue;
    const p = unescapeMountPath(mp);
    if (p === root || p.startsWith(root + '/')) out.push(p);
  }
  return [...new Set(out)].sort((a, b) => b.length - a.length);
}
