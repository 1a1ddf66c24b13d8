/**
 * The TUI's reducer (tui/state.ts) and its journal feed (tui/use-journal.ts): what the list
 * holds, in which order, narrowed how, and where the cursor is, as records and keys arrive.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { Command } from '../../src/cni/env.ts';
import type { CniError } from '../../src/cni/errors.ts';
import type { JournalRecord } from '../../src/journal/record.ts';
import { Journal } from '../../src/journal/writer.ts';
import { elapsedMs } from '../../src/view/filter.ts';
import { windowSummary } from '../../src/view/stats.ts';
import { invocationIdOf } from '../../src/journal/identity.ts';
import { allInvocations, cursorIndex, detailInvocation, initialState, reduce, runningStep, summaryWindowMs, visibleRows, type Action, type State } from '../../tui/state.ts';
import { journalFeed, recentHistory } from '../../tui/journal-feed.ts';

const T0 = Date.UTC(2026, 10, 28, 8, 0, 0);
const ns = (ms: number): string => String(BigInt(Math.round(ms * 1000)) * 1000n);

interface StepSpec { readonly plugin: string; readonly ms?: number; readonly error?: CniError }
interface InvSpec {
  readonly id: string; readonly at: number; readonly steps: readonly StepSpec[];
  readonly pod?: string; readonly namespace?: string; readonly command?: Command; readonly containerId?: string;
  /** False: begun and not ended. */
  readonly ended?: boolean;
  readonly pid?: number;
}

/** The records the wrapper would write for `spec`, `at` ms after T0; a step without `ms` is running. */
function records(spec: InvSpec): JournalRecord[] {
  const command = spec.command ?? 'ADD';
  const key = { v: 1 as const, traceId: spec.id.padEnd(32, '0'), command };
  const start = T0 + spec.at;
  const out: JournalRecord[] = [{
    rec: 'invocation.begin', ...key, spanId: spec.id, traceFlags: '01', startNs: ns(start), containerId: spec.containerId ?? `ctr${spec.id}`.padEnd(64, '0'),
    netns: '/var/run/netns/x', ifname: 'eth0', network: 'podnet', cniVersion: '1.0.0', pod: { namespace: spec.namespace ?? 'shop', name: spec.pod ?? `pod-${spec.id}` },
    env: { CNI_COMMAND: command }, stdin: { type: 'cni-trace' }, delegates: spec.steps.map((s) => s.plugin), pid: spec.pid ?? 1,
  }];
  let t = start;
  for (const [index, step] of spec.steps.entries()) {
    const stepKey = { ...key, invocationSpanId: spec.id, spanId: `${spec.id}-s${index}`, index, plugin: step.plugin };
    out.push({ rec: 'step.begin', ...stepKey, path: `/opt/cni/bin/${step.plugin}`, startNs: ns(t), stdin: { type: step.plugin } });
    if (step.ms === undefined) return out;
    t += step.ms;
    out.push({
      rec: 'step.end', ...stepKey, endNs: ns(t), durationNs: ns(step.ms), pid: 2, exitCode: step.error ? 1 : 0, signal: null,
      status: step.error ? 'error' : 'ok', ...(step.error ? { error: step.error } : {}),
      stdout: { text: '{}', bytes: 2, truncated: false }, stderr: { text: '', bytes: 0, truncated: false },
    });
    if (step.error) break;
  }
  if (spec.ended === false) return out;
  const error = spec.steps.find((s) => s.error)?.error;
  out.push({
    rec: 'invocation.end', ...key, spanId: spec.id, endNs: ns(t), durationNs: ns(t - start), exitCode: error ? 1 : 0,
    status: error ? 'error' : 'ok', ...(error ? { error } : {}), stdout: { text: '{}', bytes: 2, truncated: false },
  });
  return out;
}

const CONFIG = { journal: '/var/log/cni-trace', nodeName: 'node-1', slowMs: 1000, windowMs: 300_000, traceUrl: 'http://localhost:16686/trace/{traceId}', maxInvocations: 2000 };

function stateWith(specs: readonly InvSpec[], config: Partial<typeof CONFIG> = {}, nowMs = T0 + 60_000): State {
  const s = initialState({ ...CONFIG, ...config }, 80, 24, nowMs);
  return reduce(s, { type: 'records', records: specs.flatMap(records) });
}

