/**
 * Transparency, proven differentially: the same ADD, CHECK and DEL through the bare and the
 * wrapped conflist, driven by libcni (test/driver) over the real plugins in real network
 * namespaces, give equal results, errors, exit codes and clean-up. Both runs use the same
 * container id, network name and bridge, one after the other, so even the iptables rules
 * (named from those) must match line for line. It runs over both plugin generations
 * (test/support/cni-plugins.ts): Debian's 1.1.1 under Debian's libcni, and the current release
 * under the upstream libcni with 1.0.0 and 1.1.0 conflists. The runtime and its plugins run in a
 * netns of the test's that stands for the node ("host" below): its links, rules and qdiscs are
 * this test's alone, whatever else runs on the machine, and the real host is never touched.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runDriver, type DriverCall } from '../support/driver.ts';
import { currentPlugins, DEBIAN_PLUGINS, type PluginGeneration } from '../support/cni-plugins.ts';
import { installCniTrace, installFixtures } from '../support/fixtures.ts';
import { failingChain, fullBridgeChain, hostDeviceChain, kernelMakes, loopbackChain, masterChain, olderChain, ptpChain, ptpMetaChain, writeConflists, type ChainSpec } from '../support/chains.ts';
import { comparableRun, containerState, hostDelta, hostState, ipamFiles, normalise } from '../support/observe.ts';
import { assertTraceShape, exportedSpans, journalInvocations } from '../support/trace-shape.ts';
import { restoreIptables, Sandbox } from '../support/sandbox.ts';
import { execa } from 'execa';

// Built (or found) before the sandbox exists: a failed build leaves nothing behind.
const current = await currentPlugins();
const sb = new Sandbox('transparency');
const bin = join(sb.dir, 'bin');
/** The node: everything the plugins make outside the container goes there, and goes with it. */
const node = await sb.netns('node');
let run = 0;

before(() => {
  installCniTrace(bin);
  installFixtures(bin, ['fx-fail']);
});
after(() => sb.cleanup());

interface Observation {
  add: unknown; addContainer: unknown; addHost: unknown; addIpam: unknown;
  check: unknown; del: unknown; delHost: unknown; delIpam: unknown; stderr: string[];
  /** The links the plugins make on the node (a bridge), not the test (masters). */
  pluginLinks: string[];
}

/** The wrapped chains by network name, for the journal's checks. */
const wrappedSpecs = new Map<string, ChainSpec>();

/** ADD, CHECK, DEL of one conflist form; leaves the host as it found it. */
async function observe(kind: 'bare' | 'wrapped', gen: PluginGeneration, make: (ipamDir: string) => ChainSpec): Promise<Observation> {
  const n = run++;
  const ipamDir = join(sb.dir, `ipam-${kind}-${n}`);
  const spec = make(ipamDir);
  if (kind === 'wrapped') wrappedSpecs.set(spec.conflist.name as string, spec);
  await spec.setup?.(node);
  const files = writeConflists(sb, spec, journalOf(gen), `-${kind}-${n}`);
  const netns = await sb.netns(`${kind[0]}${n}`);
  const id = `ctr-${sb.id}-${spec.label.length}`;
  const call: DriverCall = {
    conflist: kind === 'bare' ? files.bare : files.wrapped, netns, id,
    args: `IgnoreUnknown=1;K8S_POD_NAMESPACE=ns-${sb.id};K8S_POD_NAME=web-${n};K8S_POD_UID=uid-${sb.id};K8S_POD_INFRA_CONTAINER_ID=${id}`,
    ...(spec.capArgs ? { capArgs: spec.capArgs } : {}),
    path: [bin, gen.dir], cacheDir: join(sb.dir, `cache-${kind}-${n}`), libcni: gen.libcni, hostNetns: node,
  };
  const before0 = await hostState(node);
  const add = await runDriver('add', call);
  const addContainer = await containerState(netns);
  const addHost = hostDelta(before0, await hostState(node));
  const addIpam = ipamFiles(ipamDir);
  const check = await runDriver('check', call);
  const del = await runDriver('del', call);
  const delHost = hostDelta(before0, await hostState(node));
  const delIpam = ipamFiles(ipamDir);
  // Leave nothing for the other form's run: plugins' shared chains, the bridge, the netns.
  await restoreIptables(before0.iptables, node);
  for (const link of spec.links) await execa('nsenter', [`--net=${node}`, 'ip', 'link', 'del', link], { reject: false });
  await execa('ip', ['netns', 'del', netns.split('/').pop()!], { reject: false });
  return normalise({
    add: comparableRun(add), addContainer, addHost, addIpam,
    check: comparableRun(check), del: comparableRun(del), delHost, delIpam,
    stderr: [add.stderr, check.stderr, del.stderr], pluginLinks: spec.setup ? [] : [...spec.links],
  }) as Observation;
}

