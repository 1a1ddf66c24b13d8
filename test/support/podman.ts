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
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ruleArgs } from './sandbox.ts';

/** Name under which the busybox image is imported into each sandbox. */
export const BUSYBOX_IMAGE = 'localhost/cnitrace-busybox:latest';

/** Directory name prefix of sandbox temp roots (under os.tmpdir()). */
export const SANDBOX_PREFIX = 'cnitrace-podman-';

const NETNS_DIR = '/run/netns';
const CNI_RESULTS_DIR = '/var/lib/cni/results';
const CNI_HOST_LOCAL_DIR = '/var/lib/cni/networks';
const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward';
const BUSYBOX = '/bin/busybox';
/** Network names podman accepts (containers/common libnetwork/types.NameRegex). */
const NETWORK_NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** Result of one podman invocation. `code` is -1 when podman died from a signal or could not start. */
export interface RunResult {
  code: number;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  durationMs: number;
}

/** Options for {@link PodmanSandbox.run}. */
export interface RunOptions {
  /** Kill podman (SIGKILL) after this many ms; default 120000. */
  timeoutMs?: number;
  /** Written to podman's stdin (stdin is closed either way). */
  input?: string;
  /** Extra environment variables for this invocation. */
  env?: Record<string, string>;
  /** Throw (with full output in the message) on a non-zero exit; default false. */
  check?: boolean;
}

/** Options for {@link PodmanSandbox.runContainer}. */
export interface RunContainerOptions extends RunOptions {
  /** Extra `podman run` arguments placed before the image, e.g. `['-p', '8080:80']`. */
  podmanArgs?: string[];
  /** Image to run; default {@link BUSYBOX_IMAGE}. */
  image?: string;
}

/** Paths inside a sandbox's temp root. */
export interface SandboxPaths {
  /** The temp root itself; everything below is removed by cleanup. */
  root: string;
  /** CNI network config dir (podman's network_config_dir). */
  netDir: string;
  /** containers.conf used via CONTAINERS_CONF. */
  containersConf: string;
  /** storage.conf used via CONTAINERS_STORAGE_CONF. */
  storageConf: string;
  /** Image/container storage (graphroot, `--root`). */
  graphRoot: string;
  /** Storage run state (`--runroot`). */
  runRoot: string;
  /** libpod tmp dir (`--tmpdir`): container state, exit files, file locks. */
  libpodTmp: string;
  /** TMPDIR for podman (image copy scratch space). */
  tmp: string;
  /** podman events log (events_logfile_path). */
  eventsLog: string;
  /** Free directory for the test's own files, e.g. host-local `dataDir`. */
  scratch: string;
}

/** Options for {@link createPodmanSandbox}. */
export interface PodmanSandboxOptions {
  /** CNI plugin dirs searched by podman (containers.conf `cni_plugin_dirs`), in order. */
  binDirs: string[];
  /**
   * The network config list written as `<netDir>/<name>.conflist`. Its network
   * name and bridge names must be unique among concurrently live sandboxes
   * (use a random suffix): cleanup deletes bridges and host-local lease dirs
   * by name. A function
   * receives the sandbox paths, so it can place e.g. host-local's `dataDir`
   * inside the temp root.
   */
  conflist: object | ((paths: SandboxPaths) => object);
  /** Import {@link BUSYBOX_IMAGE}; default true. */
  buildImage?: boolean;
  /** containers.conf `default_ulimits`; default `nofile=1024:1024`, `nproc=4096:4096` (see quirks in the doc comment of {@link createPodmanSandbox}). */
  ulimits?: string[];
  /** Further host links to delete on cleanup if they did not exist at creation. */
  trackLinks?: string[];
  /**
   * Restore net.ipv4.ip_forward to 0 on cleanup if it was 0 at creation and no
   * other live sandbox exists (see module doc). Default false: CNI users outside
   * this harness cannot be detected and might rely on forwarding.
   */
  restoreIpForward?: boolean;
  /** Parent dir of the temp root; default os.tmpdir(). */
  tmpParent?: string;
}

