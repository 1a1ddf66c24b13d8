/**
 * The kubelet's own path: kubelet → CRI → containerd → go-cni → libcni → the conflist. A
 * containerd of our own (test/support/containerd.ts) runs pods through the runtime.v1 calls the
 * kubelet makes (test/cri), once on the bare full chain and once on the same chain wrapped:
 * the pods get the same addresses and interfaces, portmap's rules are there while they run and
 * gone after, the pod that finds the range used up gets the same error, and the wrapped run's
 * journal holds what containerd sent.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { execa } from 'execa';
import { wrapConflist } from '../../src/cli/conflist.ts';
import type { JsonObject } from '../../src/config/wrapper-entry.ts';
import { InvocationIndex, type Invocation } from '../../src/journal/invocations.ts';
import { readJournal } from '../../src/journal/reader.ts';
import { fullBridgeChain, subnetFor } from '../support/chains.ts';
import { Containerd, containerdAvailable } from '../support/containerd.ts';
import type { CriPod } from '../support/cri.ts';
import { DEBIAN_CNI, installCniTrace } from '../support/fixtures.ts';
import { containerState, hostDelta, hostState, normalise } from '../support/observe.ts';
import { restoreIptables, Sandbox } from '../support/sandbox.ts';

const unavailable = containerdAvailable();
const sb = new Sandbox('cri');
const bin = join(sb.dir, 'bin');
const journalDir = join(sb.dir, 'journal');
const hostPort = (i: number): number => 30000 + (parseInt(sb.id.slice(0, 3), 16) % 20000) + i;

before(async () => {
  if (unavailable) return;
  installCniTrace(bin);
  await sb.keepHostNetwork();
});
after(() => sb.cleanup());

/** A pod as the kubelet describes it: metadata, a host port, the bandwidth annotations. */
function pod(i: number): CriPod {
  return {
    name: `web-${i}`, namespace: `ns-${sb.id}`, uid: `uid-${sb.id}-${i}`, hostname: `web-${i}`,
    portMappings: [{ protocol: 'TCP', containerPort: 80, hostPort: hostPort(i) }],
    annotations: { 'kubernetes.io/ingress-bandwidth': '8M', 'kubernetes.io/egress-bandwidth': '8M' },
  };
}

/** The full chain with two addresses to give, so the third pod finds the range used up. */
function chain(kind: 'bare' | 'wrapped'): JsonObject {
  const spec = fullBridgeChain(sb, join(sb.dir, `ipam-${kind}`));
  spec.links.forEach((l) => sb.ownLink(l));
  const net = subnetFor(sb).replace(/0\/24$/, '');
  const plugins = spec.conflist.plugins as JsonObject[];
  const bridge = { ...plugins[0]!, ipam: { ...(plugins[0]!.ipam as JsonObject), ranges: [[{ subnet: subnetFor(sb), rangeStart: `${net}2`, rangeEnd: `${net}3` }]] } };
  const list = { ...spec.conflist, plugins: [bridge, ...plugins.slice(1)] };
  return kind === 'bare' ? list : wrapConflist(list, { journalDir });
}

/** Sandbox ids in order of appearance, and the names plugins derive from them, made comparable. */
function comparable(value: unknown, ids: readonly string[]): unknown {
  let text = JSON.stringify(value);
  ids.forEach((id, i) => { text = text.replaceAll(id, `<sandbox-${i}>`); });
  text = text.replace(/CNI-(DN|SN|[0-9a-f]{2})-?[0-9a-f]{6,}/g, 'CNI-$1-<hash>').replace(/bwp[0-9a-f]+/g, 'bwp<hash>');
  return normalise(JSON.parse(text));
}

/** A host delta made comparable, each list sorted: chains named from sandbox ids sort apart. */
function hostComparable(delta: unknown, ids: readonly string[]): unknown {
  const d = comparable(delta, ids) as Record<string, string[]>;
  return Object.fromEntries(Object.entries(d).map(([k, v]) => [k, [...v].sort()]));
}

/** The kubelet's error text without the sandbox id and the plugin type libcni names. */
function kubeletText(message = ''): string {
  return message.replace(/[0-9a-f]{64}/g, '<sandbox>').replace(/plugin type="[^"]+"( name="[^"]*")? failed \(add\): /, '');
}

interface Observation {
  ids: string[];
  ips: string[];
  containers: unknown[];
  running: unknown;
  exhausted: { ok: boolean; code?: string; message?: string };
  stopped: unknown;
  log: string;
}

const seen: Partial<Record<'bare' | 'wrapped', Observation>> = {};

