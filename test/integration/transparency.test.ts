/**
 * Transparency, proven differentially: the same ADD, CHECK and DEL through the bare and the
 * wrapped conflist, driven by libcni (test/driver) over the real Debian plugins in real
 * network namespaces, give equal results, errors, exit codes and clean-up. Both runs use the
 * same container id, network name and bridge, one after the other, so even the iptables
 * rules (named from those) must match line for line.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readJournal } from '../../src/journal/reader.ts';
import { InvocationIndex } from '../../src/journal/invocations.ts';
import { runDriver, type DriverCall } from '../support/driver.ts';
import { DEBIAN_CNI, installCniTrace, installFixtures } from '../support/fixtures.ts';
import { failingChain, fullBridgeChain, loopbackChain, olderChain, ptpChain, writeConflists, type ChainSpec } from '../support/chains.ts';
import { comparableRun, containerState, hostDelta, hostState, ipamFiles, normalise } from '../support/observe.ts';
import { keepSysctl, restoreIptables, Sandbox } from '../support/sandbox.ts';
import { execa } from 'execa';

const sb = new Sandbox('transparency');
const bin = join(sb.dir, 'bin');
const journalDir = join(sb.dir, 'journal');
let run = 0;

before(async () => {
  installCniTrace(bin);
  installFixtures(bin, ['fx-fail']);
  const restoreForward = await keepSysctl('net.ipv4.ip_forward');
  const baseline = await hostState();
  sb.onCleanup(async () => {
    await restoreIptables(baseline.iptables);
    await restoreForward();
  });
});
after(() => sb.cleanup());

interface Observation {
  add: unknown; addContainer: unknown; addHost: unknown; addIpam: unknown;
  check: unknown; del: unknown; delHost: unknown; delIpam: unknown; stderr: string[];
}

/** ADD, CHECK, DEL of one conflist form; leaves the host as it found it. */
async function observe(kind: 'bare' | 'wrapped', make: (ipamDir: string) => ChainSpec): Promise<Observation> {
  const n = run++;
  const ipamDir = join(sb.dir, `ipam-${kind}-${n}`);
  const spec = make(ipamDir);
  spec.links.forEach((l) => sb.ownLink(l));
  const files = writeConflists(sb, spec, journalDir, `-${kind}-${n}`);
  const netns = await sb.netns(`${kind[0]}${n}`);
  const id = `ctr-${sb.id}-${spec.label.length}`;
  const call: DriverCall = {
    conflist: kind === 'bare' ? files.bare : files.wrapped, netns, id,
    args: `IgnoreUnknown=1;K8S_POD_NAMESPACE=ns-${sb.id};K8S_POD_NAME=web-${n};K8S_POD_UID=uid-${sb.id};K8S_POD_INFRA_CONTAINER_ID=${id}`,
    ...(spec.capArgs ? { capArgs: spec.capArgs } : {}),
    path: [bin, DEBIAN_CNI], cacheDir: join(sb.dir, `cache-${kind}-${n}`),
  };
  const before0 = await hostState();
  const add = await runDriver('add', call);
  const addContainer = await containerState(netns);
  const addHost = hostDelta(before0, await hostState());
  const addIpam = ipamFiles(ipamDir);
  const check = await runDriver('check', call);
  const del = await runDriver('del', call);
  const delHost = hostDelta(before0, await hostState());
  const delIpam = ipamFiles(ipamDir);
  // Leave nothing for the other form's run: plugins' shared chains, the bridge, the netns.
  await restoreIptables(before0.iptables);
  for (const link of spec.links) await execa('ip', ['link', 'del', link], { reject: false });
  await execa('ip', ['netns', 'del', netns.split('/').pop()!], { reject: false });
  return normalise({
    add: comparableRun(add), addContainer, addHost, addIpam,
    check: comparableRun(check), del: comparableRun(del), delHost, delIpam,
    stderr: [add.stderr, check.stderr, del.stderr],
  }) as Observation;
}

