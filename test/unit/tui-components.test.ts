/**
 * The TUI as a person sees it: the App rendered with ink-testing-library from fixed records
 * and a fixed clock, keys typed on its stdin, frames read as text (ANSI stripped) and, for
 * colour, as raw frames. ink-testing-library's stdout is no TTY, so chalk would drop colour:
 * FORCE_COLOR is set before ink loads, which is why ink and the App are imported dynamically.
 */
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import type { CniError } from '../../src/cni/errors.ts';
import type { JournalRecord } from '../../src/journal/record.ts';
import type { FeedSink } from '../../tui/journal-feed.ts';

process.env.FORCE_COLOR = '1';
const React = (await import('react')).default;
const { render, cleanup } = await import('ink-testing-library');
const { App } = await import('../../tui/app.ts');
const { runTui, tuiConfig } = await import('../../tui/run.ts');

afterEach(cleanup);

const T0 = Date.UTC(2026, 10, 28, 8, 0, 0);
const NOW = T0 + 5000;
const ns = (ms: number): string => String(BigInt(ms) * 1_000_000n);

interface StepSpec { readonly plugin: string; readonly ms?: number; readonly error?: CniError; readonly stderr?: string }

/** The records of one ADD `at` ms after T0; a step without `ms` is still running (and so is the invocation). */
function invocation(id: string, at: number, namespace: string, pod: string, steps: readonly StepSpec[], command: 'ADD' | 'STATUS' | 'GC' = 'ADD'): JournalRecord[] {
  const key = { v: 1 as const, traceId: id.repeat(32), command };
  const start = T0 + at;
  const out: JournalRecord[] = [{
    rec: 'invocation.begin', ...key, spanId: id.repeat(16), traceFlags: '01', startNs: ns(start), containerId: `c0ffee${id}`.padEnd(64, '7'),
    netns: '/var/run/netns/x', ifname: 'eth0', network: 'k8s-pod-network', cniVersion: '1.0.0', pod: { namespace, name: pod },
    env: { CNI_COMMAND: command, CNI_IFNAME: 'eth0' }, stdin: { type: 'cni-trace' }, delegates: steps.map((s) => s.plugin), pid: 1,
  }];
  let t = start;
  for (const [index, step] of steps.entries()) {
    const stepKey = { ...key, invocationSpanId: id.repeat(16), spanId: `${id}${index}`.repeat(8), index, plugin: step.plugin };
    out.push({ rec: 'step.begin', ...stepKey, path: `/opt/cni/bin/${step.plugin}`, startNs: ns(t), stdin: { type: step.plugin, mtu: 1450 } });
    if (step.ms === undefined) return out;
    t += step.ms;
    out.push({
      rec: 'step.end', ...stepKey, endNs: ns(t), durationNs: ns(step.ms), pid: 2, exitCode: step.error ? 1 : 0, signal: null,
      status: step.error ? 'error' : 'ok', ...(step.error ? { error: step.error } : {}),
      stdout: { text: '{"cniVersion":"1.0.0"}', bytes: 22, truncated: false }, stderr: { text: step.stderr ?? '', bytes: 0, truncated: false },
    });
  }
  const error = steps.find((s) => s.error)?.error;
  out.push({
    rec: 'invocation.end', ...key, spanId: id.repeat(16), endNs: ns(t), durationNs: ns(t - start), exitCode: error ? 1 : 0,
    status: error ? 'error' : 'ok', ...(error ? { error } : {}), stdout: { text: '{}', bytes: 2, truncated: false },
  });
  return out;
}

const SCENE = [
  ...invocation('a', 1000, 'shop', 'cart-1', [{ plugin: 'bridge', ms: 40 }, { plugin: 'portmap', ms: 5 }]),
  ...invocation('b', 2000, 'kube-system', 'web-1', [{ plugin: 'bridge', ms: 30 }, { plugin: 'bandwidth', ms: 2, error: { code: 7, msg: 'bad rate' }, stderr: 'warn\x1b[2J\n' }]),
  ...invocation('c', 3000, 'shop', 'cart-2', [{ plugin: 'bridge', ms: 1500 }]),
  ...invocation('d', 4000, 'data', 'db-1', [{ plugin: 'bridge', ms: 50 }, { plugin: 'portmap' }]),
];

