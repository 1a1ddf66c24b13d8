/**
 * `cni-trace diagnose` (the built dist/cli.js) over a journal of a real run: pods through
 * libcni over the Debian bridge and host-local in real network namespaces. A clean run finds
 * nothing (exit 0); a range with one address, a second pod refused, and a pod whose namespace
 * is deleted without a DEL give the exhausted range, the error and the leaked attachment (exit 1).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { execa } from 'execa';
import { wrapConflist } from '../../src/cli/conflist.ts';
import type { JsonObject } from '../../src/config/wrapper-entry.ts';
import type { Finding } from '../../src/view/findings.ts';
import { subnetFor } from '../support/chains.ts';
import { runDriver, type DriverCall } from '../support/driver.ts';
import { DEBIAN_CNI, installCniTrace, ROOT } from '../support/fixtures.ts';
import { keepSysctl, Sandbox } from '../support/sandbox.ts';

const CLI = join(ROOT, 'dist/cli.js');
const sb = new Sandbox('diagnose');
const bin = join(sb.dir, 'bin');

before(async () => {
  installCniTrace(bin);
  sb.onCleanup(await keepSysctl('net.ipv4.ip_forward'));
});
after(() => sb.cleanup());

/** A wrapped bridge + host-local network with its own journal; `one` gives it a single address. */
function network(tag: string, salt: number, one: boolean): { file: string; journal: string; name: string } {
  const br = sb.name(`ctd${tag}`);
  sb.ownLink(br);
  const subnet = subnetFor(sb, salt);
  const only = subnet.replace(/0\/24$/, '9');
  const name = sb.name(`ctdn${tag}`);
  const list: JsonObject = { cniVersion: '1.0.0', name, plugins: [{ type: 'bridge', bridge: br, ipam: { type: 'host-local', ranges: [[{ subnet, ...(one ? { rangeStart: only, rangeEnd: only } : {}) }]], dataDir: join(sb.dir, `ipam-${tag}`) } }] };
  const journal = join(sb.dir, `journal-${tag}`);
  const file = join(sb.dir, `${tag}.conflist`);
  writeFileSync(file, JSON.stringify(wrapConflist(list, { journalDir: journal })));
  return { file, journal, name };
}

async function pod(file: string, id: string, netns: string): Promise<DriverCall> {
  return { conflist: file, id, netns, path: [bin, DEBIAN_CNI], cacheDir: join(sb.dir, 'cache'), args: `IgnoreUnknown=1;K8S_POD_NAMESPACE=diag;K8S_POD_NAME=${id}` };
}

async function diagnose(journal: string): Promise<{ exitCode: number; findings: Finding[]; text: string }> {
  const json = await execa(process.execPath, [CLI, 'diagnose', '--journal', journal, '--json'], { reject: false });
  const text = await execa(process.execPath, [CLI, 'diagnose', '--journal', journal], { reject: false, env: { NO_COLOR: '1' } });
  assert.equal(json.exitCode, text.exitCode);
  return { exitCode: json.exitCode ?? -1, findings: (JSON.parse(json.stdout) as { findings: Finding[] }).findings, text: text.stdout };
}

test('a clean run: pods set up and torn down, nothing found, exit 0', async () => {
  const net = network('c', 80, false);
  for (let i = 0; i < 3; i++) {
    const call = await pod(net.file, `clean-${i}`, await sb.netns(`dc${i}`));
    assert.equal((await runDriver('add', call)).outcome.ok, true);
    assert.equal((await runDriver('del', call)).outcome.ok, true);
  }
  const r = await diagnose(net.journal);
  assert.deepEqual(r.findings, []);
  assert.equal(r.exitCode, 0);
  assert.equal(r.text, 'nothing found in 6 invocations');
  // --since: a window that holds them, and one after them.
  const since = await execa(process.execPath, [CLI, 'diagnose', '--journal', net.journal, '--since', '1h'], { reject: false });
  assert.match(since.stdout, /^nothing found in 6 invocations since \d{4}-\d\d-\d\dT/);
  const later = await execa(process.execPath, [CLI, 'diagnose', '--journal', net.journal, '--since', new Date(Date.now() + 60_000).toISOString()], { reject: false });
  assert.deepEqual([later.exitCode, later.stdout.replace(/since \S+/, 'since T')], [0, 'nothing found in 0 invocations since T']);
  const bad = await execa(process.execPath, [CLI, 'diagnose', '--journal', net.journal, '--since', 'yesterday'], { reject: false });
  assert.equal(bad.exitCode, 2, 'a usage error');
  assert.match(bad.stderr, /^cni-trace: diagnose: --since: /);
});

test('an exhausted range, the refusal and a leaked attachment are found with their pods, exit 1', async () => {
  const net = network('x', 81, true);
  const holder = await pod(net.file, 'holder', await sb.netns('dxh'));
  assert.equal((await runDriver('add', holder)).outcome.ok, true);
  const refused = await runDriver('add', await pod(net.file, 'refused', await sb.netns('dxr')));
  assert.match(refused.outcome.error?.msg ?? '', /no IP addresses available/);
  // The holder's pod goes away without a DEL: its namespace is deleted under the runtime.
  await execa('ip', ['netns', 'delete', sb.name('ctdxh')]);
  const r = await diagnose(net.journal);
  assert.equal(r.exitCode, 1);
  assert.deepEqual(r.findings.map((f) => f.kind).sort(), ['errors', 'ipam', 'leaked']);
  const ipam = r.findings.find((f) => f.kind === 'ipam')!;
  assert.match(ipam.title, new RegExp(`^network ${net.name}: host-local range .* is exhausted: 1 of 1 address held, 1 ADD refused$`));
  assert.match(ipam.evidence.join('\n'), /held by diag\/holder \(10\.250\.\d+\.9\)/);
  const errors = r.findings.find((f) => f.kind === 'errors')!;
  assert.match(errors.title, /^host-local failed 1 time: failed to allocate for range 0: no IP addresses available in range set/);
  assert.match(errors.evidence[0]!, /ADD diag\/refused/);
  const leaked = r.findings.find((f) => f.kind === 'leaked')!;
  assert.match(leaked.evidence[0]!, /ADD diag\/holder .* no longer exists/);
  assert.match(r.text, /^3 findings in 2 invocations:/);
  // Cleaned up as the runtime should have: DEL with a netns that is gone.
  assert.equal((await runDriver('del', { ...holder, netns: '' })).outcome.ok, true);
});
