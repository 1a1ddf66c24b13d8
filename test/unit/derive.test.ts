import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { deriveDelegateConfig, unionCapabilities, type DeriveInput } from '../../src/config/derive.ts';
import type { Delegate, Json, JsonObject } from '../../src/config/wrapper-entry.ts';

const VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];

const calico = JSON.parse(readFileSync(new URL('../../test/fixtures/conflists/10-calico.conflist', import.meta.url), 'utf8')) as JsonObject;
const calicoPlugins = calico.plugins as Delegate[];

function plugin(type: string): Delegate {
  const found = calicoPlugins.find((p) => p.type === type);
  assert.ok(found, `fixture has ${type}`);
  return found;
}

/** A runtimeConfig as containerd sends it for a pod with a host port and bandwidth limits. */
const RUNTIME_CONFIG: JsonObject = {
  portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }],
  bandwidth: { ingressRate: 1000000, ingressBurst: 2000000, egressRate: 1000000, egressBurst: 2000000 },
  ips: ['10.22.0.5/24'],
};

function result(ver: string, ip: string): Json {
  return { cniVersion: ver, interfaces: [{ name: 'eth0' }], ips: [{ address: ip, interface: 0 }], dns: {} };
}

/** What each command gives a delegate (docs/architecture.md, "Where each CNI rule lives"): prevResult and injected keys. */
function commandCases(ver: string): Array<{ command: string; prevResult?: Json; inject?: JsonObject }> {
  return [
    { command: 'ADD (first delegate)' },
    { command: 'ADD (later delegate)', prevResult: result(ver, '10.22.0.5/24') },
    { command: 'CHECK', prevResult: result(ver, '10.22.0.6/24') },
    { command: 'DEL', prevResult: result(ver, '10.22.0.7/24') },
    { command: 'STATUS' },
    { command: 'GC', inject: { 'cni.dev/valid-attachments': [{ containerID: 'c1', ifname: 'eth0' }] } },
  ];
}

function derive(delegate: Delegate, ver: string, extra: Partial<DeriveInput> = {}): JsonObject {
  const before = structuredClone(delegate);
  const out = deriveDelegateConfig({ delegate, name: 'k8s-pod-network', cniVersion: ver, runtimeConfig: RUNTIME_CONFIG, ...extra });
  assert.deepEqual(delegate, before, 'the delegate is not mutated');
  return out;
}

