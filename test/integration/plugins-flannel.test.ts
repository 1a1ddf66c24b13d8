/**
 * flannel's CNI plugin, itself a delegating meta plugin: it reads the subnet.env flanneld would
 * write (here the test writes it), and delegates to bridge with a host-local IPAM for that
 * subnet. Wrapped, cni-trace's journal shows flannel → bridge → host-local as nested steps, the
 * agent exports them so, and the outcome equals bare. The plugin is built from
 * containernetworking/plugins v0.9.1, its last home before github.com/flannel-io/cni-plugin,
 * which the module proxy here refuses (docs/decisions.md 35); bridge and host-local are Debian's.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { execa } from 'execa';
import { wrapConflist } from '../../src/cli/conflist.ts';
import { runDriver, type DriverCall } from '../support/driver.ts';
import { DEBIAN_CNI, installCniTrace, ROOT } from '../support/fixtures.ts';
import { comparableRun, containerState, normalise } from '../support/observe.ts';
import { Sandbox } from '../support/sandbox.ts';
import { assertTraceShape, exportedSpans, journalInvocations } from '../support/trace-shape.ts';

// Built (or found) before the sandbox exists: a failed build leaves nothing behind.
const built = await execa('bash', [join(ROOT, 'scripts/tools.sh'), 'flannel'], { reject: false, stderr: 'inherit', timeout: 1_800_000 });
if (built.exitCode !== 0) throw new Error(`scripts/tools.sh flannel failed (exit ${built.exitCode})`);
const flannelDir = join(built.stdout.trim().split('\n').pop()!, '..');

const sb = new Sandbox('flannel');
after(() => sb.cleanup());
const bin = join(sb.dir, 'bin');
installCniTrace(bin);
const journal = join(sb.dir, 'journal');
const octet = parseInt(sb.id.slice(0, 2), 16) % 250;
const subnetEnv = join(sb.dir, 'subnet.env');
// As flanneld writes it; FLANNEL_IPMASQ=true: flanneld masquerades, so bridge adds no rule.
writeFileSync(subnetEnv, `FLANNEL_NETWORK=10.253.0.0/16\nFLANNEL_SUBNET=10.253.${octet}.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n`);
const bridge = sb.name('ctflb');
sb.ownLink(bridge);

const conflist = (kind: string) => ({
  cniVersion: '0.4.0', name: sb.name('ctfln'),
  plugins: [{
    type: 'flannel', subnetFile: subnetEnv, dataDir: join(sb.dir, `flannel-${kind}`),
    ipam: { dataDir: join(sb.dir, `ipam-${kind}`) },
    delegate: { bridge, hairpinMode: true },
  }],
});

async function lifecycle(kind: 'bare' | 'wrapped'): Promise<unknown> {
  const file = join(sb.dir, `flannel.${kind}.conflist`);
  writeFileSync(file, JSON.stringify(kind === 'bare' ? conflist(kind) : wrapConflist(conflist(kind), { journalDir: journal })));
  const netns = await sb.netns(`fl${kind[0]}`);
  const call: DriverCall = { conflist: file, id: `flannel-${sb.id}`, netns, path: [bin, flannelDir, DEBIAN_CNI], cacheDir: join(sb.dir, `cache-${kind}`) };
  const add = await runDriver('add', call);
  assert.ok(add.outcome.ok, `${kind} ADD: ${JSON.stringify(add.outcome.error)}`);
  const inside = await containerState(netns);
  const del = await runDriver('del', call);
  assert.ok(del.outcome.ok, `${kind} DEL: ${JSON.stringify(del.outcome.error)}`);
  // The bridge outlives DEL (bridge never removes it): the next run starts from none.
  await execa('ip', ['link', 'del', bridge], { reject: false });
  return normalise({ add: comparableRun(add), inside, del: comparableRun(del) });
}

test('flannel delegating to bridge and host-local: ADD and DEL through cni-trace equal bare', async () => {
  const bare = await lifecycle('bare');
  const wrapped = await lifecycle('wrapped');
  assert.deepEqual(wrapped, bare);
  assert.match(JSON.stringify(bare), new RegExp(`10\\.253\\.${octet}\\.\\d+/24`), 'an address from the subnet.env subnet');
});

test('the journal shows flannel → bridge → host-local as nested steps, and the agent exports them so', async () => {
  const invs = journalInvocations(journal);
  assert.deepEqual(invs.map((i) => `${i.command} ${i.status}`), ['ADD ok', 'DEL ok']);
  for (const inv of invs) assert.deepEqual(inv.steps.map((s) => `${'>'.repeat(s.depth)}${s.plugin}`), ['flannel', '>bridge', '>>host-local']);
  assertTraceShape(invs, await exportedSpans(journal, join(sb.dir, 'agent-state')));
});
