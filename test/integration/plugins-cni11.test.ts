/**
 * CNI 1.1 for real: STATUS and GC issued by the upstream libcni (GetStatusNetworkList,
 * GCNetworkList; test/driver/otel) to a 1.1.0 conflist of the current plugins, bare and
 * wrapped. GC's valid list holds one of three attachments: libcni DELs the one it has cached
 * that is not valid (its host-local reservation goes), then sends GC to every plugin with
 * `cni.dev/valid-attachments`. cni-trace must forward both in chain order with that list, and
 * its journal, tail, show and the agent's spans must show them.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { execa } from 'execa';
import { CLI } from '../support/agent-process.ts';
import { fullBridgeChain, writeConflists } from '../support/chains.ts';
import { currentPlugins, DEBIAN_PLUGINS } from '../support/cni-plugins.ts';
import { runDriver, type DriverCall } from '../support/driver.ts';
import { installCniTrace } from '../support/fixtures.ts';
import { comparableRun, ipamFiles, normalise } from '../support/observe.ts';
import { Sandbox } from '../support/sandbox.ts';
import { assertTraceShape, exportedSpans, journalInvocations } from '../support/trace-shape.ts';

// Built (or found) before the sandbox exists: a failed build leaves nothing behind.
const gen = await currentPlugins();
const sb = new Sandbox('cni11');
const bin = join(sb.dir, 'bin');
const journal = join(sb.dir, 'journal');
const ids = { valid: `gc-${sb.id}-valid`, stale: `gc-${sb.id}-stale`, uncached: `gc-${sb.id}-uncached` };
const DELEGATES = ['bridge', 'portmap', 'bandwidth', 'tuning', 'firewall'];
/** The node the runtime and its plugins run on (as in transparency.test.ts): the real host is not touched. */
const node = await sb.netns('node');

before(() => {
  installCniTrace(bin);
});
after(() => sb.cleanup());

/** The containers whose addresses host-local holds (a reservation file is "<container id>\r\n<ifname>"). */
function held(ipamDir: string): string[] {
  return Object.entries(ipamFiles(ipamDir)).filter(([k]) => !k.includes('last_reserved_ip')).map(([, v]) => v.split(/\r?\n/)[0]!).sort();
}

/** Three ADDs, STATUS, GC keeping only the valid one; then the rest removed. */
async function lifecycle(kind: 'bare' | 'wrapped'): Promise<{ status: unknown; gc: unknown; heldAfterAdd: string[]; heldAfterGc: string[] }> {
  const ipamDir = join(sb.dir, `ipam-${kind}`);
  const spec = fullBridgeChain(sb, ipamDir, '1.1.0');
  const files = writeConflists(sb, spec, journal, `-${kind}`);
  const cacheDir = join(sb.dir, `cache-${kind}`);
  const call = (id: string, netns?: string): DriverCall => ({
    conflist: kind === 'bare' ? files.bare : files.wrapped, id, path: [bin, gen.dir], cacheDir, libcni: gen.libcni, hostNetns: node,
    args: `IgnoreUnknown=1;K8S_POD_NAMESPACE=ns-${sb.id};K8S_POD_NAME=${id}`, ...(netns ? { netns } : {}),
  });
  const nets: Record<string, string> = {};
  for (const [i, id] of Object.values(ids).entries()) {
    nets[id] = await sb.netns(`${kind[0]}g${i}`);
    const add = await runDriver('add', call(id, nets[id]));
    assert.ok(add.outcome.ok, `${kind} ADD ${id}: ${JSON.stringify(add.outcome.error)}`);
  }
  const heldAfterAdd = held(ipamDir);
  // A runtime that lost an attachment's cache entry: libcni cannot DEL it on GC.
  rmSync(join(cacheDir, 'results', `${spec.conflist.name as string}-${ids.uncached}-eth0`));
  const status = await runDriver('status', call(''));
  const gc = await runDriver('gc', { ...call(''), validAttachments: [{ containerID: ids.valid, ifname: 'eth0' }] });
  const heldAfterGc = held(ipamDir);
  for (const id of [ids.valid, ids.uncached]) await runDriver('del', call(id, nets[id]));
  await execa('nsenter', [`--net=${node}`, 'ip', 'link', 'del', spec.links[0]!], { reject: false });
  return normalise({ status: comparableRun(status), gc: comparableRun(gc), heldAfterAdd, heldAfterGc }) as never;
}

test(`${gen.label}: STATUS and GC through libcni give the bare outcome; GC removes exactly the stale attachment's reservation`, async () => {
  const bare = await lifecycle('bare');
  const wrapped = await lifecycle('wrapped');
  assert.deepEqual(wrapped, bare);
  assert.deepEqual([bare.status, bare.gc], [{ ok: true }, { ok: true }]);
  assert.deepEqual(bare.heldAfterAdd, Object.values(ids).sort());
  // The stale one is gone (libcni's DEL of its cached attachment); the uncached one stays:
  // v1.10's bridge does not pass GC on to its IPAM plugin (bridge.go: "FIXME GC").
  assert.deepEqual(bare.heldAfterGc, [ids.uncached, ids.valid].sort());
});

