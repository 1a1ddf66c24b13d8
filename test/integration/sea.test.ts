/**
 * The self-contained executable on a host without Node: `cni-trace install` puts it into a
 * temporary bin dir, and a real chain (bridge + host-local, portmap) runs through it, driven by
 * libcni, in a mount namespace where every Node binary on this machine is hidden (bind-mounted
 * over with /dev/null) and PATH has no node — with the same results as the bare chain, nested
 * tracing and the journal included.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { execa } from 'execa';
import { wrapConflist } from '../../src/cli/conflist.ts';
import type { JsonObject } from '../../src/config/wrapper-entry.ts';
import { InvocationIndex } from '../../src/journal/invocations.ts';
import { readJournal } from '../../src/journal/reader.ts';
import { CLI } from '../support/agent-process.ts';
import { subnetFor } from '../support/chains.ts';
import { driverPath, type DriverRun } from '../support/driver.ts';
import { DEBIAN_CNI, PLUGIN_EXECUTABLE } from '../support/fixtures.ts';
import { comparableRun, normalise } from '../support/observe.ts';
import { iptablesState, keepSysctl, restoreIptables, Sandbox } from '../support/sandbox.ts';

const sb = new Sandbox('sea');
const bin = join(sb.dir, 'opt-cni-bin');

before(async () => {
  const restoreForward = await keepSysctl('net.ipv4.ip_forward');
  const ipt = await iptablesState();
  sb.onCleanup(async () => { await restoreIptables(ipt); await restoreForward(); });
});
after(() => sb.cleanup());

/** Every Node binary a lookup could find here: the pinned one, the system's, PATH's. */
function nodeBinaries(): string[] {
  const found = new Set<string>([process.execPath, realpathSync(process.execPath)]);
  for (const dir of ['/usr/bin', '/bin', '/usr/local/bin', ...(process.env.PATH ?? '').split(':')]) {
    const f = join(dir, 'node');
    if (dir && existsSync(f)) found.add(realpathSync(f));
  }
  return [...found];
}

/** Runs the libcni driver in a private mount namespace where no Node binary can be executed. */
async function driverWithoutNode(args: string[]): Promise<DriverRun> {
  const hide = nodeBinaries().map((f) => `mount --bind /dev/null '${f}'`).join(' && ');
  const script = `${hide} && ! node -e 0 2>/dev/null && ! '${process.execPath}' -e 0 2>/dev/null || { echo "node still runs" >&2; exit 99; }; exec "$@"`;
  const r = await execa('unshare', ['--mount', '--propagation', 'private', '/bin/sh', '-c', script, 'sh', await driverPath(), ...args], {
    reject: false, extendEnv: false, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
  });
  if (r.exitCode !== 0) throw new Error(`driver failed (exit ${r.exitCode}): ${r.stderr}`);
  return { outcome: JSON.parse(r.stdout) as DriverRun['outcome'], stderr: r.stderr };
}

test('installed by `cni-trace install`, the executable is one ELF file that needs no Node', async () => {
  const r = await execa(process.execPath, [CLI, 'install', '--bin-dir', bin], { reject: false });
  assert.equal(r.exitCode, 0, r.stderr);
  const head = readFileSync(join(bin, 'cni-trace')).subarray(0, 4);
  assert.deepEqual([...head], [0x7f, 0x45, 0x4c, 0x46], 'an ELF executable, not a script');
});

test('a real chain runs through it with no Node on the host, exactly as the bare chain', async () => {
  const journalDir = join(sb.dir, 'journal');
  const observed: Record<string, unknown[]> = {};
  for (const form of ['bare', 'wrapped'] as const) {
    const bridge = sb.name('ctsea');
    sb.ownLink(bridge);
    const list: JsonObject = {
      cniVersion: '1.0.0', name: sb.name('ctseanet'),
      plugins: [
        { type: 'bridge', bridge, ipam: { type: 'host-local', ranges: [[{ subnet: subnetFor(sb, 60) }]], dataDir: join(sb.dir, `ipam-${form}`) } },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    };
    const file = join(sb.dir, `${form}.conflist`);
    writeFileSync(file, JSON.stringify(form === 'bare' ? list : wrapConflist(list, { journalDir })));
    const netns = await sb.netns(`s${form[0]}`);
    const args = (op: string): string[] => ['--conflist', file, '--netns', netns, '--id', `sea-${sb.id}`, '--ifname', 'eth0',
      '--path', `${bin}:${DEBIAN_CNI}`, '--cache-dir', join(sb.dir, `cache-${form}`),
      '--cap-args', JSON.stringify({ portMappings: [{ hostPort: 31000 + (parseInt(sb.id.slice(0, 3), 16) % 2000), containerPort: 80, protocol: 'tcp' }] }), op];
    const runs = [await driverWithoutNode(args('add')), await driverWithoutNode(args('del'))];
    assert.equal(runs[0]!.outcome.ok, true, `${form} ADD: ${JSON.stringify(runs[0]!.outcome.error)}`);
    observed[form] = runs.map((run) => normalise(comparableRun(run)));
    await execa('ip', ['link', 'del', bridge], { reject: false });
  }
  assert.deepEqual(observed.wrapped, observed.bare);

  const index = new InvocationIndex();
  for (const rec of readJournal(journalDir)) index.add(rec);
  const [add, del] = index.list();
  assert.deepEqual(add?.steps.map((s) => [s.plugin, s.depth, s.status]), [['bridge', 0, 'ok'], ['host-local', 1, 'ok'], ['portmap', 0, 'ok']]);
  assert.deepEqual(del?.steps.map((s) => `${'>'.repeat(s.depth)}${s.plugin}`), ['portmap', 'bridge', '>host-local']);
  assert.equal(add?.steps[0]?.path, `${DEBIAN_CNI}/bridge`);
});

test('NODE_OPTIONS in the runtime\'s environment does not reach the plugin\'s Node (one bad flag would fail every pod)', async () => {
  const env = { CNI_COMMAND: 'VERSION', NODE_OPTIONS: '--bogus-flag --max-old-space-size=1' };
  const r = await execa(PLUGIN_EXECUTABLE, [], { env, extendEnv: false, input: '', reject: false });
  assert.equal(r.exitCode, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout).supportedVersions, ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']);
  assert.equal(r.stderr, '');
});