const ids = (s: State): string[] => visibleRows(s).map((inv) => inv.spanId);
const apply = (s: State, ...actions: Action[]): State => actions.reduce(reduce, s);
const typeFilter = (s: State, text: string): State => apply(s, { type: 'filter-start' }, { type: 'filter-type', text }, { type: 'filter-confirm' });
const cursorId = (s: State): string | undefined => visibleRows(s)[cursorIndex(s, visibleRows(s))]?.spanId;

const SCENE: readonly InvSpec[] = [
  { id: 'a', at: 1000, pod: 'cart-1', steps: [{ plugin: 'bridge', ms: 40 }, { plugin: 'portmap', ms: 5 }] },
  { id: 'b', at: 2000, pod: 'web-1', namespace: 'kube-system', steps: [{ plugin: 'bridge', ms: 30 }, { plugin: 'bandwidth', ms: 2, error: { code: 7, msg: 'bad rate' } }] },
  { id: 'c', at: 3000, pod: 'cart-2', steps: [{ plugin: 'bridge', ms: 1500 }], command: 'DEL' },
  { id: 'd', at: 4000, pod: 'db-1', containerId: 'feedface'.padEnd(64, '1'), steps: [{ plugin: 'bridge', ms: 50 }, { plugin: 'portmap' }], ended: false },
];

test('records fold into one row per invocation, newest first, each with its status', () => {
  const s = apply(stateWith(SCENE), { type: 'records', records: records({ id: 'e', at: 5000, steps: [{ plugin: 'bridge' }], ended: false }) },
    { type: 'wrappers-gone', spanIds: ['e'] });
  assert.deepEqual(visibleRows(s).map((i) => [i.spanId, i.status]), [['e', 'abandoned'], ['d', 'in-flight'], ['c', 'ok'], ['b', 'error'], ['a', 'ok']]);
  assert.equal(visibleRows(s).find((i) => i.spanId === 'b')?.error?.code, 7);
});

test('an in-flight row knows the step running now, and its age grows with the clock', () => {
  const s = stateWith(SCENE);
  const d = visibleRows(s).find((i) => i.spanId === 'd')!;
  assert.equal(runningStep(d)?.plugin, 'portmap');
  const later = reduce(s, { type: 'tick', nowMs: T0 + 90_000 });
  assert.equal(later.ticks, s.ticks + 1);
  assert.equal(later.nowMs, T0 + 90_000);
  assert.equal(runningStep(visibleRows(later).find((i) => i.spanId === 'a')!), undefined);
});

test('a call that began after the last tick moves the clock to its records, so its age never reads as zero', () => {
  const s = stateWith([], {}, T0); // the last tick: T0
  const late = reduce(s, { type: 'records', records: records({ id: 'z', at: 5000, steps: [{ plugin: 'bridge', ms: 30 }, { plugin: 'portmap' }], ended: false }) });
  assert.ok(late.nowMs >= T0 + 5030, `the clock reached the newest record (${late.nowMs - T0} ms after the tick)`);
  assert.ok((elapsedMs(visibleRows(late)[0]!, late.nowMs) ?? 0) >= 30, 'the in-flight call is at least as old as its finished step');
  assert.equal(reduce(late, { type: 'records', records: records(SCENE[0]!) }).nowMs, late.nowMs, 'older records never turn the clock back');
});

test('a record read twice changes nothing', () => {
  const s = stateWith(SCENE);
  const again = reduce(s, { type: 'records', records: records(SCENE[0]!) });
  assert.deepEqual(again.held.get('a')?.records, s.held.get('a')?.records);
  assert.deepEqual(ids(again), ids(s));
});