/** Two pods up, a third refused, both torn down as the kubelet does (stop, then remove). */
async function throughCri(kind: 'bare' | 'wrapped'): Promise<Observation> {
  const conflist = chain(kind);
  const before0 = await hostState();
  const cd = await Containerd.start({ dir: join(sb.dir, `cd-${kind}`), conflist, pluginDirs: [bin, DEBIAN_CNI] });
  try {
    const ids: string[] = [];
    const ips: string[] = [];
    const containers: unknown[] = [];
    for (const i of [0, 1]) {
      const run = await cd.run(pod(i));
      assert.ok(run.ok, `${kind} web-${i}: ${run.message}`);
      const st = (await cd.status(run.id!)).status!;
      assert.equal(st.state, 'SANDBOX_READY');
      ids.push(run.id!);
      ips.push(st.ip);
      containers.push(await containerState(st.netns));
    }
    const running = hostDelta(before0, await hostState());
    const exhausted = await cd.run(pod(2));
    for (const id of ids) {
      assert.ok((await cd.stop(id)).ok, `${kind} stop ${id}`);
      assert.ok((await cd.remove(id)).ok, `${kind} remove ${id}`);
    }
    const stopped = hostDelta(before0, await hostState());
    const obs: Observation = { ids, ips, containers, running, exhausted: { ok: exhausted.ok, code: exhausted.code, message: exhausted.message }, stopped, log: cd.log() };
    return obs;
  } finally {
    const errors = await cd.down();
    // Leave nothing for the other form's run: plugins' shared chains, the bridge.
    await restoreIptables(before0.iptables);
    await execa('ip', ['link', 'del', sb.name('ctbr')], { reject: false });
    assert.deepEqual(errors, [], `${kind}: containerd's clean-up`);
  }
}

