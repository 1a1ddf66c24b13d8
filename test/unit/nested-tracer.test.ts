/**
 * The tracer's own rules (src/plugin/nested.ts) without running the shim: the calls are spooled
 * by hand in the shim's formats. What create leaves behind when it fails (directories, open
 * descriptors), its modes and free-space floor (on a small tmpfs: root only), the CNI_PATH and
 * PATH it hands out, scrub, and collect's order, parents and spool clean-up.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, closeSync, existsSync, fstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { NestedTracer, parseBegin } from '../../src/plugin/nested.ts';
import { DIR_FLAGS } from '../../src/plugin/run-dir.ts';
import { ensureShim } from '../../scripts/build-shim.ts';

const root = mkdtempSync(join(tmpdir(), 'cnitrace-unit-nested-tracer-'));
const bin = join(root, 'bin');
before(() => {
  ensureShim();
  mkdirSync(bin);
  writeFileSync(join(bin, 'host-local'), '');
});
const mounts: string[] = [];
after(() => {
  for (const m of mounts) spawnSync('umount', ['-l', m]);
  rmSync(root, { recursive: true, force: true });
});

const STEP = '00f067aa0ba902b7';
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const openFds = (): number => readdirSync('/proc/self/fd').length;
let seq = 0;
const nextId = (): string => (0x1000000000000000 + seq++).toString(16);

function tracer(runDir = join(root, `run-${seq}`), cniPath = bin): NestedTracer {
  const t = NestedTracer.create(runDir, nextId(), cniPath, cniPath === '' ? [] : cniPath.split(':'));
  assert.ok(t instanceof NestedTracer, String(t));
  return t;
}

/** A tmpfs of `opts` (size=…, nr_inodes=…), or null where mounting is not possible (not root). */
function tmpfs(opts: string): string | null {
  if (process.geteuid?.() !== 0) return null;
  const dir = join(root, `mnt-${seq++}`);
  mkdirSync(dir, { mode: 0o755 });
  if (spawnSync('mount', ['-t', 'tmpfs', '-o', `mode=0755,${opts}`, 'tmpfs', dir]).status !== 0) return null;
  mounts.push(dir);
  return dir;
}

/** Spools one plugin call as the shim does: `<span>.begin` (v1), and `.out`/`.err`/`.end` when given. */
function spool(t: NestedTracer, span: string, start: bigint, extra: { env?: string; out?: string; err?: string; end?: string } = {}): void {
  const calls = join(t.dir, 'calls');
  const env = extra.env ?? '';
  const name = 'host-local';
  const path = join(bin, name);
  writeFileSync(join(calls, `${span}.begin`), `v1 ${start} ${name.length} ${path.length} ${Buffer.byteLength(env)} 2\n${name}${path}${env}{}`);
  if (extra.out !== undefined) writeFileSync(join(calls, `${span}.out`), extra.out);
  if (extra.err !== undefined) writeFileSync(join(calls, `${span}.err`), extra.err);
  if (extra.end !== undefined) writeFileSync(join(calls, `${span}.end`), extra.end);
}

test('rule: create makes the invocation\'s directory and calls/ private (0700), and hands delegates its shims before CNI_PATH, or alone when CNI_PATH is empty', () => {
  const t = tracer();
  try {
    assert.equal(statSync(t.dir).mode & 0o777, 0o700);
    assert.equal(statSync(join(t.dir, 'calls')).mode & 0o777, 0o700);
    assert.equal(t.cniPath, `${t.binDir}:${bin}`);
  } finally {
    t.dispose();
  }
  const bare = tracer(join(root, 'run-empty'), '');
  try {
    assert.equal(bare.cniPath, bare.binDir, 'no empty entry (the cwd) after the shims');
  } finally {
    bare.dispose();
  }
});

test('rule: when create refuses, a directory of the same id it did not make is left alone, and no descriptor stays open', () => {
  const runDir = join(root, 'run-refused');
  const first = tracer(runDir);
  first.dispose();
  // Make the shared shim directory unusable: the next create fails after opening runDir.
  const shims = readdirSync(runDir).find((n) => n.startsWith('shims-'))!;
  chmodSync(join(runDir, shims, 'shim'), 0o722);
  const id = nextId();
  mkdirSync(join(runDir, id), { mode: 0o700 });
  writeFileSync(join(runDir, id, 'someone-elses'), '');
  const fds = openFds();
  assert.match(String(NestedTracer.create(runDir, id, bin, [bin])), /is not a regular file of ours writable only by us: refused$/);
  assert.equal(openFds(), fds, 'runDir closed again');
  assert.ok(existsSync(join(runDir, id, 'someone-elses')), 'not ours to remove');
  // The same id, the shim repaired: the directory in place is not taken over either.
  chmodSync(join(runDir, shims, 'shim'), 0o700);
  assert.equal(String(NestedTracer.create(runDir, id, bin, [bin])), `cannot prepare nested tracing in ${runDir}: EEXIST`);
  assert.ok(existsSync(join(runDir, id, 'someone-elses')));
  assert.equal(openFds(), fds);
});

