/**
 * dhcp IPAM with its daemon, for real: the current generation's `dhcp daemon` (its socket in
 * the test's dir) and Debian's dnsmasq as the DHCP server in a server netns, reached through a
 * veth pair whose host end is macvlan's master. ADD through cni-trace gets a lease from dnsmasq,
 * DEL releases it, as bare does; the journal shows dhcp under macvlan. Daemon, server, netns and
 * links go also on failure. macvlan, not bridge: v1.10's bridge deletes the container's link
 * before its IPAM DEL, so the daemon cannot send the release (it logs "failed to release DHCP
 * lease … cannot assign requested address"); macvlan releases first, as dhcp needs.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';
import { wrapConflist } from '../../src/cli/conflist.ts';
import { currentPlugins } from '../support/cni-plugins.ts';
import { runDriver, type DriverCall } from '../support/driver.ts';
import { installCniTrace } from '../support/fixtures.ts';
import { comparableRun, normalise } from '../support/observe.ts';
import { inNetns, Sandbox } from '../support/sandbox.ts';
import { assertTraceShape, exportedSpans, journalInvocations } from '../support/trace-shape.ts';

// Built (or found) before the sandbox exists: a failed build leaves nothing behind.
const gen = await currentPlugins();
const sb = new Sandbox('dhcp');
const bin = join(sb.dir, 'bin');
const run = join(sb.dir, 'run');
const journal = join(sb.dir, 'journal');
const octet = 100 + (parseInt(sb.id.slice(0, 2), 16) % 100);
const net = `10.251.${octet}`;
const leases = join(run, 'dnsmasq.leases');
const socket = join(run, 'dhcp.sock');

/** A long-running process of the test's, stopped (TERM, then KILL) at clean-up. */
function own(p: ResultPromise): ResultPromise {
  sb.onCleanup(async () => {
    p.kill('SIGTERM');
    const done = await Promise.race([p.then(() => true, () => true), sleep(3000).then(() => false)]);
    if (!done) p.kill('SIGKILL');
  });
  return p;
}

before(async () => {
  installCniTrace(bin);
  mkdirSync(run, { mode: 0o700 });
  // The DHCP server's netns, on the far end of the veth pair macvlan hangs off.
  const serverNs = await sb.netns('dsrv');
  const [hostEnd, serverEnd] = [sb.name('ctdhh'), sb.name('ctdhs')];
  sb.ownLink(hostEnd);
  await execa('ip', ['link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', serverEnd]);
  await execa('ip', ['link', 'set', hostEnd, 'up']);
  await execa('ip', ['link', 'set', serverEnd, 'netns', serverNs]);
  await inNetns(serverNs, 'ip', ['addr', 'add', `${net}.1/24`, 'dev', serverEnd]);
  await inNetns(serverNs, 'ip', ['link', 'set', serverEnd, 'up']);
  // dnsmasq as a DHCP server only (no DNS, no system config), its lease file the test's.
  const dnsmasq = own(execa('nsenter', [`--net=${serverNs}`, 'dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null', '--port=0',
    '--no-resolv', '--no-hosts', `--interface=${serverEnd}`, '--bind-interfaces', '--dhcp-authoritative', `--dhcp-range=${net}.50,${net}.99,255.255.255.0,1h`,
    `--dhcp-leasefile=${leases}`, '--pid-file=', `--log-facility=${join(run, 'dnsmasq.log')}`, '--log-dhcp'], { reject: false, cleanup: true, stdio: 'ignore' }));
  const daemon = own(execa(join(gen.dir, 'dhcp'), ['daemon', '-socketpath', socket, '-timeout', '5s'], { reject: false, cleanup: true, all: true }));
  for (let i = 0; i < 100 && !(existsSync(socket) && existsSync(leases)); i++) await sleep(50);
  assert.ok(existsSync(socket), `the dhcp daemon listens on ${socket}: ${(await Promise.race([daemon, sleep(10).then(() => null)]))?.all ?? 'running'}`);
  assert.ok(existsSync(leases), `dnsmasq started: ${(await Promise.race([dnsmasq, sleep(10).then(() => null)]))?.exitCode ?? 'running'}`);
});
after(() => sb.cleanup());