for (const ver of VERSIONS) {
  for (const { command, prevResult, inject } of commandCases(ver)) {
    const extra: Partial<DeriveInput> = { ...(prevResult !== undefined ? { prevResult } : {}), ...(inject ? { inject } : {}) };
    const injected: JsonObject = { ...(prevResult !== undefined ? { prevResult } : {}), ...inject };

    test(`[${ver}] ${command}: calico gets the list's name and version, its own keys unaltered, no runtimeConfig`, () => {
      const original = plugin('calico');
      const out = derive(original, ver, extra);
      assert.equal('runtimeConfig' in out, false);
      assert.equal('capabilities' in out, false);
      assert.equal('prevResult' in out, prevResult !== undefined);
      assert.deepEqual(out.ipam, { type: 'calico-ipam', assign_ipv4: 'true', assign_ipv6: 'false' });
      assert.deepEqual(out, { ...original, name: 'k8s-pod-network', cniVersion: ver, ...injected });
    });

    test(`[${ver}] ${command}: bandwidth gets only the bandwidth runtime data and no capabilities key`, () => {
      const out = derive(plugin('bandwidth'), ver, extra);
      assert.deepEqual(out, {
        type: 'bandwidth',
        name: 'k8s-pod-network',
        cniVersion: ver,
        ...injected,
        runtimeConfig: { bandwidth: RUNTIME_CONFIG.bandwidth! },
      });
    });

    test(`[${ver}] ${command}: portmap gets only the portMappings runtime data and keeps snat`, () => {
      const out = derive(plugin('portmap'), ver, extra);
      assert.deepEqual(out, {
        type: 'portmap',
        snat: true,
        name: 'k8s-pod-network',
        cniVersion: ver,
        ...injected,
        runtimeConfig: { portMappings: RUNTIME_CONFIG.portMappings! },
      });
    });
  }

  test(`[${ver}] the list's name and cniVersion override a delegate's own`, () => {
    const out = derive({ type: 'bridge', name: 'other', cniVersion: '0.2.0', bridge: 'cni0' }, ver);
    assert.equal(out.name, 'k8s-pod-network');
    assert.equal(out.cniVersion, ver);
    assert.equal(out.bridge, 'cni0');
  });

  test(`[${ver}] a capability set to false gets no runtime data`, () => {
    const out = derive({ type: 'portmap', capabilities: { portMappings: false, bandwidth: true } }, ver);
    assert.deepEqual(out.runtimeConfig, { bandwidth: RUNTIME_CONFIG.bandwidth! });
  });

  test(`[${ver}] a capability with no runtime data gets nothing (and no empty runtimeConfig)`, () => {
    const out = derive({ type: 'tuning', capabilities: { mac: true, infinibandGUID: true } }, ver);
    assert.equal('runtimeConfig' in out, false);
    const some = derive({ type: 'tuning', capabilities: { mac: true, ips: true } }, ver);
    assert.deepEqual(some.runtimeConfig, { ips: ['10.22.0.5/24'] });
  });

  test(`[${ver}] a delegate's own literal runtimeConfig is kept when no capability data applies`, () => {
    const literal = { mac: '02:00:00:00:00:01' };
    assert.deepEqual(derive({ type: 'tuning', runtimeConfig: literal }, ver).runtimeConfig, literal);
    assert.deepEqual(derive({ type: 'tuning', capabilities: { mac: true }, runtimeConfig: literal }, ver).runtimeConfig, literal);
    assert.deepEqual(derive({ type: 'tuning', capabilities: { portMappings: false }, runtimeConfig: literal }, ver).runtimeConfig, literal);
  });

  test(`[${ver}] a delegate's own literal runtimeConfig is replaced when capability data applies`, () => {
    const out = derive({ type: 'portmap', capabilities: { portMappings: true }, runtimeConfig: { mac: 'x', portMappings: [] } }, ver);
    assert.deepEqual(out.runtimeConfig, { portMappings: RUNTIME_CONFIG.portMappings! });
  });

  test(`[${ver}] prevResult is injected only when defined, and replaces a literal one`, () => {
    const withLiteral: Delegate = { type: 'x', prevResult: { literal: true } };
    assert.deepEqual(derive(withLiteral, ver).prevResult, { literal: true });
    assert.equal('prevResult' in derive({ type: 'x' }, ver, { prevResult: undefined }), false);
    assert.deepEqual(derive(withLiteral, ver, { prevResult: result(ver, '10.0.0.1/8') }).prevResult, result(ver, '10.0.0.1/8'));
    // null is a defined JSON value and is passed on.
    assert.equal(derive({ type: 'x' }, ver, { prevResult: null }).prevResult, null);
  });

  test(`[${ver}] inject keys are added and other keys pass through unaltered`, () => {
    const delegate: Delegate = {
      type: 'host-device',
      device: 'eth1',
      ipam: { type: 'static', addresses: [{ address: '10.10.0.1/24' }], routes: [{ dst: '0.0.0.0/0' }] },
      dns: { nameservers: ['10.0.0.10'] },
      args: { cni: { labels: [{ key: 'a', value: 'b' }] } },
      n: 0,
      f: false,
      z: null,
    };
    const out = derive(delegate, ver, { inject: { 'cni.dev/valid-attachments': [], 'cni.dev/attachments': [] } });
    assert.deepEqual(out, {
      ...structuredClone(delegate),
      name: 'k8s-pod-network',
      cniVersion: ver,
      'cni.dev/valid-attachments': [],
      'cni.dev/attachments': [],
    });
  });
}

test('runtimeConfig is a copy restricted to the delegate: unrelated received keys never leak', () => {
  const out = deriveDelegateConfig({
    delegate: { type: 'portmap', capabilities: { portMappings: true } },
    name: 'n', cniVersion: '1.0.0',
    runtimeConfig: { portMappings: [], secretThing: 'x' },
  });
  assert.deepEqual(out.runtimeConfig, { portMappings: [] });
});

test('a runtimeConfig value of null is passed on (libcni injects any present key)', () => {
  const out = deriveDelegateConfig({
    delegate: { type: 'portmap', capabilities: { portMappings: true } },
    name: 'n', cniVersion: '1.0.0',
    runtimeConfig: { portMappings: null },
  });
  assert.deepEqual(out.runtimeConfig, { portMappings: null });
});

test('unionCapabilities of the calico fixture is {bandwidth, portMappings}', () => {
  assert.deepEqual(unionCapabilities(calicoPlugins), { bandwidth: true, portMappings: true });
});

test('unionCapabilities leaves out capabilities no delegate enables', () => {
  assert.deepEqual(unionCapabilities([
    { type: 'a', capabilities: { portMappings: false, mac: true } },
    { type: 'b', capabilities: { mac: false, ips: true } },
    { type: 'c' },
  ]), { mac: true, ips: true });
  assert.deepEqual(unionCapabilities([{ type: 'a' }, { type: 'b', capabilities: { x: false } }]), {});
  assert.deepEqual(unionCapabilities([]), {});
});
