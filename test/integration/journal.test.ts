/**
 * The journal under real runtimes and real failures: 30 pods set up and torn down in
 * parallel (with rotation forced mid-way), journals that cannot be written (read-only
 * mount, full disk, EACCES), and trace context arriving from the runtime's environment.
 */
import assert from 'node:assert/strict';
import { chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { execa } from 'execa';
import type { JsonObject } from '../../src/config/wrapper-entry.ts';
import { InvocationIndex } from '../../src/journal/invocations.ts';
import { journalFiles } from '../../src/journal/files.ts';
import { readJournal, type ReadStats } from '../../src/journal/reader.ts';
import { wrapConflist } from '../../src/cli/conflist.ts';
import { runDriver, type DriverCall } from '../support/driver.ts';
import { DEBIAN_CNI, installCniTrace } from '../support/fixtures.ts';
import { subnetFor } from '../support/chains.ts';
import { comparableRun, normalise } from '../support/observe.ts';
import { iptablesState, keepSysctl, restoreIptables, Sandbox } from '../support/sandbox.ts';

const sb = new Sandbox('journal');
const bin = join(sb.dir, 'bin');

before(async () => {
  installCniTrace(bin);
  const restoreForward = await keepSysctl('net.ipv4.ip_forward');
  const ipt = await iptablesState();
  sb.onCleanup(async () => { await restoreIptables(ipt); await restoreForward(); });
});
after(() => sb.cleanup());

function bridgeList(salt: number, ipamDir: string): JsonObject {
  const bridge = sb.name(`ctj${salt}`);
  sb.ownLink(bridge);
  return {
    cniVersion: '1.0.0', name: sb.name(`ctjn${salt}`),
    plugins: [{ type: 'bridge', bridge, ipam: { type: 'host-local', ranges: [[{ subnet: subnetFor(sb, 10 + salt) }]], dataDir: ipamDir } }],
  };
}

function writeList(name: string, list: JsonObject): string {
  const file = join(sb.dir, name);
  writeFileSync(file, JSON.stringify(list));
  return file;
}

test('30 ADD+DEL pairs in parallel are journaled as 60 complete, uncorrupted invocations (nested calls included) across rotation', async () => {
  const journalDir = join(sb.dir, 'parallel-journal');
  const wrapped = wrapConflist(bridgeList(0, join(sb.dir, 'ipam-parallel')), { journalDir }) as { plugins: JsonObject[] };
  // Small files so rotation happens while wrappers append concurrently.
  Object.assign(wrapped.plugins[0]!, { journalMaxFileBytes: 32 * 1024, journalMaxFiles: 1000 });
  const conflist = writeList('parallel.conflist', wrapped);
  const pods = Array.from({ length: 30 }, (_, i) => i);
  const netnses = await Promise.all(pods.map((i) => sb.netns(`p${i}`)));
  const outcomes = await Promise.all(pods.map(async (i) => {
    const call: DriverCall = { conflist, netns: netnses[i]!, id: `par-${sb.id}-${i}`, args: `IgnoreUnknown=1;K8S_POD_NAMESPACE=load;K8S_POD_NAME=pod-${i}`, path: [bin, DEBIAN_CNI], cacheDir: join(sb.dir, 'cache-parallel') };
    const add = await runDriver('add', call);
    const del = await runDriver('del', call);
    return [add.outcome.ok, del.outcome.ok];
  }));
  assert.deepEqual(outcomes, pods.map(() => [true, true]));
  assert.ok(journalFiles(journalDir).length > 1, 'the journal rotated');
  const stats: ReadStats = { records: 0, skipped: 0 };
  const index = new InvocationIndex();
  for (const r of readJournal(journalDir, stats)) index.add(r);
  assert.equal(stats.skipped, 0, 'no torn or interleaved line');
  assert.equal(stats.records, 60 * 6, 'begin, bridge\'s begin and end, host-local\'s (nested) begin and end, end for each call');
  const invocations = index.list();
  assert.equal(invocations.length, 60);
  for (const i of pods) {
    const mine = invocations.filter((inv) => inv.pod.name === `pod-${i}`);
    assert.deepEqual(mine.map((inv) => [inv.command, inv.status, inv.steps.map((s) => `${'>'.repeat(s.depth)}${s.plugin}`), inv.containerId]),
      [['ADD', 'ok', ['bridge', '>host-local'], `par-${sb.id}-${i}`], ['DEL', 'ok', ['bridge', '>host-local'], `par-${sb.id}-${i}`]]);
  }
});

test('TRACEPARENT in the runtime\'s environment makes the invocation a child of the runtime\'s span', async () => {
  const journalDir = join(sb.dir, 'tp-journal');
  const conflist = writeList('tp.conflist', wrapConflist({ cniVersion: '1.0.0', name: sb.name('cttp'), plugins: [{ type: 'loopback' }] }, { journalDir }));
  const netns = await sb.netns('tp');
  const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  const res = await runDriver('add', { conflist, netns, id: 'tp1', path: [bin, DEBIAN_CNI], cacheDir: join(sb.dir, 'cache-tp'), env: { TRACEPARENT: traceparent } });
  assert.equal(res.outcome.ok, true);
  const index = new InvocationIndex();
  for (const r of readJournal(journalDir)) index.add(r);
  const [inv] = index.list();
  assert.equal(inv?.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
  assert.equal(inv?.parentSpanId, '00f067aa0ba902b7');
  assert.equal(inv?.env.TRACEPARENT, traceparent);
});

test('an unknown delegate binary fails with the message libcni gives for a missing plugin', async () => {
  const list = { cniVersion: '1.0.0', name: sb.name('ctmiss'), plugins: [{ type: 'loopback' }, { type: 'no-such-plugin' }] };
  const netns = await sb.netns('mi');
  const base = { netns, id: 'miss1', path: [bin, DEBIAN_CNI], cacheDir: join(sb.dir, 'cache-miss') };
  const bare = await runDriver('add', { ...base, conflist: writeList('miss.bare.conflist', list) });
  const wrapped = await runDriver('add', { ...base, conflist: writeList('miss.wrapped.conflist', wrapConflist(list, { journalDir: join(sb.dir, 'miss-journal') })) });
  const expected = `failed to find plugin "no-such-plugin" in path [${bin} ${DEBIAN_CNI}]`;
  assert.equal(bare.outcome.error?.msg, expected);
  assert.equal(wrapped.outcome.error?.msg, expected);
  assert.equal(wrapped.outcome.error?.code, 7, 'the wrapper reports it as invalid network config');
});

describe('a journal that cannot be written changes nothing in the CNI outcome', () => {
  interface Setup { journalDir: string; runAs?: string[]; undo?: () => Promise<void>; reason: RegExp }
  const setups: Array<[string, () => Promise<Setup>]> = [
    ['a read-only mount (EROFS)', async () => {
      const mnt = join(sb.dir, 'ro');
      mkdirSync(mnt);
      await execa('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'cnitrace-ro', mnt]);
      return { journalDir: join(mnt, 'journal'), undo: async () => { await execa('umount', [mnt]); }, reason: /EROFS/ };
    }],
    ['a full disk (ENOSPC)', async () => {
      const mnt = join(sb.dir, 'full');
      mkdirSync(mnt);
      await execa('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'cnitrace-full', mnt]);
      mkdirSync(join(mnt, 'journal'), { mode: 0o700 });
      await execa('dd', ['if=/dev/zero', `of=${join(mnt, 'filler')}`, 'bs=4k', 'count=64'], { reject: false });
      return { journalDir: join(mnt, 'journal'), undo: async () => { await execa('umount', [mnt]); }, reason: /ENOSPC/ };
    }],
    ['a directory the runtime may not write (EACCES)', async () => {
      const dir = join(sb.dir, 'foreign');
      mkdirSync(dir, { mode: 0o700 });
      chownSync(dir, 65534, 65534);
      // Root without CAP_DAC_OVERRIDE, as a hardened runtime would run.
      return { journalDir: join(dir, 'journal'), runAs: ['setpriv', '--bounding-set', '-dac_override,-dac_read_search', '--'], reason: /EACCES/ };
    }],
  ];
  for (const [label, setup] of setups) {
    test(`${label}: same result as the bare chain, one "tracing degraded" line`, async () => {
      const s = await setup();
      try {
        const salt = label.length;
        const outcomes: Record<string, unknown> = {};
        let wrappedStderr = '';
        for (const kind of ['bare', 'wrapped'] as const) {
          const list = bridgeList(salt, join(sb.dir, `ipam-${kind}-${salt}`));
          const file = writeList(`deg-${salt}-${kind}.conflist`, kind === 'bare' ? list : wrapConflist(list, { journalDir: s.journalDir }));
          const netns = await sb.netns(`d${kind[0]}${salt}`);
          const call: DriverCall = { conflist: file, netns, id: `deg-${salt}`, path: [bin, DEBIAN_CNI], cacheDir: join(sb.dir, `cache-deg-${kind}-${salt}`) };
          const add = await runAs(s.runAs, 'add', call);
          const del = await runAs(s.runAs, 'del', call);
          outcomes[kind] = normalise({ add: comparableRun(add), del: comparableRun(del) });
          if (kind === 'wrapped') wrappedStderr = add.stderr;
          await execa('ip', ['link', 'del', (list.plugins as JsonObject[])[0]!.bridge as string], { reject: false });
        }
        assert.deepEqual(outcomes.wrapped, outcomes.bare);
        const lines = wrappedStderr.split('\n').filter((l) => l.includes('tracing degraded'));
        assert.equal(lines.length, 1, wrappedStderr);
        assert.match(lines[0]!, s.reason);
      } finally {
        await s.undo?.();
      }
    });
  }
});

/** Runs the driver, optionally under a privilege-dropping prefix (setpriv …). */
async function runAs(prefix: string[] | undefined, command: 'add' | 'del', call: DriverCall) {
  if (!prefix) return runDriver(command, call);
  const { driverPath } = await import('../support/driver.ts');
  const args = ['--conflist', call.conflist, '--id', call.id, '--path', call.path.join(':'), '--cache-dir', call.cacheDir, ...(call.netns ? ['--netns', call.netns] : []), command];
  const res = await execa(prefix[0]!, [...prefix.slice(1), await driverPath(), ...args], { reject: false });
  return { outcome: JSON.parse(res.stdout) as Awaited<ReturnType<typeof runDriver>>['outcome'], stderr: res.stderr };
}
