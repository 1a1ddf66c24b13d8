/**
 * The pieces behind "the 3 a.m. question": --since as a duration or an RFC 3339 time, the TUI's
 * filter line, "did you mean", what slow means without a threshold, and cni-trace's own time
 * between and around the plugins.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Invocation, Step } from '../../src/journal/invocations.ts';
import { closest } from '../../src/spelling.ts';
import { parseSince } from '../../src/view/duration.ts';
import { matches, parseFilterText } from '../../src/view/filter.ts';
import { ownTime, slowestPart } from '../../src/view/own-time.ts';
import { slowBaseline } from '../../src/view/slow.ts';

const T0 = 1_764_000_000_000; // ms
const ns = (ms: number): string => String(BigInt(Math.round(ms * 1000)) * 1000n);

function step(plugin: string, from: number, ms: number, depth = 0): Step {
  return {
    spanId: `${plugin}${from}`, index: 0, plugin, command: 'ADD', path: null, startNs: ns(T0 + from), endNs: ns(T0 + from + ms), durationMs: ms,
    exitCode: 0, signal: null, status: 'ok', stdin: undefined, stdout: undefined, stderr: undefined, depth,
  };
}

function inv(id: string, ms: number, opts: { network?: string; command?: string; steps?: Step[]; at?: number } = {}): Invocation {
  const at = opts.at ?? 0;
  return {
    traceId: id.padEnd(32, '0'), spanId: id.padEnd(16, '0'), command: opts.command ?? 'ADD', containerId: id, netns: '', ifname: 'eth0',
    network: opts.network ?? 'net', cniVersion: '1.0.0', pod: { namespace: 'ns', name: id }, pid: 1, startNs: ns(T0 + at), endNs: ns(T0 + at + ms),
    durationMs: ms, exitCode: 0, status: 'ok', env: {}, stdin: undefined, stdout: undefined, steps: opts.steps ?? [],
  } as Invocation;
}

test('--since takes a duration back from now or an RFC 3339 time, and names bad text', () => {
  assert.equal(parseSince('5m', T0), T0 - 300_000);
  assert.equal(parseSince('2026-12-02T15:04:05Z', T0), Date.parse('2026-12-02T15:04:05Z'));
  assert.equal(parseSince('2026-12-02T16:04:05+01:00', T0), Date.parse('2026-12-02T15:04:05Z'));
  assert.equal(parseSince('2026-11-28T07:42:14.423916188Z', T0), Date.parse('2026-11-28T07:42:14.423Z'), 'the journal\'s own nanosecond form');
  assert.throws(() => parseSince('yesterday', T0), /not a duration or an RFC 3339 time: "yesterday"/);
});

test('the TUI filter line: commands, status, slower-than and text', () => {
  assert.deepEqual(parseFilterText('ADD status:slow >2s web'), { command: 'ADD', status: 'slow', slowerThanMs: 2000, text: 'web' });
  assert.deepEqual(parseFilterText('cmd:del >500'), { command: 'DEL', slowerThanMs: 500 });
  assert.deepEqual(parseFilterText('status:nope >soon'), { text: 'status:nope >soon' }, 'half-typed words are text, never an error');
  assert.deepEqual(parseFilterText('  '), {});
  assert.equal(matches(inv('a', 10), parseFilterText('DEL')), false);
  assert.equal(matches(inv('a', 10), parseFilterText('ADD >5ms')), true);
});

test('"did you mean" finds a close known word and nothing for a far one', () => {
  assert.equal(closest('delegate', ['delegates', 'journalDir', 'redact']), 'delegates');
  assert.equal(closest('--journl', ['--journal', '--json', '--last']), '--journal');
  assert.equal(closest('tial', ['tail', 'tui', 'stats']), 'tail', 'a swap of two letters');
  assert.equal(closest('frobnicate', ['tail', 'show']), undefined);
});

test('slow without a threshold: above p90 and 3x the median of its network and command; a small group is judged against its command', () => {
  const normal = Array.from({ length: 10 }, (_, i) => inv(`n${i}`, 100 + i, { at: i }));
  const odd = inv('odd', 1500, { network: 'other' });
  const busy = Array.from({ length: 10 }, (_, i) => inv(`b${i}`, 2000 + i * 10, { network: 'busy', at: i }));
  const base = slowBaseline([...normal, odd]);
  assert.equal(base.isSlow(odd), true, 'one call on its own network: against all ADDs');
  assert.equal(normal.some((i) => base.isSlow(i)), false);
  const withBusy = slowBaseline([...normal, ...busy]);
  assert.equal(busy.filter((i) => withBusy.isSlow(i)).length, 0, 'a busy network\'s ordinary 2 s ADDs are not slow');
  assert.equal(base.isSlow(inv('x', 400)), true);
  assert.equal(base.isSlow(inv('d', 400, { command: 'DEL' })), false, 'no DELs to compare with');
  const fixed = slowBaseline([], 1000);
  assert.deepEqual([fixed.isSlow(inv('a', 999)), fixed.isSlow(inv('b', 1000))], [false, true]);
});

test('cni-trace\'s own time: before the first delegate, between delegates and after the last; nested calls do not count twice', () => {
  const i = inv('o', 100, { steps: [step('bridge', 5, 40), step('host-local', 10, 20, 1), step('portmap', 50, 30)] });
  const own = ownTime(i)!;
  assert.deepEqual(own.gaps.map((g) => [g.phase, Number(g.endNs - g.startNs) / 1e6]), [['before', 5], ['between', 5], ['after', 20]]);
  assert.equal(own.ms, 30);
  assert.deepEqual(slowestPart(i), { plugin: 'bridge', ms: 40, index: 0 });
  assert.deepEqual(slowestPart(inv('p', 100, { steps: [step('bridge', 60, 10)] }))?.plugin, 'cni-trace', 'its own time when that is the most');
  assert.deepEqual(ownTime(inv('r', 3))!.gaps.map((g) => g.phase), ['before'], 'a refused call is all its own time');
  assert.equal(ownTime({ ...i, endNs: null, durationMs: null, status: 'in-flight' }), null);
});