test('the text filter narrows by pod, namespace, plugin and container id as it is typed; Esc clears it', () => {
  const s = stateWith(SCENE);
  const typing = apply(s, { type: 'filter-start' }, { type: 'filter-type', text: 'car' }, { type: 'filter-type', text: 'tx' }, { type: 'filter-erase' });
  assert.equal(typing.prompt, 'cart');
  assert.deepEqual(ids(typing), ['c', 'a'], 'it applies as it is typed');
  assert.deepEqual(ids(reduce(typing, { type: 'filter-confirm' })), ['c', 'a']);
  assert.deepEqual(ids(typeFilter(s, 'KUBE-system')), ['b']);
  assert.deepEqual(ids(typeFilter(s, 'portmap')), ['d', 'a']);
  assert.deepEqual(ids(typeFilter(s, 'feedface')), ['d']);
  const cancelled = apply(typeFilter(s, 'cart'), { type: 'filter-start' }, { type: 'filter-type', text: 'db' }, { type: 'filter-cancel' });
  assert.deepEqual(ids(cancelled), ['d', 'c', 'b', 'a'], 'Esc clears the filter');
  assert.deepEqual(ids(reduce(typeFilter(s, 'cart'), { type: 'filter-clear' })), ['d', 'c', 'b', 'a'], 'Esc in the list clears it too');
  assert.deepEqual(ids(typeFilter(typeFilter(s, 'cart'), '')), ['d', 'c', 'b', 'a'], 'an empty filter clears it');
});

test('errors-only keeps failed and abandoned invocations', () => {
  const s = apply(stateWith(SCENE), { type: 'wrappers-gone', spanIds: ['d'] }, { type: 'toggle-errors' });
  assert.deepEqual(ids(s), ['d', 'b']);
  assert.deepEqual(ids(reduce(s, { type: 'toggle-errors' })), ['d', 'c', 'b', 'a']);
});

test('slow-only keeps invocations at or above the configured threshold, in-flight ones by their age', () => {
  const nowMs = T0 + 4000 + 700; // d has run 700 ms
  assert.deepEqual(ids(reduce(stateWith(SCENE, {}, nowMs), { type: 'toggle-slow' })), ['c']);
  assert.deepEqual(ids(reduce(stateWith(SCENE, { slowMs: 40 }, nowMs), { type: 'toggle-slow' })), ['d', 'c', 'a']);
  assert.deepEqual(ids(reduce(stateWith(SCENE, { slowMs: 600 }, nowMs), { type: 'toggle-slow' })), ['d', 'c']);
});

test('sort cycles between time (newest first) and duration (slowest first); follow mode turns the list over', () => {
  const s = stateWith(SCENE, {}, T0 + 4000 + 100); // d has run 100 ms
  const byDuration = reduce(s, { type: 'cycle-sort' });
  assert.equal(byDuration.sort, 'duration');
  assert.deepEqual(ids(byDuration), ['c', 'd', 'a', 'b']);
  assert.deepEqual(ids(reduce(byDuration, { type: 'cycle-sort' })), ['d', 'c', 'b', 'a']);
  const follow = reduce(s, { type: 'toggle-follow' });
  assert.deepEqual(ids(follow), ['a', 'b', 'c', 'd']);
  assert.equal(cursorId(follow), 'd', 'following at the bottom, the cursor is on the newest');
  const more = reduce(follow, { type: 'records', records: records({ id: 'f', at: 6000, steps: [{ plugin: 'bridge', ms: 1 }] }) });
  assert.equal(cursorId(more), 'f', 'and stays on the newest as they arrive');
});

test('pause freezes the list while new invocations still count in the header', () => {
  const s = reduce(stateWith(SCENE), { type: 'toggle-pause' });
  const newer = [{ id: 'n1', at: 10_000, steps: [{ plugin: 'bridge', ms: 3 }] }, { id: 'n2', at: 11_000, steps: [{ plugin: 'bridge', ms: 3 }] }];
  const paused = apply(s, { type: 'records', records: newer.flatMap(records) },
    { type: 'records', records: records({ ...SCENE[3]!, steps: [{ plugin: 'bridge', ms: 50 }, { plugin: 'portmap', ms: 5 }], ended: true }) });
  assert.deepEqual(ids(paused), ['d', 'c', 'b', 'a']);
  assert.equal(visibleRows(paused)[0]?.status, 'ok', 'rows in the list still show how they end');
  assert.equal(paused.arrivedWhilePaused, 2);
  assert.equal(windowSummary(allInvocations(paused), paused.nowMs, paused.config.windowMs).perMinute.toFixed(1), '1.2', '6 invocations in 5 minutes');
  const resumed = reduce(paused, { type: 'toggle-pause' });
  assert.deepEqual(ids(resumed), ['n2', 'n1', 'd', 'c', 'b', 'a']);
  assert.equal(resumed.arrivedWhilePaused, 0);
});