interface Options { readonly columns?: number; readonly now?: () => number; readonly tickMs?: number; readonly traceUrl?: string }

/**
 * The App on the scene, 24 rows high, its clock standing still unless `now` says otherwise:
 * `frame` is the last frame with ANSI stripped, `raw` as written; `until` waits (3 s at most)
 * for a frame; `type` writes keys to stdin; `resize` emits `resize` on the test stdout (100
 * columns, no rows); `sink` delivers more records; `stopped` says whether the feed stopped.
 */
function app(opts: Options = {}) {
  let sink: FeedSink | undefined;
  let stopped = false;
  const config = { journal: '/var/log/cni-trace', nodeName: 'node-1', slowMs: 1000, windowMs: 300_000, traceUrl: opts.traceUrl ?? 'http://localhost:16686/trace/{traceId}', maxInvocations: 2000 };
  const feed = (s: FeedSink): (() => void) => {
    sink = s;
    s.records(SCENE);
    return () => { stopped = true; };
  };
  const r = render(React.createElement(App, { config, feed, columns: opts.columns ?? 80, rows: 24, now: opts.now ?? (() => NOW), tickMs: opts.tickMs ?? 0, batchMs: 0 }));
  const raw = (): string => r.lastFrame() ?? '';
  const frame = (): string => raw().replace(/\x1b\[[0-9;]*m/g, '');
  return {
    raw,
    frame,
    until: async (ok: (frame: string) => boolean): Promise<string> => {
      for (const start = Date.now(); !ok(frame()); await tick()) {
        if (Date.now() - start > 3000) assert.fail(`the frame never came; the last one:\n${frame()}`);
      }
      return frame();
    },
    type: async (...keys: string[]): Promise<void> => {
      for (const key of keys) {
        r.stdin.write(key);
        await tick();
      }
    },
    resize: () => void r.stdout.emit('resize'),
    sink: () => sink!,
    stopped: () => stopped,
  };
}

const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 5));
const line = (frame: string, containing: string): string | undefined => frame.split('\n').find((l) => l.includes(containing));
const rowsOf = (frame: string): string[] => frame.split('\n').filter((l) => /^[ ›] (08:|ADD )/.test(l));
/** The scene is on screen: four rows. */
const loaded = (frame: string): boolean => rowsOf(frame).length === 4;

test('the header shows the node, the journal, and figures over the rows shown: count, rate, ADD p50/p95, errors, in-flight', async () => {
  const ui = app();
  const [first, second] = (await ui.until(loaded)).split('\n');
  assert.match(first!, /^cni-trace · node node-1 · journal \/var\/log\/cni-trace +live$/);
  // 4 invocations in 5 minutes; ADD durations 45, 32 and 1500 ms (d still runs); b failed.
  assert.equal(second, '4 shown · 0.8/min (last 5m) · ADD p50 45.0ms p95 1.50s · errors 1 · in-flight 1');
  // Filtered to the cart pods, the header counts them: no error among them.
  await ui.type('/', 'cart', '\r');
  assert.equal((await ui.until((f) => rowsOf(f).length === 2)).split('\n')[1], '2 shown · 0.4/min (last 5m) · ADD p50 45.0ms p95 1.50s · errors 0 · in-flight 0');
});

test('at 80 columns each invocation is a row: mark, time, command, pod, elapsed, status, slowest step, network', async () => {
  const lines = (await app().until(loaded)).split('\n');
  assert.equal(lines[2]?.trimEnd(), '  TIME (UTC)   CMD    NAMESPACE/POD     ELAPSED STATUS    SLOWEST STEP  NETWORK');
  assert.deepEqual(lines.slice(3, 7).map((l) => l.trimEnd()), [
    '› 08:00:04.000 ADD    data/db-1           1.00s ⠙ portmap bridge 50.0ms k8s-pod…',
    '  08:00:03.000 ADD    shop/cart-2         1.50s slow      bridge 1.50s  k8s-pod…',
    '  08:00:02.000 ADD    kube-system/web-1  32.0ms error 7   bridge 30.0ms k8s-pod…',
    '  08:00:01.000 ADD    shop/cart-1        45.0ms ok        bridge 40.0ms k8s-pod…',
  ]);
  assert.ok(lines.every((l) => [...l].length <= 80), 'nothing wider than the terminal');
  assert.equal(lines.length, 23, 'one line short of the terminal, so Ink redraws in place');
});