/** What {@link PodmanSandbox.cleanup} did. `errors` is empty when everything went well. */
export interface CleanupReport {
  removedContainers: string[];
  deletedNetns: string[];
  deletedLinks: string[];
  unmounted: string[];
  removedCniCache: string[];
  /** `iptables`/`ip6tables` nat chains of the portmap plugin that were removed. */
  removedIptablesChains: string[];
  restoredIpForward: boolean;
  removedRoot: boolean;
  errors: string[];
}

/** A podman instance confined to one temp root. Create with {@link createPodmanSandbox}. */
export interface PodmanSandbox {
  /** Sandbox paths (root, netDir, graphRoot, ...). */
  readonly paths: SandboxPaths;
  /** Name of the network from `opts.conflist`. */
  readonly networkName: string;
  /** Image tag usable with `run`, normally {@link BUSYBOX_IMAGE}. */
  readonly image: string;
  /** Environment passed to podman (process.env plus CONTAINERS_CONF, CONTAINERS_STORAGE_CONF, TMPDIR). */
  readonly env: NodeJS.ProcessEnv;
  /** Global flags put before every podman subcommand (`--root`, `--runroot`, `--storage-driver vfs`, ...). */
  readonly globalArgs: readonly string[];
  /** Runs `podman <globalArgs> <args>`. Never throws unless `opts.check` is set. */
  run(args: string[], opts?: RunOptions): Promise<RunResult>;
  /** Runs `podman run --rm --pull=never --network <networkName> [podmanArgs] <image> <cmd...>`. */
  runContainer(networkName: string, cmd: string[], opts?: RunContainerOptions): Promise<RunResult>;
  /** Writes another conflist into the sandbox's netDir; returns its network name. Its bridges are tracked for cleanup. */
  addConflist(conflist: object): string;
  /**
   * Removes the sandbox's containers, leftover netns / links / CNI cache files,
   * unmounts anything under the temp root and deletes it. Idempotent (later
   * calls return the first report) and never throws: check `report.errors`.
   */
  cleanup(): Promise<CleanupReport>;
}

/** Persisted in `<root>/sandbox.json`; lets cleanup (and the stale-sandbox reaper) know what is ours. */
interface SandboxState {
  pid: number;
  createdAt: string;
  networks: string[];
  /** Links that did not exist at creation and are deleted at cleanup if present. */
  links: string[];
  /** Names under /run/netns at creation. */
  netnsBefore: string[];
  /** host-local lease dirs (/var/lib/cni/networks/<net>) that did not exist at creation. */
  hostLocalDirs: string[];
  ipForwardBefore: string | null;
  restoreIpForward: boolean;
  /** Per binary (iptables, ip6tables): did portmap's CNI-HOSTPORT-DNAT chain exist at creation? null = binary unusable. */
  portmapChainsBefore: Record<string, boolean | null>;
}

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