test('the cursor stays on its invocation as new ones arrive, and rides the newest from the top row', () => {
  const s = stateWith(SCENE);
  assert.equal(cursorId(s), 'd');
  const moved = apply(s, { type: 'move', by: 1 }, { type: 'move', by: 1 });
  assert.equal(cursorId(moved), 'b');
  const arrived = reduce(moved, { type: 'records', records: records({ id: 'g', at: 7000, steps: [{ plugin: 'bridge', ms: 1 }] }) });
  assert.equal(cursorId(arrived), 'b');
  assert.equal(cursorIndex(arrived, visibleRows(arrived)), 3);
  assert.equal(cursorId(reduce(s, { type: 'records', records: records({ id: 'g', at: 7000, steps: [{ plugin: 'bridge', ms: 1 }] }) })), 'g');
  assert.equal(cursorId(apply(moved, { type: 'move', by: 99 })), 'a', 'moves stop at the ends');
  assert.equal(apply(moved, { type: 'move', by: -99 }).selectedId, null, 'back on the top row, the cursor rides the newest again');
});

test('memory is bounded: the first-seen finished invocations go, running and opened ones stay', () => {
  const many = Array.from({ length: 6 }, (_, i) => ({ id: `m${i}`, at: 10_000 + i, steps: [{ plugin: 'bridge', ms: 1 }] }));
  const opened = reduce(stateWith([{ ...SCENE[3]!, at: 0 }, ...SCENE.slice(0, 2)], { maxInvocations: 3 }), { type: 'move', by: 1 });
  const s = apply(opened, { type: 'open' }, { type: 'records', records: many.flatMap(records) });
  assert.equal(s.detailId, 'a');
  assert.deepEqual([...s.held.keys()].sort(), ['a', 'd', 'm4', 'm5']);
  assert.equal(detailInvocation(s)?.spanId, 'a');
  assert.equal(summaryWindowMs(s), 60_000 - 10_003, 'the header counts only since the latest dropped (m3) started');
  assert.equal(summaryWindowMs(stateWith(SCENE)), 300_000);
  assert.equal(summaryWindowMs(reduce(stateWith(SCENE), { type: 'records', records: [], horizonMs: T0 })), 300_000, 'an empty batch changes nothing');
  assert.equal(summaryWindowMs(reduce(stateWith(SCENE), { type: 'records', records: records(SCENE[0]!), horizonMs: T0 + 30_000 })), 30_000);
  const original = stateWith(SCENE);
  reduce(original, { type: 'records', records: many.flatMap(records) });
  assert.equal(original.held.size, 4, 'the reducer never changes the state it was given');
});

test('a resize is remembered for the layout, a size not known is ignored', () => {
  const s = reduce(stateWith(SCENE), { type: 'resize', columns: 50, rows: 12 });
  assert.deepEqual([s.columns, s.rows], [50, 12]);
  const unknown = reduce(s, { type: 'resize', columns: Number.NaN, rows: 0 });
  assert.deepEqual([unknown.columns, unknown.rows], [50, 12], 'a stream that does not know its size keeps the last one');
});

test('Enter opens the selected invocation on its failed step, Tab cycles the sections, Esc goes back', () => {
  const s = apply(stateWith(SCENE), { type: 'move', by: 2 }, { type: 'open' });
  assert.equal(s.screen, 'detail');
  assert.equal(detailInvocation(s)?.spanId, 'b');
  assert.equal(s.detailTab, 1, 'the bandwidth step failed');
  assert.equal(apply(s, { type: 'cycle-tab', by: 1 }).detailTab, 2, 'then the invocation');
  assert.equal(apply(s, { type: 'cycle-tab', by: 1 }, { type: 'cycle-tab', by: 1 }).detailTab, 0);
  assert.equal(apply(s, { type: 'scroll-detail', by: 5, max: 3 }).detailScroll, 3);
  assert.equal(apply(s, { type: 'scroll-detail', by: 2, max: 9 }, { type: 'cycle-tab', by: -1 }).detailScroll, 0);
  const back = reduce(s, { type: 'back' });
  assert.equal(back.screen, 'list');
  assert.equal(cursorId(back), 'b');
  assert.equal(apply(s, { type: 'toggle-help' }, { type: 'back' }).screen, 'detail', 'Esc closes help first');
  assert.equal(reduce(s, { type: 'quit' }).quit, true);
});

