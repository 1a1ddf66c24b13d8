/**
 * podman (CNI backend, runc) running a real container on a wrapped network, beside the same
 * network unwrapped: both give the container its address and route, and the wrapped one's
 * journal holds podman's ADD and DEL for that container with one step per delegate.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { wrapConflist } from '../../src/cli/conflist.ts';
import type { JsonObject } from '../../src/config/wrapper-entry.ts';
import { InvocationIndex } from '../../src/journal/invocations.ts';
import { readJournal } from '../../src/journal/reader.ts';
import { DEBIAN_CNI, installCniTrace } from '../support/fixtures.ts';
import { Sandbox } from '../support/sandbox.ts';
import { createPodmanSandbox } from '../support/podman.ts';
import { pickFreeSubnet24, podmanAvailable, randomHex } from '../support/podman-host.ts';

const unavailable = podmanAvailable();

test('a podman container on a wrapped network gets the same network as on the bare one, and is journaled', { skip: unavailable ?? false, timeout: 180_000 }, async (t) => {
  const suffix = randomHex(4);
  const nets = {
    bare: { name: `cnitrace-bare-${suffix}`, bridge: `ctpb${suffix}`, ...pickFreeSubnet24('10.203', 200, 224) },
    wrapped: { name: `cnitrace-wrap-${suffix}`, bridge: `ctpw${suffix}`, ...pickFreeSubnet24('10.203', 225, 250) },
  };
  const list = (n: typeof nets.bare, ipamDir: string): JsonObject => ({
    cniVersion: '1.0.0', name: n.name,
    plugins: [
      { type: 'bridge', bridge: n.bridge, isGateway: true, ipMasq: false, ipam: { type: 'host-local', ranges: [[{ subnet: n.subnet }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: ipamDir } },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  });
  const own = new Sandbox('podman');
  const bin = join(own.dir, 'bin');
  installCniTrace(bin);
  const journalDir = join(own.dir, 'journal');
  const sandbox = await createPodmanSandbox({
    binDirs: [bin, DEBIAN_CNI],
    conflist: (p) => list(nets.bare, join(p.scratch, 'ipam-bare')),
    trackLinks: [nets.wrapped.bridge],
  });
  try {
    sandbox.addConflist(wrapConflist(list(nets.wrapped, join(sandbox.paths.scratch, 'ipam-wrapped')), { journalDir }));
    const seen: Record<string, string> = {};
    for (const [kind, n] of Object.entries(nets)) {
      const r = await sandbox.runContainer(n.name, ['sh', '-c', 'ip -4 addr show eth0; ip -4 route']);
      t.diagnostic(`${kind}: podman run --rm took ${r.durationMs} ms`);
      assert.equal(r.code, 0, `${kind}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`inet 10\\.203\\.${n.octet}\\.2/24`), `${kind} address`);
      assert.match(r.stdout, new RegExp(`default via 10\\.203\\.${n.octet}\\.1 dev eth0`), `${kind} default route`);
      seen[kind] = r.stdout.replaceAll(`10.203.${n.octet}.`, '10.203.X.').replace(/link\/ether \S+/, '').replace(/@if\d+/, '').replace(/^\d+: /m, '').replace(/valid_lft.*$/gm, '');
    }
    assert.equal(seen.wrapped, seen.bare, 'same interface and routes');

    const index = new InvocationIndex();
    for (const r of readJournal(journalDir)) index.add(r);
    const invocations = index.list().filter((i) => i.command !== 'VERSION');
    assert.deepEqual(invocations.map((i) => [i.command, i.status, i.network]), [['ADD', 'ok', nets.wrapped.name], ['DEL', 'ok', nets.wrapped.name]]);
    const [add, del] = invocations as [typeof invocations[0] & object, typeof invocations[0] & object];
    assert.match(add.containerId, /^[0-9a-f]{64}$/, 'podman\'s container id');
    assert.equal(del.containerId, add.containerId);
    // Nested tracing (on by default) shows the IPAM call under bridge, in podman's trace.
    assert.deepEqual(add.steps.map((s) => [s.plugin, s.depth, s.status]), [['bridge', 0, 'ok'], ['host-local', 1, 'ok'], ['portmap', 0, 'ok']]);
    assert.deepEqual(del.steps.map((s) => `${'>'.repeat(s.depth)}${s.plugin}`), ['portmap', 'bridge', '>host-local']);
    for (const inv of [add, del]) {
      const [caller, ipam] = [inv.steps.find((s) => s.plugin === 'bridge')!, inv.steps.find((s) => s.plugin === 'host-local')!];
      assert.equal(ipam.parentSpanId, caller.spanId);
      assert.equal(ipam.env?.CNI_COMMAND, inv.command);
      assert.ok(BigInt(ipam.startNs!) >= BigInt(caller.startNs!) && BigInt(ipam.endNs!) <= BigInt(caller.endNs!), 'bridge\'s span covers host-local\'s');
    }
  } finally {
    const report = await sandbox.cleanup();
    await own.cleanup();
    assert.deepEqual(report.errors, []);
  }
  for (const n of Object.values(nets)) assert.equal(existsSync(`/sys/class/net/${n.bridge}`), false, `${n.bridge} removed`);
});