function errText(e: unknown): string {
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
function bridgeNames(conf: unknown, out: Set<string> = new Set()): Set<string> {
  if (Array.isArray(conf)) {
    for (const v of conf) bridgeNames(v, out);
  } else if (conf && typeof conf === 'object') {
    const o = conf as Record<string, unknown>;
    if (o.type === 'bridge') out.add(typeof o.bridge === 'string' && o.bridge ? o.bridge : 'cni0');
    for (const v of Object.values(o)) bridgeNames(v, out);
  }
  return out;
}

function linkExists(name: string): boolean {
  return fs.existsSync(path.join('/sys/class/net', name));
}

function readdirOrEmpty(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

function listNetns(): string[] {
  return readdirOrEmpty(NETNS_DIR);
}

function readIpForward(): string | null {
  try {
    return fs.readFileSync(IP_FORWARD, 'utf8').trim();
  } catch {
    return null;
  }
}

/** Names of /run/netns namespaces holding the peer of a veth enslaved to one of `bridges`. */
function netnsAttachedTo(bridges: string[]): Set<string> {
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
function containerIdsFromEvents(eventsLog: string): Set<string> {
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
function netnsInodesInUse(): Set<string> {
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

const IPTABLES_BINS = ['iptables', 'ip6tables'];
/** Host-wide nat chains the portmap plugin creates on first use and never removes. */
const PORTMAP_DNAT = 'CNI-HOSTPORT-DNAT';
const PORTMAP_CHAINS = [PORTMAP_DNAT, 'CNI-HOSTPORT-SETMARK', 'CNI-HOSTPORT-MASQ'];

/** `<bin> -t nat -S` lines, or null if the binary is missing/unusable. */
function natRules(bin: string): string[] | null {
  const r = runSync(bin, ['-w', '5', '-t', 'nat', '-S'], undefined, 20_000);
  return r.ok ? r.stdout.split('\n').filter(Boolean) : null;
}

/**
 * Removes portmap's CNI-HOSTPORT-* nat chains and the jumps to them, but only
 * when CNI-HOSTPORT-DNAT is empty (no port mapping of anyone is active).
 */
function removePortmapChains(bin: string, report: CleanupReport): void {
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
function mountsUnder(root: string): string[] {
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

function tomlString(s: string): string {
  return JSON.stringify(s);
}

function tomlArray(xs: string[]): string {
  return `[${xs.map(tomlString).join(', ')}]`;
}

function sandboxPaths(root: string): SandboxPaths {
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

function podmanEnv(p: SandboxPaths): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // Never talk to a remote/system service.
  for (const k of ['CONTAINER_HOST', 'CONTAINER_CONNECTION', 'CONTAINER_SSHKEY', 'CONTAINERS_CONF_OVERRIDE', 'CONTAINERS_REGISTRIES_CONF']) delete env[k];
  env.CONTAINERS_CONF = p.containersConf; // propagated by podman to conmon and the cleanup exit command
  env.CONTAINERS_STORAGE_CONF = p.storageConf;
  env.TMPDIR = p.tmp;
  return env;
}

function podmanGlobalArgs(p: SandboxPaths): string[] {
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

function runCommand(file: string, args: string[], env: NodeJS.ProcessEnv, opts: RunOptions = {}): Promise<RunResult> {
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

function runSync(file: string, args: string[], env?: NodeJS.ProcessEnv, timeoutMs = 60_000): { ok: boolean; stdout: string; error: string } {
  try {
    const stdout = execFileSync(file, args, { env: env ?? process.env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    return { ok: true, stdout, error: '' };
  } catch (e) {
    const o = e as { stdout?: string };
    return { ok: false, stdout: String(o.stdout ?? ''), error: errText(e) };
  }
}

function writeState(p: SandboxPaths, state: SandboxState): void {
  fs.writeFileSync(path.join(p.root, 'sandbox.json'), JSON.stringify(state, null, 2));
}

function readState(root: string): SandboxState | null {
  try {
    return JSON.parse(fs.readFileSync(path.join(root, 'sandbox.json'), 'utf8')) as SandboxState;
  } catch {
    return null;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Temp roots of other sandboxes whose owning process is still alive. */
function otherLiveSandboxes(parent: string, self: string): string[] {
  const names = readdirOrEmpty(parent).filter((n) => n.startsWith(SANDBOX_PREFIX));
  return names
    .map((n) => path.join(parent, n))
    .filter((r) => r !== self)
    .filter((r) => {
      const s = readState(r);
      return s !== null && pidAlive(s.pid);
    });
}

function writeConflistFile(p: SandboxPaths, conflist: object): string {
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
function trackConflist(p: SandboxPaths, state: SandboxState, conflist: object, extraLinks: string[] = []): void {
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
async function importBusyboxImage(p: SandboxPaths, env: NodeJS.ProcessEnv, globalArgs: string[]): Promise<void> {
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

/**
 * Synchronous cleanup of one sandbox root, driven by its `sandbox.json`.
 * `diffNetns` also deletes unused namespaces that appeared since creation
 * (only safe while the creating process is the one cleaning up).
 */
function cleanupRoot(root: string, diffNetns: boolean): CleanupReport {
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
