/**
 * A test's own corner of the host: unique names, a temp dir, network namespaces, links,
 * and a record of everything created, so `cleanup()` removes exactly that — also when the
 * test failed. It never touches interfaces or rules it did not create.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';

export class Sandbox {
  readonly id = randomBytes(3).toString('hex');
  readonly dir: string;
  private readonly netnses: string[] = [];
  private readonly links: string[] = [];
  private readonly undo: Array<() => Promise<void>> = [];

  constructor(label: string) {
    this.dir = mkdtempSync(join(tmpdir(), `cnitrace-${label}-`));
  }

  /** A unique name with this sandbox's id, at most 15 bytes (IFNAMSIZ-1) for links. */
  name(prefix: string): string {
    return `${prefix}${this.id}`.slice(0, 15);
  }

  /** Creates a network namespace named ct<prefix><id>; returns its path. */
  async netns(prefix: string): Promise<string> {
    const name = this.name(`ct${prefix}`);
    await execa('ip', ['netns', 'add', name]);
    this.netnses.push(name);
    await execa('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    return `/var/run/netns/${name}`;
  }

  /** Marks a link name as ours (e.g. the bridge a plugin creates) so cleanup deletes it. */
  ownLink(name: string): void {
    this.links.push(name);
  }

  /**
   * Puts the host's iptables rules and ip_forward back as they are now, at clean-up: what the
   * plugins' shared chains (portmap, firewall) and bridge's isGateway leave behind.
   */
  async keepHostNetwork(): Promise<void> {
    const restoreForward = await keepSysctl('net.ipv4.ip_forward');
    const baseline = await iptablesState();
    this.onCleanup(async () => {
      await restoreIptables(baseline);
      await restoreForward();
    });
  }

  /** Registers a clean-up step (run in reverse order, before netns and link removal). */
  onCleanup(fn: () => Promise<void>): void {
    this.undo.push(fn);
  }

  /** Removes everything this sandbox created; never throws. */
  async cleanup(): Promise<void> {
    for (const fn of this.undo.reverse()) await fn().catch(() => {});
    for (const ns of this.netnses) await execa('ip', ['netns', 'del', ns], { reject: false });
    for (const link of this.links) {
      const shown = await execa('ip', ['link', 'show', link], { reject: false });
      if (shown.exitCode === 0) await execa('ip', ['link', 'del', link], { reject: false });
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A command on the host, or in `netns` (a path) standing in for the host: a test that runs its
 * plugins in a netns of its own sees no other test's links and rules.
 */
function onHost(netns: string | undefined, cmd: string, args: string[], reject = true): ReturnType<typeof execa> {
  return netns ? execa('nsenter', [`--net=${netns}`, cmd, ...args], { reject }) : execa(cmd, args, { reject });
}

/** iptables-save for nat and filter, without counters and comments of the tool: comparable text. */
export async function iptablesState(netns?: string): Promise<string[]> {
  const tables = await Promise.all(['nat', 'filter', 'mangle'].map((t) => onHost(netns, 'iptables-save', ['-t', t])));
  return tables.flatMap((r) => String(r.stdout).split('\n'))
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.replace(/\[\d+:\d+\]/g, '[0:0]'));
}

/** Lines of `after` not in `before` (a multiset difference). */
export function addedLines(before: readonly string[], after: readonly string[]): string[] {
  const counts = new Map<string, number>();
  for (const l of before) counts.set(l, (counts.get(l) ?? 0) + 1);
  const out: string[] = [];
  for (const l of after) {
    const n = counts.get(l) ?? 0;
    if (n > 0) counts.set(l, n - 1);
    else out.push(l);
  }
  return out;
}

/** Runs a command inside a netns and returns stdout. */
export async function inNetns(netnsPath: string, cmd: string, args: string[]): Promise<string> {
  const r = await execa('nsenter', [`--net=${netnsPath}`, cmd, ...args]);
  return r.stdout;
}

/** Names of host links (or of the links in `netns`). */
export async function hostLinks(netns?: string): Promise<string[]> {
  const r = await onHost(netns, 'ip', ['-j', 'link', 'show']);
  return (JSON.parse(String(r.stdout)) as Array<{ ifname: string }>).map((l) => l.ifname);
}

/** Splits an iptables-save rule into argv (handles its double-quoted comments). */
export function ruleArgs(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  let has = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === '\\' && line[i + 1] === '"') { cur += '"'; i++; }
      else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') { quoted = true; has = true; }
    else if (c === ' ') { if (has || cur) out.push(cur); cur = ''; has = false; }
    else { cur += c; has = true; }
  }
  if (has || cur) out.push(cur);
  return out;
}

/**
 * Undoes iptables changes made since `before` (rules first, then chains), per table.
 * Used by clean-up to remove exactly what a test's plugins added (portmap's and firewall's
 * shared chains included, when they did not exist before the test).
 */
export async function restoreIptables(before: readonly string[], netns?: string): Promise<void> {
  const after = await iptablesState(netns);
  const added = addedLines(before, after);
  let table = '';
  const rules: Array<[string, string[]]> = [];
  const chains: Array<[string, string]> = [];
  // iptablesState lists tables in order; recover each line's table from the "*table" markers.
  for (const line of after) {
    if (line.startsWith('*')) table = line.slice(1);
    if (!added.includes(line)) continue;
    if (line.startsWith('-A ')) rules.push([table, ruleArgs(line.slice(3))]);
    else if (line.startsWith(':')) chains.push([table, line.slice(1).split(' ')[0]!]);
  }
  for (const [t, args] of rules.reverse()) await onHost(netns, 'iptables', ['-w', '-t', t, '-D', ...args], false);
  for (const [t, chain] of chains) {
    await onHost(netns, 'iptables', ['-w', '-t', t, '-F', chain], false);
    await onHost(netns, 'iptables', ['-w', '-t', t, '-X', chain], false);
  }
}

/** Reads a sysctl; returns a function that puts it back. */
export async function keepSysctl(key: string): Promise<() => Promise<void>> {
  const path = `/proc/sys/${key.replaceAll('.', '/')}`;
  const { readFileSync, writeFileSync } = await import('node:fs');
  const value = readFileSync(path, 'utf8');
  return async () => { writeFileSync(path, value); };
}