test('columns are as wide as their content; wider terminals add network, interface, container; narrower ones cut pod and step, then drop the time', async () => {
  const at100 = await app({ columns: 100 }).until(loaded);
  assert.equal(at100.split('\n')[2]?.trimEnd(), '  TIME (UTC)   CMD    NAMESPACE/POD     ELAPSED STATUS    SLOWEST STEP  NETWORK         IF');
  assert.equal(line(at100, 'web-1')?.trimEnd(), '  08:00:02.000 ADD    kube-system/web-1  32.0ms error 7   bridge 30.0ms k8s-pod-network eth0', 'no column wider than its content');
  const at70 = await app({ columns: 70 }).until(loaded);
  assert.equal(at70.split('\n')[2]?.trimEnd(), '  TIME (UTC)   CMD    NAMESPACE/POD    ELAPSED STATUS    SLOWEST STEP');
  const at50 = await app({ columns: 50 }).until(loaded);
  const lines = at50.split('\n');
  assert.equal(lines[0]?.trimEnd(), 'node-1                                        live');
  assert.equal(lines[2]?.trimEnd(), '  CMD    NAMESPACE… ELAPSED STATUS    SLOWEST S…');
  assert.equal(lines[5]?.trimEnd(), '  ADD    kub…/web-1  32.0ms error 7   bridge 30…');
  assert.equal(line(at50, 'c0ffee'), undefined, 'no container id');
});

test('a terminal resize lays the list out again', async () => {
  const ui = app({ columns: 50 });
  assert.equal(line(await ui.until(loaded), 'web-1')?.trimEnd(), '  ADD    kub…/web-1  32.0ms error 7   bridge 30…');
  ui.resize();
  const wide = await ui.until((f) => line(f, 'web-1')?.includes('eth0') === true);
  assert.equal(line(wide, 'web-1')?.trimEnd(), '  08:00:02.000 ADD    kube-system/web-1  32.0ms error 7   bridge 30.0ms k8s-pod-network eth0');
});