const conflist = {
  cniVersion: '1.1.0', name: sb.name('ctdhcp'),
  plugins: [{ type: 'macvlan', master: sb.name('ctdhh'), mode: 'bridge', ipam: { type: 'dhcp', daemonSocketPath: socket } }],
};
const files = { bare: join(sb.dir, 'dhcp.bare.conflist'), wrapped: join(sb.dir, 'dhcp.wrapped.conflist') };
writeFileSync(files.bare, JSON.stringify(conflist));
writeFileSync(files.wrapped, JSON.stringify(wrapConflist(conflist, { journalDir: journal })));

/** dnsmasq's current leases: address → client id. */
function leased(): Map<string, string> {
  const lines = existsSync(leases) ? readFileSync(leases, 'utf8').split('\n').filter(Boolean) : [];
  return new Map(lines.map((l) => l.split(' ')).map((f) => [f[2]!, f[4] ?? '']));
}

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !ok(); i++) await sleep(100);
  const log = join(run, 'dnsmasq.log');
  assert.ok(ok(), `${what}; dnsmasq's log:\n${existsSync(log) ? readFileSync(log, 'utf8').split('\n').slice(-15).join('\n') : '(none)'}`);
}

/** ADD (a lease), DEL (released); the outcomes with the leased address masked. */
async function lifecycle(kind: 'bare' | 'wrapped'): Promise<unknown> {
  const netns = await sb.netns(`dh${kind[0]}`);
  const call: DriverCall = { conflist: files[kind], id: `dhcp-${sb.id}`, netns, path: [bin, gen.dir], cacheDir: join(sb.dir, `cache-${kind}`), libcni: gen.libcni };
  const add = await runDriver('add', call);
  assert.ok(add.outcome.ok, `${kind} ADD: ${JSON.stringify(add.outcome.error)}`);
  const ip = ((add.outcome.result as { ips: Array<{ address: string }> }).ips[0]!.address).split('/')[0]!;
  assert.match(ip, new RegExp(`^${net.replaceAll('.', '\\.')}\\.\\d+$`), 'an address from dnsmasq\'s range');
  await until(`${kind}: dnsmasq holds the lease of ${ip}`, () => leased().has(ip));
  assert.match(await inNetns(netns, 'ip', ['-4', 'addr', 'show', 'eth0']), new RegExp(`inet ${ip.replaceAll('.', '\\.')}/24`));
  const del = await runDriver('del', call);
  assert.ok(del.outcome.ok, `${kind} DEL: ${JSON.stringify(del.outcome.error)}`);
  await until(`${kind}: DEL released the lease of ${ip}`, () => !leased().has(ip));
  return normalise(JSON.parse(JSON.stringify({ add: comparableRun(add), del: comparableRun(del) }).replaceAll(ip, '<leased>')));
}

test(`${gen.label} dhcp with its daemon and dnsmasq: ADD gets a lease and DEL releases it, wrapped as bare`, async () => {
  const bare = await lifecycle('bare');
  const wrapped = await lifecycle('wrapped');
  assert.deepEqual(wrapped, bare);
});

test('the journal shows dhcp under macvlan, and the agent exports it so', async () => {
  const invs = journalInvocations(journal);
  assert.deepEqual(invs.map((i) => `${i.command} ${i.status}`), ['ADD ok', 'DEL ok']);
  for (const inv of invs) assert.deepEqual(inv.steps.map((s) => `${'>'.repeat(s.depth)}${s.plugin}`), ['macvlan', '>dhcp']);
  assertTraceShape(invs, await exportedSpans(journal, join(sb.dir, 'agent-state')));
});