test('history: the last N invocations and every running one, in the order first seen; what was left out stays out', () => {
  const history = recentHistory(2, (begin) => begin.pid === 7);
  const many = Array.from({ length: 150 }, (_, i) => ({ id: `n${i}`, at: 10_000 + i, steps: [{ plugin: 'bridge', ms: 1 }] }));
  const input = [
    { id: 'run', at: 0, pid: 7, ended: false, steps: [{ plugin: 'bridge' }] },
    { id: 'dead', at: 1, pid: 8, ended: false, steps: [{ plugin: 'bridge' }] },
    ...many,
  ].flatMap(records);
  for (const rec of [...input, records(many[0]!).at(-1)!]) history.add(rec);
  const kept = history.result();
  assert.deepEqual([...new Set(kept.records.map(invocationIdOf))], ['run', 'n148', 'n149'], 'n0 ended late, after it was left out: still out');
  assert.equal(kept.records.filter((r) => invocationIdOf(r) === 'n149').length, 4);
  assert.equal(kept.horizonMs, T0 + 10_147, 'n147 is the latest left out');
  const all = recentHistory(9, () => false);
  for (const rec of SCENE.flatMap(records)) all.add(rec);
  assert.deepEqual(all.result(), { records: SCENE.flatMap(records), horizonMs: -Infinity }, 'nothing left out');
});

const root = mkdtempSync(join(tmpdir(), 'cnitrace-unit-tui-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('the journal feed gives the history at once, then new records, and says which wrappers died', async () => {
  const dir = join(root, 'feed');
  const journal = new Journal({ dir, maxFileBytes: 1 << 20, maxFiles: 4, onDegraded: (r) => assert.fail(r) });
  // h began long ago and its wrapper is dead: abandoned history beyond the last 2. d still runs.
  const history = [{ id: 'h', at: 0, pid: 200, ended: false, steps: [] }, ...SCENE.map((spec) => ({ ...spec, pid: 100 }))];
  // On disk, ids are hex as the wrapper writes them (readers skip records with other ids).
  const hex = (id: string, width: number): string => Buffer.from(id).toString('hex').padEnd(width, '0').slice(0, width);
  const onDisk = (rec: JournalRecord): JournalRecord => ({
    ...rec, traceId: hex(rec.traceId.replace(/0+$/, ''), 32), spanId: hex(rec.spanId, 16),
    ...('invocationSpanId' in rec ? { invocationSpanId: hex(rec.invocationSpanId, 16) } : {}),
  }) as JournalRecord;
  for (const rec of history.flatMap(records)) journal.append(onDisk(rec));
  const batches: JournalRecord[][] = [];
  const gone: string[] = [];
  const horizons: number[] = [];
  const until = async (done: () => boolean): Promise<void> => {
    for (let waited = 0; !done() && waited < 3000; waited += 10) await new Promise((r) => setTimeout(r, 10));
  };
  const stop = journalFeed({ dir, last: 2, alive: (pid) => pid === 100, livenessMs: 10 })({
    records: (b, horizon) => { batches.push([...b]); if (horizon !== undefined) horizons.push(horizon); },
    gone: (g) => { for (const id of g) gone.push(id); },
  });
  try {
    assert.deepEqual([...new Set(batches[0]!.map((r) => r.traceId))], [hex('c', 32), hex('d', 32)]);
    assert.deepEqual(horizons, [T0 + 2000], 'b is the latest left out');
    journal.append(onDisk(records({ id: 'd', at: 4000, steps: [{ plugin: 'bridge', ms: 50 }, { plugin: 'portmap', ms: 1 }] }).at(-1)!));
    await until(() => batches.length >= 2);
    assert.equal(batches[1]?.[0]?.rec, 'invocation.end');
    journal.append(onDisk(records({ id: 'k', at: 20_000, pid: 300, ended: false, steps: [] })[0]!));
    await until(() => gone.length > 0);
    assert.deepEqual(gone, [hex('k', 16)], 'only wrappers of invocations it delivered');
  } finally {
    stop();
  }
});