test('a failed invocation says error and its CNI code, in red; e leaves only the errors', async () => {
  const ui = app();
  assert.match(line(await ui.until(loaded), 'web-1') ?? '', /error 7 +bridge 30\.0ms/);
  assert.match(line(ui.raw(), 'web-1') ?? '', /\x1b\[31merror 7/);
  assert.match(line(ui.raw(), 'shop/cart-2') ?? '', /\x1b\[33m {2}1\.50s slow/, 'slow is yellow');
  await ui.type('e');
  assert.match(rowsOf(await ui.until((f) => rowsOf(f).length === 1))[0]!, /web-1 .* error 7 /);
});

test('an in-flight row shows the plugin running now, its elapsed time and spinner moving with each tick', async () => {
  let ticks = 0;
  const ui = app({ now: () => NOW + 250 * ticks++, tickMs: 5 });
  const spinner = (l: string): string => /([⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]) portmap/.exec(l)![1]!;
  const elapsed = (l: string): number => Number(/ (\d+\.\d+)s /.exec(l)![1]);
  const before = line(await ui.until(loaded), 'data/db-1')!;
  assert.match(before, / portmap bridge 50\.0ms/, 'running portmap; the slowest finished step so far');
  const after = line(await ui.until((f) => spinner(line(f, 'data/db-1')!) !== spinner(before)), 'data/db-1')!;
  assert.ok(elapsed(after) > elapsed(before), `${after} runs on from ${before}`);
});

test('typing /cart narrows the list to the cart pods as it is typed; Enter keeps it, Esc clears it', async () => {
  const ui = app();
  await ui.until(loaded);
  await ui.type('/', 'cart');
  const typing = await ui.until((f) => /filter \/cart {3}applies as you type/.test(f));
  assert.equal(rowsOf(typing).length, 2, 'applied while typing');
  await ui.type('\r');
  const frame = await ui.until((f) => rowsOf(f).length === 2 && f.includes('· /cart'));
  assert.deepEqual(rowsOf(frame).map((l) => l.split(/ +/)[3]), ['shop/cart-2', 'shop/cart-1']);
  assert.match(frame, /2 of 4 · newest first · \/cart/);
  await ui.type('\x1b');
  await ui.until(loaded);
  await ui.type('/', 'status:slow');
  assert.deepEqual(rowsOf(await ui.until((f) => rowsOf(f).length === 2)).map((l) => l.split(/ +/)[3]), ['data/db-1', 'shop/cart-2'], 'the filter line takes status:slow (≥ 1 s here, in flight by its age)');
});

test('g and G jump to the first and last row; the selected row is marked without colour', async () => {
  const ui = app();
  await ui.until(loaded);
  await ui.type('G');
  const last = await ui.until((f) => rowsOf(f)[3]?.startsWith('›') === true);
  assert.equal(rowsOf(last).filter((l) => l.startsWith('›')).length, 1);
  await ui.type('g');
  await ui.until((f) => rowsOf(f)[0]?.startsWith('›') === true);
  assert.match(ui.raw().split('\n').find((l) => l.includes('data/db-1'))!, /\x1b\[7m/, 'and inverse, with colour');
});

test('keys typed faster than they are read, arriving as one chunk, act one by one', async () => {
  const ui = app();
  await ui.until(loaded);
  await ui.type('/cart\r');
  await ui.until((f) => rowsOf(f).length === 2 && f.includes('2 of 4 · newest first · /cart'));
  await ui.type('/wex\x7fb-1\rj');
  await ui.until((f) => rowsOf(f).length === 1 && f.includes('1 of 4 · newest first · /web-1'));
});

test('Enter opens the details: ids, the error, one waterfall bar per step, the trace link; PgDn, Tab and Esc', async () => {
  const ui = app({ traceUrl: 'https://tempo.example/trace/{traceId}' });
  await ui.until(loaded);
  await ui.type('j', 'j', '\r');
  const frame = await ui.until((f) => f.includes('trace link'));
  assert.match(frame, /^ADD kube-system\/web-1 error 7 32\.0ms$/m);
  assert.match(frame, /^trace b{32} · span b{16}$/m);
  assert.match(frame, /^error 7: bad rate$/m);
  assert.match(frame, /^trace link https:\/\/tempo\.example\/trace\/b{32}$/m);
  const bars = frame.split('\n').filter((l) => l.includes('█'));
  assert.deepEqual(bars.map((l) => l.split(/ +/).slice(0, 2)), [['bridge', '30.0ms'], ['bandwidth', '2.0ms']]);
  assert.match(frame, /^ bridge \[bandwidth\] invocation/m, 'a tab per step, then the invocation; the selected one bracketed');
  assert.match(frame, /^bandwidth ADD · error · 2\.0ms · exit 1$/m, 'opens on the failed step');
  assert.match(frame, / 1-10\/20$/m);
  await ui.type('\x1b[6~');
  const scrolled = await ui.until((f) => / 11-20\/20$/m.test(f));
  assert.match(scrolled, /^code 7: bad rate$/m, 'PgDn scrolls a page, no further than the end');
  assert.match(scrolled, /^── stderr ──\nwarn\\x1b\[2J$/m, 'stderr is shown with its control characters escaped');
  await ui.type('\t');
  await ui.until((f) => /^CNI_IFNAME=eth0$/m.test(f));
  await ui.type('\x1b');
  await ui.until(loaded);
});

test('? shows the help; the footer always names the keys, f included', async () => {
  const ui = app();
  assert.match(await ui.until(loaded), /↑↓ move ⏎ open space pause \/ filter e err s slow o sort f follow \? help q quit$/);
  await ui.type('?');
  const help = await ui.until((f) => f.includes('follow at the bottom'));
  assert.match(help, /f {6}follow at the bottom: oldest first, the cursor follows the newest;/);
  assert.match(help, /s {2}slow only \(≥ 1000 ms\)/);
  await ui.type('?');
  await ui.until(loaded);
});

test('space pauses the list; what arrives meanwhile is counted, not shown', async () => {
  const ui = app();
  await ui.until(loaded);
  await ui.type(' ');
  await ui.until((f) => f.includes('PAUSED · 0 new'));
  ui.sink().records(invocation('e', 4500, 'shop', 'cart-3', [{ plugin: 'bridge', ms: 3 }]));
  const paused = await ui.until((f) => f.includes('PAUSED · 1 new'));
  assert.match(paused.split('\n')[1]!, /^4 shown · 0\.8\/min/, 'the header counts what the paused list shows');
  assert.equal(line(paused, 'cart-3'), undefined);
  await ui.type(' ');
  await ui.until((f) => line(f, 'cart-3') !== undefined);
});

test('journal text never reaches the terminal raw, and q quits (the feed is stopped)', async () => {
  const ui = app();
  await ui.until(loaded);
  ui.sink().records(invocation('f', 4800, 'shop', 'evil\x1b[2J', [{ plugin: 'bridge', ms: 3 }]));
  await ui.until((f) => line(f, '/evil\\x1b[2J ') !== undefined);
  assert.ok(!ui.raw().includes('\x1b[2J'));
  await ui.type('q');
  for (const start = Date.now(); !ui.stopped() && Date.now() - start < 3000;) await tick();
  assert.equal(ui.stopped(), true);
});

test('runTui refuses at once, saying why, without a terminal or with an option out of range', async () => {
  const said: string[] = [];
  const stderr = { write: (text: string) => said.push(text) } as unknown as NodeJS.WriteStream;
  const tty = { isTTY: true } as unknown as NodeJS.ReadStream & NodeJS.WriteStream;
  const pipe = { isTTY: false } as unknown as NodeJS.ReadStream;
  assert.equal(await runTui({ journal: '/nonexistent', stdin: pipe, stdout: tty, stderr }), 1);
  assert.equal(await runTui({ journal: '/nonexistent', slowMs: -1, stdin: tty, stdout: tty, stderr }), 1);
  assert.deepEqual(said, [
    'cni-trace: tui: needs a terminal on stdin and stdout (in a pipe, use cni-trace tail --follow)\n',
    'cni-trace: tui: --slow must be a number of ms ≥ 0, not -1\n',
  ]);
  assert.deepEqual(tuiConfig({ journal: '/j', nodeName: 'n' }), {
    journal: '/j', nodeName: 'n', slowMs: null, windowMs: 300_000, traceUrl: 'http://localhost:16686/trace/{traceId}', maxInvocations: 2000,
  });
  assert.equal(tuiConfig({ journal: '/j', last: 1.5 }), '--last must be a whole number ≥ 0, not 1.5');
});

test('CNI 1.1 STATUS and GC are rows of their own, and open on one waterfall bar per delegate', async () => {
  const ui = app({ columns: 100 });
  await ui.until(loaded);
  ui.sink().records([
    ...invocation('e', 4400, '', '', [{ plugin: 'bridge', ms: 3 }, { plugin: 'portmap', ms: 2 }], 'STATUS'),
    ...invocation('f', 4500, '', '', [{ plugin: 'bridge', ms: 4 }, { plugin: 'portmap', ms: 6 }], 'GC'),
  ]);
  const frame = await ui.until((f) => /\bGC\b/.test(f) && /\bSTATUS\b/.test(f));
  const rows = frame.split('\n').filter((l) => /^[ ›] 08:/.test(l));
  assert.deepEqual(rows.slice(0, 2).map((l) => l.split(/ +/)[2]), ['GC', 'STATUS'], 'newest first, each with its command');
  await ui.type('\r');
  const details = await ui.until((f) => f.includes('trace link'));
  assert.match(details, /^GC /m);
  const bars = details.split('\n').filter((l) => l.includes('█'));
  assert.deepEqual(bars.map((l) => l.split(/ +/).slice(0, 2)), [['bridge', '4.0ms'], ['portmap', '6.0ms']]);
});