test('rule: when create fails after making the invocation\'s directory, it removes it and closes what it opened (a tmpfs out of inodes)', { skip: process.geteuid?.() !== 0 && 'needs root to mount a tmpfs' }, (t) => {
  const mnt = tmpfs('size=32m,nr_inodes=64');
  if (mnt === null) return t.skip('cannot mount a tmpfs here');
  const runDir = join(mnt, 'run');
  tracer(runDir).dispose(); // the shared shim directory is built
  // Use up the inodes but one: the invocation's directory gets it, its calls/ finds none.
  const fill = join(mnt, 'fill');
  mkdirSync(fill);
  for (let i = 0; ; i++) {
    try {
      writeFileSync(join(fill, String(i)), '');
    } catch {
      rmSync(join(fill, String(i - 1)));
      break;
    }
  }
  const fds = openFds();
  const id = nextId();
  assert.equal(String(NestedTracer.create(runDir, id, bin, [bin])), `cannot prepare nested tracing in ${runDir}: ENOSPC`);
  assert.equal(existsSync(join(runDir, id)), false, 'the half-made directory is removed');
  assert.equal(openFds(), fds, 'runDir and the invocation\'s directory closed again');
});

test('rule: nesting stays off below 16 MiB free in runDir; 16 MiB is enough', { skip: process.geteuid?.() !== 0 && 'needs root to mount a tmpfs' }, (t) => {
  const small = tmpfs('size=8m');
  if (small === null) return t.skip('cannot mount a tmpfs here');
  const fds = openFds();
  assert.equal(String(NestedTracer.create(join(small, 'run'), nextId(), bin, [bin])), `cannot prepare nested tracing in ${join(small, 'run')}: ${join(small, 'run')} has less than 16 MiB free`);
  assert.equal(openFds(), fds);
  const exact = tmpfs('size=16m');
  assert.ok(exact);
  tracer(join(exact, 'run')).dispose();
});

test('rule: command tracing is set up once per invocation: the same PATH every time; its shims follow PATH\'s directories; another invocation\'s build in progress does not block it', () => {
  const runDir = join(root, 'run-cmd');
  const cmds = join(root, 'cmds');
  mkdirSync(cmds);
  writeFileSync(join(cmds, 'ip'), '', { mode: 0o755 });
  const t = tracer(runDir);
  // Another invocation building a command shim directory right now.
  mkdirSync(join(runDir, '.tmp-'), { mode: 0o700 });
  try {
    const first = t.commandPath(['ip', 'tc'], cmds);
    assert.deepEqual(first, { path: `${t.dir}/cmd:${cmds}` });
    assert.deepEqual(t.commandPath(['ip', 'tc'], cmds), first, 'asked again: the same answer');
    assert.deepEqual(readdirSync(join(t.dir, 'cmd')), ['ip']);
  } finally {
    t.dispose();
  }
  // tc installed since: the next invocation gets a shim for it.
  writeFileSync(join(cmds, 'tc'), '', { mode: 0o755 });
  const later = tracer(runDir);
  try {
    later.commandPath(['ip', 'tc'], cmds);
    assert.deepEqual(readdirSync(join(later.dir, 'cmd')).sort(), ['ip', 'tc']);
  } finally {
    later.dispose();
  }
});

test('rule: scrub takes the shim directory out wherever it stands, first or alone', () => {
  const t = tracer();
  try {
    assert.equal(t.scrub(Buffer.from(`${t.binDir}:/opt/cni/bin`)).toString(), '/opt/cni/bin');
    assert.equal(t.scrub(Buffer.from(`CNI_PATH=${t.binDir}`)).toString(), 'CNI_PATH=');
    // Bytes that are not text pass as they were.
    const raw = Buffer.concat([Buffer.from(`${t.binDir}:/opt/cni/bin `), Buffer.from([0xc3, 0xa9, 0xff, 0x00])]);
    assert.deepEqual(t.scrub(raw), Buffer.concat([Buffer.from('/opt/cni/bin '), Buffer.from([0xc3, 0xa9, 0xff, 0x00])]));
    const untouched = Buffer.from('no shims here: caf\u00e9');
    assert.equal(t.scrub(untouched), untouched);
  } finally {
    t.dispose();
  }
});