test('the journal holds STATUS and GC in chain order, GC with the runtime\'s valid attachments for every delegate', () => {
  const invs = journalInvocations(journal);
  const byCommand = (c: string): typeof invs => invs.filter((i) => i.command === c);
  assert.deepEqual(invs.map((i) => i.command).sort(), ['ADD', 'ADD', 'ADD', 'DEL', 'DEL', 'DEL', 'GC', 'STATUS']);
  const [status] = byCommand('STATUS');
  assert.equal(status!.status, 'ok');
  assert.deepEqual(status!.steps.map((s) => `${'>'.repeat(s.depth)}${s.plugin} ${s.status}`),
    ['bridge ok', '>host-local ok', 'portmap ok', 'bandwidth ok', 'tuning ok', 'firewall ok'], 'bridge asks its IPAM plugin');
  const [gc] = byCommand('GC');
  assert.equal(gc!.status, 'ok');
  assert.deepEqual(gc!.steps.map((s) => s.plugin), DELEGATES);
  for (const step of gc!.steps) {
    const stdin = step.stdin as Record<string, unknown>;
    assert.deepEqual(stdin['cni.dev/valid-attachments'], [{ containerID: ids.valid, ifname: 'eth0' }], `${step.plugin} got the valid list`);
    assert.deepEqual(stdin['cni.dev/attachments'], stdin['cni.dev/valid-attachments'], 'and its older name (containernetworking/cni#1101)');
    assert.equal(step.path, join(gen.dir, step.plugin));
  }
  const staleDel = byCommand('DEL').find((i) => i.containerId === ids.stale);
  assert.ok(staleDel && BigInt(staleDel.startNs!) < BigInt(gc!.startNs!), 'libcni DELs the stale attachment before its GC');
  assert.deepEqual(staleDel.steps.map((s) => s.plugin), [...DELEGATES].reverse().flatMap((p) => p === 'bridge' ? [p, 'host-local'] : [p]));
});

test('tail and show list STATUS and GC with their steps', async () => {
  const tail = await execa(process.execPath, [CLI, 'tail', '--journal', journal, '--json']);
  const lines = tail.stdout.trim().split('\n').map((l) => JSON.parse(l) as { command: string; traceId: string; status: string });
  const gc = lines.find((l) => l.command === 'GC');
  assert.ok(gc && lines.some((l) => l.command === 'STATUS' && l.status === 'ok'));
  const text = (await execa(process.execPath, [CLI, 'tail', '--journal', journal], { env: { NO_COLOR: '1' } })).stdout;
  assert.match(text, /\bGC\b/);
  assert.match(text, /\bSTATUS\b/);
  const show = (await execa(process.execPath, [CLI, 'show', gc.traceId, '--journal', journal], { env: { NO_COLOR: '1' } })).stdout;
  for (const plugin of DELEGATES) assert.match(show, new RegExp(`\\b${plugin}\\b`), `show names ${plugin}`);
  assert.match(show, /\bGC\b/);
});

test('the agent exports STATUS and GC as traces, a span per delegate', async () => {
  const invs = journalInvocations(journal);
  const spans = await exportedSpans(journal, join(sb.dir, 'agent-state'));
  assertTraceShape(invs, spans);
  const gc = spans.find((s) => s.name === 'CNI GC');
  assert.ok(gc);
  assert.deepEqual(spans.filter((s) => s.parentSpanId === gc.spanId).map((s) => s.name).sort(), DELEGATES.map((p) => `${p} GC`).sort());
  assert.ok(spans.some((s) => s.name === 'CNI STATUS'));
});

/**
 * Where the generations differ (decision 35): libcni 1.3.1 sends STATUS and GC to every plugin
 * of a 1.1.0 list whatever it speaks, and 1.1.1's skel fails them ("missing containerID", code
 * 3). cni-trace does the same with its delegates, so the wrapped list fails as the bare one does:
 * STATUS at the first plugin, GC after trying them all.
 */
test('rule: Debian 1.1.1 plugins under a 1.1.0 list — STATUS and GC fail wrapped exactly as bare (code 3), every delegate tried for GC', async () => {
  const spec = fullBridgeChain(sb, join(sb.dir, 'ipam-debian'), '1.1.0');
  const debianJournal = join(sb.dir, 'journal-debian');
  const files = writeConflists(sb, spec, debianJournal, '-debian');
  const call = (conflist: string): DriverCall => ({ conflist, id: '', path: [bin, DEBIAN_PLUGINS.dir], cacheDir: join(sb.dir, 'cache-debian'), libcni: 'upstream', hostNetns: node });
  for (const command of ['status', 'gc'] as const) {
    const bare = await runDriver(command, call(files.bare));
    const wrapped = await runDriver(command, call(files.wrapped));
    assert.deepEqual([bare.outcome.ok, bare.outcome.error?.code], [false, 3], `bare ${command}`);
    assert.deepEqual([wrapped.outcome.ok, wrapped.outcome.error?.code], [false, 3], `wrapped ${command}`);
    if (command === 'status') assert.equal(wrapped.outcome.error?.msg, bare.outcome.error?.msg, 'STATUS: the first plugin\'s error, as bare');
    else for (const p of DELEGATES) assert.match(wrapped.outcome.error?.msg ?? '', new RegExp(`failed to GC plugin ${p}: missing containerID`), `GC: ${p} tried and its error kept`);
  }
  const invs = journalInvocations(debianJournal);
  assert.deepEqual(invs.map((i) => `${i.command} ${i.status}`), ['STATUS error', 'GC error']);
  assert.deepEqual(invs[0]!.steps.map((s) => `${s.plugin} ${s.status}`), [`${DELEGATES[0]} error`], 'STATUS stops at the first failure');
  assert.deepEqual(invs[1]!.steps.map((s) => `${s.plugin} ${s.status}`), DELEGATES.map((p) => `${p} error`), 'GC goes on past failures');
});
