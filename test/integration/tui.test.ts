/**
 * The TUI end to end, as a person on a node sees it: `cni-trace tui` runs in a tmux pane
 * while real invocations happen (libcni over the Debian plugins: one that works, one that a
 * real plugin fails, one that hangs). The test types keys and reads the screen.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { wrapConflist } from '../../src/cli/conflist.ts';
import type { JsonObject } from '../../src/config/wrapper-entry.ts';
import { InvocationIndex } from '../../src/journal/invocations.ts';
import { readJournal } from '../../src/journal/reader.ts';
import { CLI } from '../support/agent-process.ts';
import { subnetFor } from '../support/chains.ts';
import { runDriver, type DriverCall } from '../support/driver.ts';
import { DEBIAN_CNI, installCniTrace, installFixtures } from '../support/fixtures.ts';
import { iptablesState, keepSysctl, restoreIptables, Sandbox } from '../support/sandbox.ts';
import { TmuxPane } from '../support/tmux.ts';

const sb = new Sandbox('tui');
const pane = new TmuxPane();
after(async () => {
  await pane.dispose();
  await sb.cleanup();
});

/** The screen line of a pod's row. */
const row = (screen: string, pod: string): string => screen.split('\n').find((l) => l.includes(pod)) ?? '';

test('a person watching the TUI sees in-flight calls tick, failures in red with their CNI error, can filter and open a waterfall', { timeout: 120_000 }, async () => {
  const bin = join(sb.dir, 'bin');
  installCniTrace(bin);
  installFixtures(bin, ['fx-slow']);
  const restoreForward = await keepSysctl('net.ipv4.ip_forward');
  const ipt = await iptablesState();
  sb.onCleanup(async () => { await restoreIptables(ipt); await restoreForward(); });
  const journal = join(sb.dir, 'journal');
  const bridge = sb.name('cttu');
  sb.ownLink(bridge);
  const write = (name: string, plugins: JsonObject[]): string => {
    const file = join(sb.dir, `${name}.conflist`);
    writeFileSync(file, JSON.stringify(wrapConflist({ cniVersion: '1.0.0', name: sb.name(name), plugins }, { journalDir: journal })));
    return file;
  };
  const good = write('cttg', [
    { type: 'bridge', bridge, ipam: { type: 'host-local', ranges: [[{ subnet: subnetFor(sb, 40) }]], dataDir: join(sb.dir, 'ipam') } },
    { type: 'portmap', capabilities: { portMappings: true } },
  ]);
  // A real plugin failing: host-local refuses a range that is not a CIDR.
  const broken = write('cttb', [{ type: 'bridge', bridge: sb.name('cttx'), ipam: { type: 'host-local', ranges: [[{ subnet: '10.250.300.0/24' }]], dataDir: join(sb.dir, 'ipam2') } }]);
  sb.ownLink(sb.name('cttx'));
  const hanging = write('ctth', [{ type: 'loopback' }, { type: 'fx-slow', fx: { mode: 'hang' } }]);
  const netns = await sb.netns('t');
  const call = (conflist: string, pod: string, extra: Partial<DriverCall> = {}): DriverCall => ({
    conflist, netns, id: `ctr-${pod}`, path: [bin, DEBIAN_CNI], cacheDir: join(sb.dir, 'cache'),
    args: `IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=${pod}`, ...extra,
  });

  await pane.start([process.execPath, CLI, 'tui', '--journal', journal], { columns: 100, rows: 30, env: { TERM: 'xterm-256color', NODE_EXTRA_CA_CERTS: '' } });
  await pane.waitFor((s) => s.includes('cni-trace') && s.includes('newest first'), 'the TUI to start');

  assert.equal((await runDriver('add', call(good, 'web-1'))).outcome.ok, true);
  const failed = await runDriver('add', call(broken, 'bad-1'));
  assert.equal(failed.outcome.ok, false);
  const hang = runDriver('add', call(hanging, 'slow-1', { timeout: '8s' }));
  sb.onCleanup(async () => { await hang; });

  // The running call: a row that ticks and names the step running now.
  const first = await pane.waitFor((s) => row(s, 'slow-1').includes('fx-slow'), 'the hanging call with its running step');
  const elapsed = (line: string): number => {
    const m = /(\d+(?:\.\d+)?)(µs|ms|s)(?=\s|$)/.exec(line.slice(line.indexOf('slow-1') + 6)); // ELAPSED follows the pod
    return m ? Number(m[1]) * ({ 'µs': 0.001, ms: 1, s: 1000 } as const)[m[2] as 'µs' | 'ms' | 's'] : NaN;
  };
  const before = elapsed(row(first, 'slow-1'));
  await sleep(1500);
  const after1 = elapsed(row(await pane.screen(), 'slow-1'));
  assert.ok(after1 > before + 1000, `the in-flight duration ticks (${before} ms, then ${after1} ms)`);

  // The failure: red, with the CNI code the journal recorded.
  const index = new InvocationIndex();
  for (const r of readJournal(journal)) index.add(r);
  const bad = index.list().find((i) => i.pod.name === 'bad-1');
  assert.ok(bad?.error, 'the failure is journaled with its CNI error');
  const coloured = await pane.waitFor((s) => row(s, 'bad-1').includes(`error ${bad.error!.code}`), 'the failed row', 10_000, true);
  assert.match(row(coloured, 'bad-1'), new RegExp(`\\x1b\\[(?:[0-9;]*;)?31m[^\\x1b]*error ${bad.error.code}`), 'the error is red');
  assert.doesNotMatch(row(coloured, 'web-1'), /\x1b\[(?:[0-9;]*;)?31m/, 'the good row is not red');

  // Filtering narrows the list to one pod.
  await pane.type('/');
  await pane.type('web-1');
  await pane.keys('Enter');
  const filtered = await pane.waitFor((s) => !s.includes('bad-1') && !s.includes('slow-1') && s.includes('web-1') && s.includes('1 of 3'), 'the filter to narrow the list, kept with Enter');
  const rows = filtered.split('\n').filter((l) => /^[ ›] \d\d:\d\d:\d\d\.\d{3} /.test(l));
  assert.deepEqual(rows.map((l) => l.split(/\s+/)[3]), ['shop/web-1'], filtered);
  assert.match(filtered, /1 of 3 .*\/web-1/, 'the status line says what the filter hides');

  // Enter opens the waterfall: one bar per step, on a shared axis; bridge's IPAM call indented under it.
  await pane.keys('Enter');
  const detail = await pane.waitFor((s) => s.includes('trace link') && s.includes('█'), 'the detail view');
  const bars = detail.split('\n').filter((l) => /│ *█+ *│/.test(l));
  const labels = bars.map((l) => l.slice(0, l.indexOf('│')).replace(/\s+\S+\s*$/, ''));
  assert.deepEqual(labels.map((l) => l.trim()), ['bridge', 'host-local', 'portmap'], detail);
  const indent = labels.map((l) => l.length - l.trimStart().length);
  assert.deepEqual([indent[1]! - indent[0]!, indent[2]! - indent[0]!], [1, 0], 'host-local indented one column under bridge');
  assert.ok(detail.includes(index.list().find((i) => i.pod.name === 'web-1')!.traceId), 'the trace id');

  await pane.keys('Escape');
  await pane.waitFor((s) => s.includes('newest first') || s.includes('filter'), 'back to the list');

  // A narrower terminal re-lays out: fewer columns, the rows still there.
  await pane.resize(58, 20);
  const narrow = await pane.waitFor((s) => !s.includes('NETWORK') && s.includes('STATUS'), 'the list re-laid out for 58 columns');
  assert.ok(narrow.split('\n').every((l) => l.length <= 58), 'nothing wider than the terminal');
  assert.match(narrow, /shop\/web-1/);
  await pane.keys('q');
  for (let i = 0; i < 30 && (await pane.alive()); i++) await sleep(100);
  assert.equal(await pane.alive(), false, 'q quits');

  await hang;
  assert.equal((await runDriver('del', call(good, 'web-1'))).outcome.ok, true);
});
