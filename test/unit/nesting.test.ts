/**
 * Nested calls of any depth, from records to every view: a delegate running a plugin running a
 * plugin running a plugin (depths 1, 2, 3) is assembled in tree order with each call's depth and
 * caller, whatever order the records come in and whichever way the journal is read, and tail,
 * show, the TUI and the agent's spans all show that depth.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { emptyResource } from '@opentelemetry/resources';
import { spansFromInvocation } from '../../src/agent/spans.ts';
import { renderInvocation } from '../../src/cli/show.ts';
import { invocationJson, invocationLine } from '../../src/cli/tail.ts';
import { foldInvocations, invocationsNewestFirst } from '../../src/journal/assemble.ts';
import { InvocationIndex, type Invocation } from '../../src/journal/invocations.ts';
import type { JournalRecord } from '../../src/journal/record.ts';
import { CHAIN, CHAIN_DEPTHS, chainRecords, INV, invocationBegin, invocationEnd, stepRecords } from '../support/records.ts';

const dead = (): boolean => false;

function indexed(records: JournalRecord[]): Invocation {
  const index = new InvocationIndex(dead);
  for (const r of records) index.add(r);
  return index.get(INV)!;
}

const shape = (inv: Invocation): Array<[string, number]> => inv.steps.map((s) => [s.plugin, s.depth]);

test('rule: nesting has no depth limit — calls at depths 1, 2 and 3 are assembled under their callers, in tree order', () => {
  const inv = indexed(chainRecords());
  assert.deepEqual(shape(inv), CHAIN_DEPTHS, 'each nested call right after its caller, at its own depth (not capped)');
  assert.deepEqual(inv.steps.map((s) => s.parentSpanId), [undefined, CHAIN[0]!.spanId, CHAIN[1]!.spanId, CHAIN[2]!.spanId, undefined]);
  assert.ok(inv.steps.every((s) => s.status === 'ok'));
});

test('nesting: records in any order (leaf first, newest first) give the same tree', () => {
  const records = chainRecords();
  assert.deepEqual(shape(indexed([...records].reverse())), CHAIN_DEPTHS, 'newest first');
  const leafFirst = [...records.filter((r) => r.rec === 'step.begin' && r.spanId === CHAIN[3]!.spanId), ...records];
  assert.deepEqual(shape(indexed(leafFirst)), CHAIN_DEPTHS, 'a leaf read before its callers');
  // A chain deeper than the fixtures: depth 12.
  const deep: JournalRecord[] = [invocationBegin()];
  const id = (d: number): string => `e${String(d).padStart(15, '0')}`;
  for (let d = 0; d <= 12; d++) {
    for (const r of stepRecords({ spanId: id(d), plugin: `p${d}`, startMs: d + 1, endMs: 50 - d, ...(d > 0 ? { parent: id(d - 1) } : {}) })) deep.push(r);
  }
  deep.push(invocationEnd());
  assert.deepEqual(indexed(deep).steps.map((s) => s.depth), Array.from({ length: 13 }, (_, d) => d));
});

test('nesting: a nested call whose caller is not in the journal stays at depth 1; one naming itself is not its own child', () => {
  const records = [
    invocationBegin(),
    ...stepRecords({ spanId: 'c100000000000000', plugin: 'bridge', startMs: 1, endMs: 9 }),
    ...stepRecords({ spanId: 'c100000000000001', plugin: 'orphan', parent: 'ffffffffffffffff', startMs: 2, endMs: 3 }),
    ...stepRecords({ spanId: 'c100000000000002', plugin: 'selfish', parent: 'c100000000000002', startMs: 4, endMs: 5 }),
    invocationEnd(),
  ];
  assert.deepEqual(shape(indexed(records)), [['bridge', 0], ['orphan', 1], ['selfish', 1]]);
});

test('nesting: a nested call without an end in a finished invocation was killed with its caller (abandoned)', () => {
  const records = chainRecords().filter((r) => !(r.rec === 'step.end' && r.spanId === CHAIN[3]!.spanId));
  const inv = indexed(records);
  assert.deepEqual(inv.steps.map((s) => s.status), ['ok', 'ok', 'ok', 'abandoned', 'ok']);
});

test('nesting through the streaming assembly: forward and newest first give the depths 0-3', () => {
  const forward: Invocation[] = [];
  foldInvocations(chainRecords(), (inv) => forward.push(inv), { alive: dead });
  assert.equal(forward.length, 1);
  assert.deepEqual(shape(forward[0]!), CHAIN_DEPTHS);
  const newest = [...invocationsNewestFirst([...chainRecords()].reverse(), { alive: dead })];
  assert.equal(newest.length, 1);
  assert.deepEqual(shape(newest[0]!.inv), CHAIN_DEPTHS);
});

test('nesting in tail: --json gives every call its depth and caller; the line puts › before each nested call', () => {
  const inv = indexed(chainRecords());
  const json = invocationJson(inv) as { steps: Array<{ plugin: string; depth: number; parent: string | null }> };
  assert.deepEqual(json.steps.map((s) => [s.plugin, s.depth, s.parent]), [
    ['bridge', 0, null], ['host-local', 1, CHAIN[0]!.spanId], ['static', 2, CHAIN[1]!.spanId], ['leaf', 3, CHAIN[2]!.spanId], ['portmap', 0, null],
  ]);
  assert.match(invocationLine(inv, false), /bridge \S+ › host-local \S+ › static \S+ › leaf \S+ · portmap \S+/);
});

test('nesting in show: the waterfall indents each call by its depth, its section says how deep and who called it', () => {
  const text = renderInvocation(indexed(chainRecords()), { colour: false, width: 100 });
  assert.match(text, /^bridge +│/m);
  assert.match(text, /^ {2}host-local +│/m);
  assert.match(text, /^ {4}static +│/m);
  assert.match(text, /^ {6}leaf +│/m, 'depth 3: six spaces');
  assert.match(text, /^portmap +│/m);
  assert.match(text, /── 0\. ↳ ↳ ↳ leaf ADD — ok/);
  assert.match(text, /── 0\. ↳ ↳ static ADD/);
  assert.match(text, new RegExp(`── 0\\. ↳ ↳ ↳ leaf ADD[^\\n]*\\n  called by: static \\(span ${CHAIN[2]!.spanId}\\), span ${CHAIN[3]!.spanId}`));
});

test('nesting in the TUI: the waterfall indents by depth and the detail tab names the caller and the depth', async () => {
  const inv = indexed(chainRecords());
  const React = (await import('react')).default;
  const { render, cleanup } = await import('ink-testing-library');
  const { Waterfall } = await import('../../tui/components/Waterfall.ts');
  const { DetailTabs } = await import('../../tui/components/DetailTabs.ts');
  const frame = render(React.createElement(Waterfall, { inv, columns: 100, nowMs: Date.now(), maxBars: 10 })).lastFrame() ?? '';
  assert.match(frame, /^bridge .*│/m);
  assert.match(frame, /^ host-local .*│/m);
  assert.match(frame, /^ {2}static .*│/m);
  assert.match(frame, /^ {3}leaf .*│/m, 'depth 3: three spaces');
  const tabs = render(React.createElement(DetailTabs, { inv, tab: 3, scroll: 0, height: 40, columns: 160, nowMs: Date.now() })).lastFrame() ?? '';
  assert.match(tabs, /↳host-local/);
  assert.match(tabs, /↳leaf/);
  assert.match(tabs, /called by static \(nested call, depth 3\)/);
  cleanup();
});

test('nesting in the spans: each nested call\'s parent is its caller at every depth', () => {
  const spans = spansFromInvocation(indexed(chainRecords()), { resource: emptyResource(), nodeName: 'n' });
  assert.deepEqual(spans.slice(1).map((s) => [s.name, s.parentSpanContext?.spanId]), [
    ['bridge ADD', INV], ['host-local ADD', CHAIN[0]!.spanId], ['static ADD', CHAIN[1]!.spanId], ['leaf ADD', CHAIN[2]!.spanId], ['portmap ADD', INV],
  ]);
});

test('assembly from partial records: an end alone gives empty identity fields and its exit code; an invocation without a start lists last; a nested call keeps its env', () => {
  const index = new InvocationIndex(dead);
  for (const r of chainRecords()) index.add(r);
  index.add(invocationEnd({ spanId: 'a0000000000000ff', exitCode: 1, status: 'error', command: 'DEL' }));
  const [first, last] = index.list();
  assert.equal(first!.spanId, INV);
  assert.deepEqual([last!.spanId, last!.command, last!.containerId, last!.netns, last!.ifname, last!.network, last!.cniVersion, last!.traceId, last!.exitCode, last!.startNs],
    ['a0000000000000ff', 'DEL', '', '', '', '', '', invocationEnd().traceId, 1, null]);
  assert.deepEqual(first!.steps[1]!.env, { CNI_COMMAND: 'ADD', CNI_IFNAME: 'eth0' });
  assert.equal(first!.steps[0]!.env, undefined, 'a delegate\'s env is the invocation\'s');
});