test('rule: collect returns the calls oldest first and removes every spool file; one still running has no end; a bad span name or header is passed over', () => {
  const t = tracer();
  try {
    const starts = [5n, 1n, 9n, 3n, 7n, 2n, 8n, 4n];
    const spans = starts.map((_, i) => `${'a'.repeat(15)}${i}`);
    // The first call was made by the step, the others by the first; each env starts with an empty entry.
    const tp = (parent: string): string => `\0TRACEPARENT=00-${TRACE}-${parent}-01`;
    starts.forEach((s, i) => spool(t, spans[i]!, s * 1000n, { env: tp(i === 0 ? STEP : spans[0]!), out: 'abc', err: 'e', ...(i === 0 ? {} : { end: `exit 0 ${s * 1000n + 1n} 0 0` }) }));
    for (const bad of [`g${'a'.repeat(16)}`, `${'a'.repeat(16)}0`, `${'b'.repeat(16)}.x`]) writeFileSync(join(t.dir, 'calls', `${bad}.begin`), 'v1 1 0 0 0 0\n');
    writeFileSync(join(t.dir, 'calls', `${'c'.repeat(16)}.begin`), 'not a header\n');
    const calls = t.collect(STEP);
    const order = [...starts].sort((a, b) => Number(a - b));
    assert.deepEqual(calls.map((c) => c.call.startNs - calls[0]!.call.startNs), order.map((s) => (s - order[0]!) * 1000n), 'oldest first');
    assert.deepEqual(calls.map((c) => c.parentSpanId), calls.map((c) => (c.call.spanId === spans[0] ? STEP : spans[0])), 'a leading empty env entry does not hide TRACEPARENT');
    const running = calls.find((c) => c.call.spanId === spans[0])!.call;
    assert.deepEqual([running.endNs, running.exitCode, running.signal, running.stdoutBytes, running.stderrBytes], [null, null, null, 3, 1]);
    assert.deepEqual(readdirSync(join(t.dir, 'calls')).sort(), [`${'a'.repeat(16)}0.begin`, `${'b'.repeat(16)}.x.begin`, `${'c'.repeat(16)}.begin`, `g${'a'.repeat(16)}.begin`].sort(), 'the calls read are gone; what was passed over stays');
    assert.deepEqual(t.collect(STEP), [], 'collected once');
  } finally {
    t.dispose();
  }
  assert.deepEqual(t.collect(STEP), [], 'after dispose: nothing, no throw');
});

test('rule: a name of ten or more bytes is read whole from a begin header', () => {
  const name = 'a-long-plugin-name';
  const begin = parseBegin(Buffer.from(`v1 7 ${name.length} 0 0 0\n${name}`));
  assert.equal(begin?.plugin, name);
});

test('rule: a second dispose touches nothing, even where the descriptors\' numbers were reused', () => {
  const t = tracer();
  const id = t.dir.slice(t.dir.lastIndexOf('/') + 1);
  const fdsNow = (): Set<string> => new Set(readdirSync('/proc/self/fd'));
  const held = fdsNow();
  t.dispose();
  const freed = [...held].filter((n) => !fdsNow().has(n));
  assert.equal(freed.length >= 2, true, 'runDir and calls/ closed');
  // Directories opened now get the numbers dispose freed; each holds an entry named like the invocation.
  const opened: Array<{ dir: string; fd: number }> = [];
  try {
    while (freed.some((n) => !opened.some((o) => String(o.fd) === n)) && opened.length < 64) {
      const dir = join(root, `other-${opened.length}`);
      mkdirSync(join(dir, id), { recursive: true });
      opened.push({ dir, fd: openSync(dir, DIR_FLAGS) });
    }
    t.dispose();
    for (const o of opened) {
      assert.ok(existsSync(join(o.dir, id)), `${o.dir}/${id} is not the tracer's`);
      assert.ok(fstatSync(o.fd).isDirectory(), 'still open');
    }
  } finally {
    for (const o of opened) closeSync(o.fd);
  }
});