const journalOf = (gen: PluginGeneration): string => join(sb.dir, `journal-${gen.libcni}`);

/**
 * [label, conflist, whether ADD succeeds]: a plugin whose link type this kernel lacks fails, bare
 * and wrapped alike, and the label says so (no CONFIG_IPVLAN, CONFIG_VLAN_8021Q, CONFIG_NET_VRF).
 */
type Chains = Array<[string, (ipamDir: string) => ChainSpec, boolean?]>;
const kernel = { ipvlan: await kernelMakes(sb, 'ipvlan'), vlan: await kernelMakes(sb, 'vlan'), vrf: await kernelMakes(sb, 'vrf') };
const lacking = (type: keyof typeof kernel): string => kernel[type] ? '' : ` (this kernel makes no ${type} links: ADD fails, bare and wrapped alike)`;
/** The main plugins of the spec's list over masters the test makes, and the newer meta plugins. */
const mainPlugins = (version: string, metas: boolean): Chains => [
  [`macvlan, ${version}`, (d) => masterChain(sb, d, 'macvlan', version), true],
  [`ipvlan, ${version}${lacking('ipvlan')}`, (d) => masterChain(sb, d, 'ipvlan', version), kernel.ipvlan],
  [`vlan, ${version}${lacking('vlan')}`, (d) => masterChain(sb, d, 'vlan', version), kernel.vlan],
  [`host-device, ${version}`, (d) => hostDeviceChain(sb, d, version), true],
  ...(metas ? [
    [`ptp+sbr, ${version}`, (d) => ptpMetaChain(sb, d, 'sbr', version), true],
    [`ptp+vrf, ${version}${lacking('vrf')}`, (d) => ptpMetaChain(sb, d, 'vrf', version), kernel.vrf],
  ] satisfies Chains : []),
];
const CHAINS = new Map<PluginGeneration, Chains>([
  [DEBIAN_PLUGINS, [
    ['bridge+portmap+bandwidth+tuning+firewall', (d) => fullBridgeChain(sb, d)],
    ['ptp+host-local+bandwidth', (d) => ptpChain(sb, d)],
    ['a delegate failing mid-ADD', (d) => failingChain(sb, d)],
    ['a 0.3.1 conflist', (d) => olderChain(sb, d, '0.3.1')],
    ['a 0.4.0 conflist', (d) => olderChain(sb, d, '0.4.0')],
    ['loopback alone', () => loopbackChain(sb)],
    // The generations differ: 1.1.1 speaks up to 1.0.0, and refuses a list of today.
    ['a 1.1.0 conflist, which 1.1.1 refuses', (d) => fullBridgeChain(sb, d, '1.1.0'), false],
    ...mainPlugins('1.0.0', false),
  ]],
  [current, [
    ['bridge+portmap+bandwidth+tuning+firewall, 1.0.0', (d) => fullBridgeChain(sb, d, '1.0.0')],
    ['bridge+portmap+bandwidth+tuning+firewall, 1.1.0', (d) => fullBridgeChain(sb, d, '1.1.0')],
    ['ptp+host-local+bandwidth, 1.1.0', (d) => ptpChain(sb, d, '1.1.0')],
    ['a delegate failing mid-ADD', (d) => failingChain(sb, d)],
    ['a 0.4.0 conflist', (d) => olderChain(sb, d, '0.4.0')],
    ['loopback alone, 1.1.0', () => loopbackChain(sb, '1.1.0')],
    ...mainPlugins('1.1.0', true),
  ]],
]);