const CHAINS: Array<[string, (ipamDir: string) => ChainSpec]> = [
  ['bridge+portmap+bandwidth+tuning+firewall', (d) => fullBridgeChain(sb, d)],
  ['ptp+host-local+bandwidth', (d) => ptpChain(sb, d)],
  ['a delegate failing mid-ADD', (d) => failingChain(sb, d)],
  ['a 0.3.1 conflist', (d) => olderChain(sb, d, '0.3.1')],
  ['a 0.4.0 conflist', (d) => olderChain(sb, d, '0.4.0')],
  ['loopback alone', () => loopbackChain(sb)],
];

describe('wrapped and bare conflists behave the same through libcni', () => {
  for (const [label, make] of CHAINS) {
    test(`${label}: equal ADD/CHECK/DEL results, errors and clean-up`, async () => {
      const bare = await observe('bare', make);
      const wrapped = await observe('wrapped', make);
      assert.deepEqual(wrapped.add, bare.add, 'ADD outcome');
      assert.deepEqual(wrapped.addContainer, bare.addContainer, 'container after ADD');
      assert.deepEqual(wrapped.addHost, bare.addHost, 'host after ADD (links, iptables, qdiscs)');
      assert.deepEqual(wrapped.addIpam, bare.addIpam, 'IPAM files after ADD');
      assert.deepEqual(wrapped.check, bare.check, 'CHECK outcome');
      assert.deepEqual(wrapped.del, bare.del, 'DEL outcome');
      assert.deepEqual(wrapped.delHost, bare.delHost, 'host after DEL');
      assert.deepEqual(wrapped.delIpam, bare.delIpam, 'IPAM files after DEL');
      assert.deepEqual(wrapped.stderr, bare.stderr, 'stderr the runtime saw');
    });
  }
});

test('the wrapped runs were journaled: one invocation per call, one step per delegate and per nested call', () => {
  const index = new InvocationIndex();
  for (const rec of readJournal(journalDir)) index.add(rec);
  const invocations = index.list();
  // Every chain ran ADD, CHECK and DEL wrapped once, but libcni refuses CHECK on 0.3.1
  // itself, without calling any plugin.
  assert.equal(invocations.length, CHAINS.length * 3 - 1);
  for (const inv of invocations) {
    assert.ok(inv.status === 'ok' || inv.status === 'error', `${inv.command} ended`);
    assert.match(inv.traceId, /^[0-9a-f]{32}$/);
    assert.ok(inv.pod.name?.startsWith('web-'), 'pod name from CNI_ARGS');
    assert.ok(inv.steps.length >= 1);
    for (const step of inv.steps) assert.ok(step.durationMs !== null && step.durationMs >= 0, `${step.plugin} has a duration`);
  }
  const failedAdd = invocations.find((i) => i.command === 'ADD' && i.status === 'error');
  assert.ok(failedAdd, 'the failing chain ADD is journaled as an error');
  assert.deepEqual(failedAdd.error, { code: 142, msg: 'fixture refuses', details: 'on purpose' });
  // Nested tracing is on by default: bridge's host-local call sits under bridge.
  assert.deepEqual(failedAdd.steps.map((s) => [s.plugin, s.depth, s.status]), [['bridge', 0, 'ok'], ['host-local', 1, 'ok'], ['fx-fail', 0, 'error']]);
  assert.equal(failedAdd.steps[1]!.parentSpanId, failedAdd.steps[0]!.spanId);
  const fullDel = invocations.find((i) => i.command === 'DEL' && i.steps.filter((s) => s.depth === 0).length === 5);
  assert.deepEqual(fullDel?.steps.map((s) => `${'>'.repeat(s.depth)}${s.plugin}`), ['firewall', 'tuning', 'bandwidth', 'portmap', 'bridge', '>host-local'], 'DEL runs in reverse');
});