describe('containerd\'s CRI on the full chain, bare and wrapped', { skip: unavailable ?? false }, () => {
  test('the same pod addresses, interfaces, host rules and clean-up, and the same refusal when the range is used up', { timeout: 420_000 }, async () => {
    const bare = seen.bare = await throughCri('bare');
    const wrapped = seen.wrapped = await throughCri('wrapped');
    const net = subnetFor(sb).replace(/0\/24$/, '');
    assert.deepEqual(bare.ips, [`${net}2`, `${net}3`], 'addresses from the range, in order');
    assert.deepEqual(wrapped.ips, bare.ips, 'the same pod IPs');
    assert.deepEqual(comparable(wrapped.containers, wrapped.ids), comparable(bare.containers, bare.ids), 'the same interfaces, routes and sysctls in the pods\' netns');
    assert.deepEqual(hostComparable(wrapped.running, wrapped.ids), hostComparable(bare.running, bare.ids), 'the same links, iptables rules and qdiscs on the host while the pods run');
    const dnat = (bare.running as { iptables: string[] }).iptables.filter((l) => l.includes(`--dport ${hostPort(0)}`) || l.includes(`--dport ${hostPort(1)}`));
    assert.ok(dnat.length >= 2, 'portmap\'s DNAT rules for both pods\' host ports while they run');
    assert.deepEqual(hostComparable(wrapped.stopped, wrapped.ids), hostComparable(bare.stopped, bare.ids), 'the same host after the pods are removed');
    for (const obs of [bare, wrapped]) {
      const left = (obs.stopped as { iptables: string[] }).iptables.filter((l) => /CNI-DN-|--dport 3\d{4}/.test(l));
      assert.deepEqual(left.filter((l) => l.startsWith('-A')), [], 'portmap\'s rules gone after removal');
      assert.deepEqual((obs.stopped as { links: string[] }).links.filter((l) => l.startsWith('veth')), [], 'the pods\' veths gone');
    }
    assert.equal(bare.exhausted.ok, false);
    assert.equal(wrapped.exhausted.code, bare.exhausted.code);
    assert.match(bare.exhausted.message!, /failed to setup network for sandbox "[0-9a-f]{64}": plugin type="bridge"( name="[^"]*")? failed \(add\): failed to allocate for range 0: no IP addresses available in range set/);
    assert.match(wrapped.exhausted.message!, /plugin type="cni-trace"( name="[^"]*")? failed \(add\): failed to allocate for range 0: no IP addresses available in range set/);
    assert.equal(kubeletText(wrapped.exhausted.message), kubeletText(bare.exhausted.message), 'the kubelet\'s error text, but for the plugin type libcni names');
  });

  test('the wrapped run\'s journal: per pod an ADD at RunPodSandbox, a DEL at StopPodSandbox and one more at RemovePodSandbox, with the CRI\'s identity and capabilities', () => {
    const wrapped = seen.wrapped;
    assert.ok(wrapped, 'the wrapped run happened');
    const index = new InvocationIndex();
    for (const rec of readJournal(journalDir)) index.add(rec);
    const invocations = index.list().filter((i) => i.command !== 'VERSION');
    const of = (i: number): Invocation[] => invocations.filter((inv) => inv.pod.name === `web-${i}`);
    const shape = (inv: Invocation): string[] => inv.steps.map((s) => `${'>'.repeat(s.depth)}${s.plugin}`);
    const chainAdd = ['bridge', '>host-local', 'portmap', 'bandwidth', 'tuning', 'firewall'];
    const chainDel = ['firewall', 'tuning', 'bandwidth', 'portmap', 'bridge', '>host-local'];
    const ids = [wrapped.ids[0]!, wrapped.ids[1]!, of(2)[0]?.containerId ?? ''];
    for (const i of [0, 1, 2]) {
      const calls = of(i);
      const netns = calls[0]!.netns;
      assert.match(netns, /\/io\.containerd\.grpc\.v1\.cri\/netns\/cni-[0-9a-f-]{36}$/, 'the netns containerd made');
      // RemovePodSandbox stops the sandbox again, and stopping tears the network down again, now
      // with the netns gone: libcni's "no netns" DEL. A refused ADD is undone at once, in the same RPC.
      assert.deepEqual(calls.map((c) => [c.command, c.status, c.netns === netns ? 'netns' : c.netns]),
        i < 2 ? [['ADD', 'ok', 'netns'], ['DEL', 'ok', 'netns'], ['DEL', 'ok', '']] : [['ADD', 'error', 'netns'], ['DEL', 'ok', 'netns']], `web-${i}`);
      for (const c of calls) {
        assert.deepEqual(c.pod, { namespace: `ns-${sb.id}`, name: `web-${i}`, uid: `uid-${sb.id}-${i}`, infraContainerId: ids[i] }, 'the CRI\'s namespace, name, uid');
        assert.match(c.containerId, /^[0-9a-f]{64}$/);
        assert.equal(c.containerId, ids[i], 'the sandbox id as CNI_CONTAINERID');
        // go-cni builds CNI_ARGS from a Go map: the same pairs, in any order.
        assert.deepEqual(c.env.CNI_ARGS?.split(';').sort(), [`IgnoreUnknown=1`, `K8S_POD_INFRA_CONTAINER_ID=${ids[i]}`, `K8S_POD_NAME=web-${i}`, `K8S_POD_NAMESPACE=ns-${sb.id}`, `K8S_POD_UID=uid-${sb.id}-${i}`]);
        // go-cni's structs have no json tags: the runtime's capability args in Go field case.
        assert.deepEqual((c.stdin as { runtimeConfig?: unknown }).runtimeConfig, {
          portMappings: [{ HostPort: hostPort(i), ContainerPort: 80, Protocol: 'tcp', HostIP: '' }],
          bandwidth: { IngressRate: 8_000_000, IngressBurst: 4294967295, EgressRate: 8_000_000, EgressBurst: 4294967295 },
        });
        for (const inv of [c]) {
          const [caller, ipam] = [inv.steps.find((s) => s.plugin === 'bridge')!, inv.steps.find((s) => s.plugin === 'host-local')!];
          assert.equal(ipam.parentSpanId, caller.spanId, 'host-local nested under bridge');
        }
      }
      if (i < 2) {
        assert.deepEqual(shape(calls[0]!), chainAdd);
        assert.deepEqual(shape(calls[1]!), chainDel);
        assert.deepEqual(shape(calls[2]!), chainDel);
        const portmap = calls[0]!.steps.find((s) => s.plugin === 'portmap')!;
        assert.deepEqual((portmap.stdin as { runtimeConfig?: unknown }).runtimeConfig, { portMappings: [{ HostPort: hostPort(i), ContainerPort: 80, Protocol: 'tcp', HostIP: '' }] }, 'portmap gets only its capability');
      }
    }
    const refused = of(2)[0]!;
    assert.deepEqual(shape(refused), ['bridge', '>host-local']);
    const ipam = refused.steps.find((s) => s.plugin === 'host-local');
    assert.equal(ipam?.status, 'error');
    assert.match(ipam?.error?.msg ?? '', /^failed to allocate for range 0: no IP addresses available in range set/, 'host-local\'s own message');
    assert.equal(invocations.length, 3 + 3 + 2, 'nothing else: no CHECK, STATUS or GC from containerd 1.6');
  });
});