for (const [gen, chains] of CHAINS) {
  describe(`${gen.label} plugins: wrapped and bare conflists behave the same through libcni (${gen.libcni})`, () => {
    for (const [label, make, addOk] of chains) {
      test(`${label}: equal ADD/CHECK/DEL results, errors and clean-up`, async () => {
        const bare = await observe('bare', gen, make);
        const wrapped = await observe('wrapped', gen, make);
        if (addOk !== undefined) assert.equal((bare.add as { ok: boolean }).ok, addOk, `bare ADD ${addOk ? 'succeeds' : 'fails'}: ${JSON.stringify(bare.add)}`);
        // The plugins worked on the node netns: the bridge they made shows there.
        if ((bare.add as { ok: boolean }).ok) for (const link of bare.pluginLinks) assert.ok((bare.addHost as { links: string[] }).links.includes(link), `${link} on the node`);
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
}

for (const [gen, chains] of CHAINS) test(`${gen.label}: the wrapped runs were journaled: one invocation per call, one step per delegate and per nested call`, () => {
  const invocations = journalInvocations(journalOf(gen));
  // Every chain ran ADD, CHECK and DEL wrapped once, but libcni refuses CHECK on 0.3.1
  // itself, without calling any plugin.
  assert.equal(invocations.length, chains.length * 3 - chains.filter(([l]) => l.includes('0.3.1')).length);
  for (const inv of invocations) {
    assert.ok(inv.status === 'ok' || inv.status === 'error', `${inv.command} ended`);
    assert.match(inv.traceId, /^[0-9a-f]{32}$/);
    assert.ok(inv.pod.name?.startsWith('web-'), 'pod name from CNI_ARGS');
    assert.ok(inv.steps.length >= 1);
    for (const step of inv.steps) assert.ok(step.durationMs !== null && step.durationMs >= 0, `${step.plugin} has a duration`);
    // The generation under test ran, not the other one (fixtures come from the test's bin).
    for (const step of inv.steps) if (!step.plugin.startsWith('fx-')) assert.equal(step.path, join(gen.dir, step.plugin), `${step.plugin} from ${gen.label}`);
  }
  // Each call's delegates in the chain's order (DEL in reverse), an IPAM plugin under its caller.
  for (const inv of invocations.filter((i) => i.status === 'ok')) {
    const plugins = (wrappedSpecs.get(inv.network)!.conflist.plugins as Array<{ type: string; ipam?: { type: string } }>);
    const ordered = inv.command === 'DEL' ? [...plugins].reverse() : plugins;
    const top = inv.steps.filter((s) => s.depth === 0);
    assert.deepEqual(top.map((s) => s.plugin), ordered.map((p) => p.type), `${inv.network} ${inv.command}`);
    for (const [i, p] of ordered.entries()) {
      if (!p.ipam) continue;
      assert.ok(inv.steps.some((s) => s.depth === 1 && s.plugin === p.ipam!.type && s.parentSpanId === top[i]!.spanId), `${inv.network} ${inv.command}: ${p.ipam.type} under ${p.type}`);
    }
  }
  const failedAdd = invocations.find((i) => i.command === 'ADD' && i.error?.code === 142);
  assert.ok(failedAdd, 'the failing chain ADD is journaled as an error');
  assert.deepEqual(failedAdd.error, { code: 142, msg: 'fixture refuses', details: 'on purpose' });
  // Nested tracing is on by default: bridge's host-local call sits under bridge.
  assert.deepEqual(failedAdd.steps.map((s) => [s.plugin, s.depth, s.status]), [['bridge', 0, 'ok'], ['host-local', 1, 'ok'], ['fx-fail', 0, 'error']]);
  assert.equal(failedAdd.steps[1]!.parentSpanId, failedAdd.steps[0]!.spanId);
  const fullDel = invocations.find((i) => i.command === 'DEL' && i.steps.filter((s) => s.depth === 0).length === 5);
  assert.deepEqual(fullDel?.steps.map((s) => `${'>'.repeat(s.depth)}${s.plugin}`), ['firewall', 'tuning', 'bandwidth', 'portmap', 'bridge', '>host-local'], 'DEL runs in reverse');
});

for (const gen of CHAINS.keys()) test(`${gen.label}: the agent exports every wrapped call as its trace, a span per step under its caller`, async () => {
  const invocations = journalInvocations(journalOf(gen));
  assertTraceShape(invocations, await exportedSpans(journalOf(gen), join(sb.dir, `agent-state-${gen.libcni}`)));
});
