/**
 * `tail` selection, `show` and `stats` over a journal the real wrapper wrote (the dispatcher
 * in-process, fixture plugins as delegates): what a person reading them would see.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { othersLine, renderInvocation, show, type Found } from '../../src/cli/show.ts';
import { renderStats, statsReport } from '../../src/cli/stats.ts';
import { tail } from '../../src/cli/tail.ts';
import { podSelector } from '../../src/view/filter.ts';
import { installFixtures } from '../support/fixtures.ts';
import { callPlugin, cniEnv } from '../support/run-plugin.ts';

const root = mkdtempSync(join(tmpdir(), 'cnitrace-unit-views-'));
const bin = join(root, 'bin');
const journal = join(root, 'journal');
after(() => rmSync(root, { recursive: true, force: true }));

async function call(pod: string, ns: string, delegates: object[], command = 'ADD'): Promise<void> {
  await callPlugin({
    env: cniEnv(command, bin, { CNI_CONTAINERID: `ctr-${pod}`, CNI_ARGS: `K8S_POD_NAMESPACE=${ns};K8S_POD_NAME=${pod}` }),
    stdin: { cniVersion: '1.0.0', name: 'viewnet', type: 'cni-trace', journalDir: journal, delegates },
  });
}

before(async () => {
  installFixtures(bin, ['fx-ipam', 'fx-bad', 'fx-noisy']);
  await call('web-1', 'shop', [{ type: 'fx-ipam' }]);
  await call('web-2', 'shop', [{ type: 'fx-ipam' }, { type: 'fx-bad', fx: { mode: 'fail', code: 7, msg: 'bad \u001b[2Jconfig' } }]);
  await call('db-1', 'data', [{ type: 'fx-noisy', fx: { mode: 'die', stderr: 'line one\n\u001b[31mred\u001b[0m line two\n', exit: 3 } }]);
  await call('web-1', 'shop', [{ type: 'fx-ipam' }], 'DEL');
});

function tailed(opts: Partial<Parameters<typeof tail>[0]>): string[] {
  const lines: string[] = [];
  tail({ journal, json: false, follow: false, colour: false, write: (l) => lines.push(l), ...opts });
  return lines;
}

test('tail selects by pod, namespace, plugin, errors and --last', () => {
  assert.equal(tailed({}).length, 4);
  assert.equal(tailed({ filter: podSelector('shop/web-1') }).length, 2);
  assert.equal(tailed({ filter: podSelector('web-2') }).length, 1);
  assert.equal(tailed({ filter: { namespace: 'data' } }).length, 1);
  assert.equal(tailed({ filter: { plugin: 'fx-bad' } }).length, 1);
  assert.deepEqual(tailed({ filter: { errorsOnly: true } }).map((l) => l.includes('web-2') || l.includes('db-1')), [true, true]);
  const last = tailed({ last: 1 });
  assert.equal(last.length, 1);
  assert.match(last[0]!, /DEL .* shop\/web-1/);
  assert.equal(tailed({ filter: { sinceNs: BigInt(Date.now() + 60_000) * 1_000_000n } }).length, 0);
});

test('show finds an invocation by trace id, span id prefix or pod, and draws one bar per step', () => {
  const byPod = (show(journal, { namespace: 'shop', pod: 'web-2' }) as Found).inv;
  assert.equal(typeof byPod, 'object');
  assert.equal((show(journal, { id: byPod.traceId }) as Found).inv.spanId, byPod.spanId);
  assert.equal((show(journal, { id: byPod.spanId.slice(0, 6) }) as Found).inv.spanId, byPod.spanId);
  assert.match(show(journal, { id: 'ffffffffffff' }) as string, /no invocation with trace or span id/);
  assert.match(show(journal, { pod: 'nobody' }) as string, /no invocation of pod nobody/);
  const text = renderInvocation(byPod, { colour: false, width: 80 });
  const bars = text.split('\n').filter((l) => l.includes('│'));
  assert.deepEqual(bars.map((l) => l.split(' ')[0]), ['fx-ipam', 'fx-bad', 'cni-trace']);
  for (const bar of bars.slice(0, 2)) assert.match(bar, /│ *█+ *│ +[\d.]+(ms|µs)$/);
  assert.match(bars[2]!, /│[░ ]*░[░ ]*│ +[\d.]+(ms|µs)$/, 'cni-trace\'s own time, named');
  assert.match(text, /^ADD error .* pod shop\/web-2 {2}container ctr-web-2$/m);
  assert.match(text, /error 7: bad \\x1b\[2Jconfig/, 'control characters are shown escaped');
  assert.match(text, /── 1\. fx-bad ADD — error/);
  assert.match(text, /"prevResult": \{/, 'the config the step got');
  assert.match(text, /CNI_CONTAINERID=ctr-web-2/);
  assert.equal(text.includes('\u001b'), false, 'nothing raw reaches the terminal without colour');
});

test('show --pod gives the pod\'s latest ADD (pod start), not a later DEL, and lists its other operations', () => {
  const found = show(journal, { namespace: 'shop', pod: 'web-1' }) as Found;
  assert.equal(found.inv.command, 'ADD');
  assert.deepEqual(found.others.map((o) => o.command), ['DEL']);
  assert.match(othersLine(found.others), /^other operations of this pod \(newest first\): DEL ok \S+ \d\d:\d\d:\d\d\.\d{3} [0-9a-f]{12}$/);
  assert.equal((show(journal, { namespace: 'shop', pod: 'web-1' }, { command: 'DEL' }) as Found).inv.command, 'DEL', '--command DEL asks for the DEL');
  assert.equal((show(journal, { latest: true }, { command: 'ADD', status: 'error' }) as Found).inv.pod.name, 'db-1', 'the latest failed ADD');
  assert.match(show(journal, { latest: true }, { command: 'CHECK' }) as string, /no invocation that matches the selection/);
});

test('tail and stats select by command, status and duration', () => {
  assert.equal(tailed({ filter: { command: 'DEL' } }).length, 1);
  assert.equal(tailed({ filter: { command: 'ADD', status: 'ok' } }).length, 1);
  assert.equal(tailed({ filter: { status: 'error' } }).length, 2);
  assert.equal(tailed({ filter: { slowerThanMs: 60_000 } }).length, 0);
  assert.equal(tailed({ filter: { status: 'slow' } }).length, 0, 'without a baseline nothing is slow');
  assert.equal(tailed({ filter: { status: 'slow', isSlow: (inv) => inv.pod.name === 'db-1' } }).length, 1);
  assert.equal(statsReport(journal, { command: 'ADD' }).invocations, 3);
  assert.match(tailed({})[0]!, / · cni-trace \S+$/, 'each line names cni-trace\'s own time');
  assert.ok(statsReport(journal, {}).rows.some((r) => r.plugin === 'cni-trace' && r.command === 'ADD'), 'stats has a cni-trace row');
});

test('show keeps stderr readable and escaped, and colours only its own status text', () => {
  const inv = (show(journal, { pod: 'db-1' }) as Found).inv;
  const text = renderInvocation(inv, { colour: true, width: 80 });
  assert.match(text, /stderr:\n {4}line one\n {4}\\x1b\[31mred\\x1b\[0m line two/);
  assert.equal(text.includes('\u001b[2J'), false);
  assert.ok(text.includes('\u001b[31merror\u001b[0m'), 'the status is red');
});

test('stats reports per plugin and command, with errors and the slowest invocations', () => {
  const report = statsReport(journal, {});
  assert.equal(report.invocations, 4);
  const row = (plugin: string, command: string) => report.rows.find((r) => r.plugin === plugin && r.command === command);
  assert.deepEqual([row('(invocation)', 'ADD')?.count, row('(invocation)', 'ADD')?.errors], [3, 2]);
  assert.deepEqual([row('fx-ipam', 'ADD')?.count, row('fx-ipam', 'DEL')?.count, row('fx-bad', 'ADD')?.errors], [2, 1, 1]);
  for (const r of report.rows) assert.ok(r.p50 <= r.p95 && r.p95 <= r.p99 && r.p99 <= r.max, `${r.plugin} percentiles are ordered`);
  assert.equal(report.slowest.length, 4);
  assert.ok(report.slowest[0]!.durationMs! >= report.slowest[3]!.durationMs!);
  const text = renderStats(report);
  assert.match(text, /^plugin +command +count +errors +p50 +p95 +p99 +max$/m);
  assert.match(text, /^fx-bad +ADD +1 +1 /m);
  assert.equal(renderStats(statsReport(journal, { namespace: 'nowhere' })), 'no invocations');
});
