/**
 * containerd killed and restarted while a pod's network is being set up (the kubelet's
 * RunPodSandbox in flight, the wrapped chain inside a slow delegate): what the kubelet gets,
 * what cni-trace records, and how the pod's network is torn down after all.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { wrapConflist } from '../../src/cli/conflist.ts';
import { InvocationIndex, type Invocation } from '../../src/journal/invocations.ts';
import { readJournal } from '../../src/journal/reader.ts';
import { subnetFor } from '../support/chains.ts';
import { Containerd, containerdAvailable } from '../support/containerd.ts';
import { criCall, type CriPod } from '../support/cri.ts';
import { DEBIAN_CNI, installCniTrace, installFixtures } from '../support/fixtures.ts';
import { Sandbox } from '../support/sandbox.ts';

const unavailable = containerdAvailable();
const sb = new Sandbox('crirs');
const journalDir = join(sb.dir, 'journal');

before(async () => {
  if (unavailable) return;
  installCniTrace(join(sb.dir, 'bin'));
  installFixtures(join(sb.dir, 'bin'), ['fx-slow']);
  await sb.keepHostNetwork();
});
after(() => sb.cleanup());

const journal = (): Invocation[] => {
  const index = new InvocationIndex();
  for (const rec of readJournal(journalDir)) index.add(rec);
  return index.list().filter((i) => i.command !== 'VERSION');
};

test('containerd SIGKILLed mid-ADD and restarted: the kubelet gets an error, the orphaned ADD completes and is journaled, the sandbox comes back not ready, and stopping it sends its DELs', { skip: unavailable ?? false, timeout: 420_000 }, async () => {
  const bridge = sb.name('ctrs');
  sb.ownLink(bridge);
  const conflist = wrapConflist({
    cniVersion: '1.0.0', name: sb.name('ctrsnet'),
    plugins: [
      { type: 'bridge', bridge, ipam: { type: 'host-local', ranges: [[{ subnet: subnetFor(sb, 7) }]], dataDir: join(sb.dir, 'ipam') } },
      { type: 'fx-slow', fx: { mode: 'sleep', ms: 3000 } },
    ],
  }, { journalDir });
  const cd = await Containerd.start({ dir: join(sb.dir, 'cd'), conflist, pluginDirs: [join(sb.dir, 'bin'), DEBIAN_CNI] });
  try {
    const pod: CriPod = { name: 'web-r', namespace: `ns-${sb.id}`, uid: `uid-${sb.id}-r` };
    const inFlight = criCall(cd.socket, 'run', { pod });
    // Wait until the wrapper is inside the slow delegate.
    for (let i = 0; i < 200 && !journal().some((inv) => inv.steps.some((s) => s.plugin === 'fx-slow')); i++) await sleep(50);
    await cd.restart();
    const refused = await inFlight;
    const listed = await criCall(cd.socket, 'list');
    // The orphaned wrapper finishes its slow delegate.
    for (let i = 0; i < 600 && !journal()[0]?.endNs; i++) await sleep(50);
    assert.equal(refused.ok, false);
    assert.equal(refused.code, 'Unavailable', 'the kubelet\'s RPC fails with the connection');
    // The wrapper outlives containerd: it finishes the chain; its answer has no reader.
    const [orphan] = journal();
    assert.deepEqual([orphan?.command, orphan?.status, orphan?.steps.map((s) => `${s.plugin}:${s.status}`)], ['ADD', 'ok', ['bridge:ok', 'host-local:ok', 'fx-slow:ok']]);
    // containerd 1.6 recovers the sandbox from its metadata, not ready, with its netns.
    assert.deepEqual(listed.ids, [orphan!.containerId]);
    const old = (await cd.status(orphan!.containerId)).status!;
    assert.deepEqual([old.state, old.ip, old.netns], ['SANDBOX_NOTREADY', '', orphan!.netns]);
    // The kubelet's next attempt gets the next address: the first is still the orphan's.
    const retry = await cd.run({ ...pod, attempt: 1 });
    assert.ok(retry.ok, retry.message);
    const net = subnetFor(sb, 7).replace(/0\/24$/, '');
    assert.equal((await cd.status(retry.id!)).status!.ip, `${net}3`);
    // The kubelet stops and removes the not-ready sandbox: its DELs, as for any pod.
    assert.ok((await cd.stop(orphan!.containerId)).ok);
    assert.ok((await cd.remove(orphan!.containerId)).ok);
    const dels = journal().filter((c) => c.containerId === orphan!.containerId && c.command === 'DEL');
    assert.deepEqual(dels.map((c) => [c.status, c.netns]), [['ok', orphan!.netns], ['ok', '']]);
  } finally {
    assert.deepEqual(await cd.down(), [], 'containerd\'s clean-up');
  }
});
