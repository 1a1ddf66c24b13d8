/**
 * Nested tracing over the compiled shim (dist/cni-trace-shim, built here when missing), run
 * for real over small sh plugins in a temp dir — what it relays (stdout, stderr, exit status,
 * signal), what it spools, how the wrapper reads it back — and how the views show a nested call.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { renderInvocation } from '../../src/cli/show.ts';
import { invocationJson, invocationLine } from '../../src/cli/tail.ts';
import { InvocationIndex } from '../../src/journal/invocations.ts';
import { readJournal } from '../../src/journal/reader.ts';
import { NestedTracer, parseBegin, parseEnd } from '../../src/plugin/nested.ts';
import { ensureShim } from '../../scripts/build-shim.ts';
import { installFixtures } from '../support/fixtures.ts';
import { callPlugin, cniEnv } from '../support/run-plugin.ts';

const root = mkdtempSync(join(tmpdir(), 'cnitrace-unit-nested-'));
before(() => ensureShim());
after(() => rmSync(root, { recursive: true, force: true }));
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const STEP = '00f067aa0ba902b7';

function plugin(dir: string, name: string, body: string): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, name);
  writeFileSync(file, `#!/bin/sh\n${body}\n`);
  chmodSync(file, 0o755);
  return file;
}

function tracer(tag: string, paths: string[], runDir = join(root, `run-${tag}`)): NestedTracer {
  const t = NestedTracer.create(runDir, Buffer.from(tag.padEnd(8, '.')).toString('hex'), paths.join(':'), paths);
  assert.ok(typeof t !== 'string', String(t));
  return t;
}

test('the shim relays stdout, stderr and the exit code unchanged, and spools the call for the wrapper', () => {
  const dir = join(root, 'bin-a');
  plugin(dir, 'echoer', 'cat; echo "warn from $0 with $TRACEPARENT" >&2; exit 3');
  const t = tracer('a', [join(root, 'missing-dir'), dir]);
  assert.deepEqual(readdirSync(t.binDir), ['echoer']);
  const stdin = '{"cniVersion":"1.0.0","name":"n","ipam":{"password":"p"}}';
  const r = spawnSync(join(t.binDir, 'echoer'), [], {
    input: stdin, encoding: 'utf8', env: { CNI_COMMAND: 'ADD', CNI_ARGS: 'A=1', CNI_PATH: t.cniPath, PATH: process.env.PATH, TRACEPARENT: `00-${TRACE}-${STEP}-01` },
  });
  assert.equal(r.status, 3);
  assert.equal(r.stdout, stdin, 'stdout byte for byte');
  const calls = t.collect(STEP);
  assert.equal(calls.length, 1);
  const { call, parentSpanId } = calls[0]!;
  assert.equal(parentSpanId, STEP);
  assert.match(call.spanId, /^[0-9a-f]{16}$/);
  assert.equal(r.stderr, `warn from ${join(dir, 'echoer')} with 00-${TRACE}-${call.spanId}-01\n`, 'stderr relayed; the real plugin gets its own span in TRACEPARENT');
  assert.deepEqual([call.plugin, call.path, call.exitCode, call.signal], ['echoer', join(dir, 'echoer'), 3, null]);
  assert.equal(call.stdin.toString(), stdin);
  assert.equal(call.stdout.toString(), stdin);
  assert.equal(call.stderr.toString(), r.stderr);
  assert.equal(call.env.CNI_COMMAND, 'ADD');
  assert.equal(call.env.TRACEPARENT, `00-${TRACE}-${STEP}-01`, 'the env as the caller gave it');
  assert.ok(call.endNs !== null && call.endNs >= call.startNs && call.startNs > 1_700_000_000_000_000_000n);
  assert.deepEqual(t.collect(STEP), [], 'collected once; the spool files are gone');
  t.dispose();
  assert.equal(existsSync(t.dir), false);
});

test('a plugin killed by a signal: the shim dies of the same signal (also with no PATH at all)', () => {
  const dir = join(root, 'bin-b');
  plugin(dir, 'suicidal', 'kill -TERM $$');
  const t = tracer('b', [dir]);
  const r = spawnSync(join(t.binDir, 'suicidal'), [], { input: '{}', env: { CNI_PATH: t.cniPath } });
  assert.equal(r.signal, 'SIGTERM');
  const { call } = t.collect(STEP)[0]!;
  assert.deepEqual([call.exitCode, call.signal], [null, 15]);
  t.dispose();
});

test('issue 17.4: exit statuses 129-159 stay exit statuses; only a death by signal is relayed as one', () => {
  const dir = join(root, 'bin-exit');
  plugin(dir, 'exits', 'exit "$FX_EXIT"');
  plugin(dir, 'killed', 'kill -"$FX_SIG" $$');
  const t = tracer('exit', [dir]);
  for (const code of [137, 143, 147, 148, 149, 150, 159]) {
    // 147-150 would be SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU if read as 128 + N: a stopped shim hangs its caller.
    const r = spawnSync(join(t.binDir, 'exits'), [], { input: '{}', env: { CNI_PATH: t.cniPath, FX_EXIT: String(code) }, timeout: 20_000 });
    assert.deepEqual([r.status, r.signal], [code, null], `exit ${code} reaches the caller as exit ${code}`);
    const { call } = t.collect(STEP)[0]!;
    assert.deepEqual([call.exitCode, call.signal], [code, null]);
  }
  for (const [sig, num] of [['TERM', 15], ['KILL', 9]] as const) {
    const r = spawnSync(join(t.binDir, 'killed'), [], { input: '{}', env: { CNI_PATH: t.cniPath, FX_SIG: sig }, timeout: 20_000 });
    assert.deepEqual([r.status, r.signal], [null, `SIG${sig}`]);
    const { call } = t.collect(STEP)[0]!;
    assert.deepEqual([call.exitCode, call.signal], [null, num]);
  }
  t.dispose();
});

test('the shim relays 10 MB on stdout and on stderr whole, passes 1 MB of stdin whole, and spools the env exactly', () => {
  const dir = join(root, 'bin-big');
  const out = join(root, 'big-out');
  const err = join(root, 'big-err');
  writeFileSync(out, Buffer.alloc(10_000_000, 'o').fill('0123456789abcdef', 5_000_000, 5_000_016));
  writeFileSync(err, Buffer.alloc(10_000_000, 'e').fill('fedcba9876543210', 7_000_000, 7_000_016));
  // Both streams at once, so the shim must drain them together; stdin's hash on stderr's last line.
  plugin(dir, 'big', `sum=$(sha256sum | cut -d' ' -f1); cat ${out} & cat ${err} >&2; wait; echo "$sum" >&2`);
  const t = tracer('big', [dir]);
  const stdin = Buffer.alloc(1 << 20, 'i').fill('payload', 1000, 1007);
  const weird = `line one\nline "two" 'three' \\ $HOME \`x\` =eq\n`;
  const r = spawnSync(join(t.binDir, 'big'), [], { input: stdin, env: { CNI_PATH: t.cniPath, PATH: process.env.PATH, CNI_WEIRD: weird }, maxBuffer: 64 << 20 });
  assert.equal(r.status, 0);
  const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
  assert.equal(sha(r.stdout), sha(readFileSync(out)), 'stdout whole');
  const errText = r.stderr as Buffer;
  assert.equal(sha(errText.subarray(0, 10_000_000)), sha(readFileSync(err)), 'stderr whole');
  assert.equal(errText.subarray(10_000_000).toString().trim(), sha(stdin), 'stdin whole');
  const { call } = t.collect(STEP)[0]!;
  assert.equal(call.env.CNI_WEIRD, weird, 'the env exactly');
  assert.equal(sha(call.stdin), sha(stdin));
  assert.deepEqual([call.stdoutBytes, call.stderrBytes, call.stdout.length, call.stderr.length], [10_000_000, 10_000_065, 1 << 20, 1 << 20], 'totals counted, spool capped at 1 MiB');
  t.dispose();
});

test('a tampered shim directory is refused; a calls/ swapped for a link gets nothing spooled; the shim never runs itself', () => {
  const dir = join(root, 'bin-tamper');
  plugin(dir, 'echoer', 'cat');
  const runDir = join(root, 'run-tamper');
  const t = tracer('tamper', [dir], runDir);
  // calls/ replaced by a link to a directory of the same owner: the shim runs the plugin untraced.
  renameSync(join(t.dir, 'calls'), join(t.dir, 'calls.real'));
  symlinkSync('calls.real', join(t.dir, 'calls'));
  const r = spawnSync(join(t.binDir, 'echoer'), [], { input: 'in', encoding: 'utf8', env: { CNI_PATH: t.cniPath } });
  assert.deepEqual([r.status, r.stdout], [0, 'in']);
  assert.deepEqual(readdirSync(join(t.dir, 'calls.real')), [], 'nothing spooled through the link');
  t.dispose();
  // A shim made writable by others is refused on the next call with the same CNI_PATH.
  const shimDir = readdirSync(runDir).find((n) => n.startsWith('shims-'))!;
  chmodSync(join(runDir, shimDir, 'shim'), 0o722);
  assert.match(String(NestedTracer.create(runDir, 'ffffffffffffffff', dir, [dir])), /shim is not a regular file of ours writable only by us: refused$/);
  chmodSync(join(runDir, shimDir, 'shim'), 0o700);
  // The shim's own bin dir in CNI_PATH under another name: it must not find (and exec) itself.
  const t2 = tracer('self', [dir], runDir);
  symlinkSync(join(runDir, shimDir, 'bin'), join(root, 'alias-bin'));
  unlinkSync(join(dir, 'echoer'));
  const looped = spawnSync(join(t2.binDir, 'echoer'), [], { input: '', encoding: 'utf8', timeout: 10_000, env: { CNI_PATH: `${join(root, 'alias-bin')}:${t2.cniPath}` } });
  assert.equal(looped.status, 127, 'not found, not a loop');
  assert.match(looped.stderr, /plugin echoer was removed from CNI_PATH during the call/);
  t2.dispose();
});

test('the plugin gets SIGPIPE as its caller left it, though the shim ignores it while relaying', () => {
  const dir = join(root, 'bin-pipe');
  plugin(dir, 'sigign', 'sed -n "s/^SigIgn:\\t//p" /proc/$$/status');
  const t = tracer('pipe', [dir]);
  const ignored = (callerIgnores: boolean): boolean => {
    const r = spawnSync('/bin/sh', ['-c', `${callerIgnores ? "trap '' PIPE; " : ''}exec "$0"`, join(t.binDir, 'sigign')], { input: '', encoding: 'utf8', env: { CNI_PATH: t.cniPath, PATH: process.env.PATH } });
    return (BigInt(`0x${r.stdout.trim()}`) & (1n << 12n)) !== 0n; // SIGPIPE is 13
  };
  assert.equal(ignored(false), false, 'default, as the caller had it');
  assert.equal(ignored(true), true, 'ignored, as the caller had it');
  t.dispose();
});

test('nested calls nest by TRACEPARENT; a TRACEPARENT from elsewhere falls back to the step', () => {
  const dir = join(root, 'bin-c');
  plugin(dir, 'leaf', 'cat >/dev/null; echo leaf');
  plugin(dir, 'mid', `cat >/dev/null; "\${CNI_PATH%%:*}/leaf" </dev/null`);
  const t = tracer('c', [dir]);
  const env = { PATH: process.env.PATH, CNI_PATH: t.cniPath, CNI_COMMAND: 'ADD' };
  assert.equal(spawnSync(join(t.binDir, 'mid'), [], { input: '{}', encoding: 'utf8', env: { ...env, TRACEPARENT: `00-${TRACE}-${STEP}-01` } }).stdout, 'leaf\n');
  spawnSync(join(t.binDir, 'leaf'), [], { input: '{}', env: { ...env, TRACEPARENT: `00-${TRACE}-1111111111111111-01` } });
  const calls = t.collect(STEP);
  assert.deepEqual(calls.map((c) => c.call.plugin), ['mid', 'leaf', 'leaf']);
  assert.equal(calls[0]!.parentSpanId, STEP);
  assert.equal(calls[1]!.parentSpanId, calls[0]!.call.spanId, 'leaf under mid');
  assert.equal(calls[2]!.parentSpanId, STEP, 'an unknown parent: under the step');
  t.dispose();
});

test('only names libcni would resolve get a shim; a plugin removed after the shims were made fails clearly', () => {
  const dir = join(root, 'bin-d');
  const real = plugin(dir, 'real', 'cat');
  mkdirSync(join(dir, 'a-directory'));
  symlinkSync(real, join(dir, 'linked'));
  symlinkSync(join(dir, 'nowhere'), join(dir, 'dangling'));
  const t = tracer('d', [dir]);
  assert.deepEqual(readdirSync(t.binDir).sort(), ['linked', 'real']);
  unlinkSync(real);
  const r = spawnSync(join(t.binDir, 'real'), [], { input: '{}', encoding: 'utf8' });
  assert.equal(r.status, 127);
  assert.match(r.stderr, /cni-trace: plugin real was removed from CNI_PATH during the call/);
  t.dispose();
});

test('create refuses an unusable runDir with a reason; scrub takes the shim dir out of a search path', () => {
  const file = join(root, 'a-file');
  writeFileSync(file, '');
  const refused = NestedTracer.create(join(file, 'run'), '0123456789abcdef', '/usr/lib/cni', ['/usr/lib/cni']);
  assert.match(String(refused), /^cannot prepare nested tracing in .*: ENOTDIR$/);
  const t = tracer('e', ['/usr/lib/cni']);
  assert.equal(t.cniPath, `${t.binDir}:/usr/lib/cni`);
  const msg = `failed to find plugin "x" in path [${t.binDir} /usr/lib/cni]`;
  assert.equal(t.scrub(Buffer.from(msg)).toString(), 'failed to find plugin "x" in path [/usr/lib/cni]');
  assert.equal(t.scrub(Buffer.from(`CNI_PATH=${t.cniPath}`)).toString(), 'CNI_PATH=/usr/lib/cni');
  t.dispose();
});

test('the views: tail --json gives each step its parent and depth; show and tail indent nested calls', async () => {
  const bin = join(root, 'bin-views');
  const journal = join(root, 'journal-views');
  installFixtures(bin, ['fx-caller', 'fx-ipam']);
  const r = await callPlugin({
    env: cniEnv('ADD', bin),
    stdin: { cniVersion: '1.0.0', name: 'viewnet', type: 'cni-trace', journalDir: journal, runDir: join(root, 'run-views'), delegates: [{ type: 'fx-caller', fx: { mode: 'call', call: { type: 'fx-ipam' } } }] },
    nestedTracing: true,
  });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const index = new InvocationIndex();
  for (const rec of readJournal(journal)) index.add(rec);
  const [inv] = index.list();
  assert.ok(inv);
  const json = invocationJson(inv) as { steps: Array<{ spanId: string; parent: string | null; depth: number; plugin: string }> };
  assert.deepEqual(json.steps.map((s) => [s.plugin, s.depth, s.parent]), [['fx-caller', 0, null], ['fx-ipam', 1, json.steps[0]!.spanId]]);
  assert.match(invocationLine(inv, false), /fx-caller \S+ › fx-ipam \S+/);
  const text = renderInvocation(inv, { colour: false, width: 100 });
  assert.match(text, /^fx-caller +│/m);
  assert.match(text, /^ {2}fx-ipam +│/m, 'indented under its caller in the waterfall');
  assert.match(text, /── 0\. ↳ fx-ipam ADD/);
  assert.match(text, new RegExp(`called by: fx-caller \\(span ${json.steps[0]!.spanId}\\)`));
  assert.deepEqual(readdirSync(join(root, 'run-views')).filter((n) => !n.startsWith('shims-')), [], 'only the shared shim directory stays');

  // The TUI's waterfall indents the nested call under its caller; its tab is marked ↳.
  const React = (await import('react')).default;
  const { render, cleanup } = await import('ink-testing-library');
  const { Waterfall } = await import('../../tui/components/Waterfall.ts');
  const { DetailTabs } = await import('../../tui/components/DetailTabs.ts');
  const frame = render(React.createElement(Waterfall, { inv, columns: 80, nowMs: Date.now(), maxBars: 5 })).lastFrame() ?? '';
  assert.match(frame, /^fx-caller .*│/m);
  assert.match(frame, /^ fx-ipam .*│/m);
  const tabs = render(React.createElement(DetailTabs, { inv, tab: 1, scroll: 0, height: 40, columns: 120, nowMs: Date.now() })).lastFrame() ?? '';
  assert.match(tabs, /↳fx-ipam/);
  assert.match(tabs, /called by fx-caller \(nested call, depth 1\)/);
  assert.match(tabs, /CNI_COMMAND=ADD/, 'the nested call\'s env');
  cleanup();
});

// Rules of the spool formats and the tracer's lifetime that Stryker's survivors showed untested (issue 22).

test('rule: a spooled begin is read only with its exact header; env entries without a name are dropped; an empty path is none', () => {
  const body = (env: string): Buffer => Buffer.concat([Buffer.from(`v1 123 6 0 ${Buffer.byteLength(env)} 2\n`), Buffer.from('bridge'), Buffer.from(env), Buffer.from('{}')]);
  const env = 'A=1\0=skip\0noeq\0B=x=y';
  assert.deepEqual(parseBegin(body(env)), { startNs: 123n, plugin: 'bridge', path: null, env: { A: '1', B: 'x=y' }, stdin: Buffer.from('{}') });
  assert.deepEqual(parseBegin(body('A=1\0'))?.env, { A: '1' }, 'a trailing NUL ends the last entry');
  for (const header of ['xv1 123 6 0 0 2\n', 'v1 123 6 0 0 2 7\n', 'v1 123 6 0 0 2', '\nv1 123 6 0 0 2\n']) {
    assert.equal(parseBegin(Buffer.from(header)), null, JSON.stringify(header));
  }
  assert.deepEqual(parseEnd('exit 3 500 10 20\n'), { exitCode: 3, signal: null, endNs: 500n, stdoutBytes: 10, stderrBytes: 20 });
  assert.deepEqual(parseEnd('signal 9 500 0 0'), { exitCode: null, signal: 9, endNs: 500n, stdoutBytes: 0, stderrBytes: 0 });
  for (const text of ['xexit 3 500 10 20', 'exit 3 500 10 20 junk', 'exit 3 500 10 20\n\n', 'exit 3 500 10']) assert.equal(parseEnd(text), null, JSON.stringify(text));
});

test('rule: a tracer refuses a malformed invocation id, and dispose removes its directory and closes its descriptors, once', () => {
  const runDir = join(root, 'rule-run');
  const fds = (): number => readdirSync('/proc/self/fd').length;
  assert.match(String(NestedTracer.create(runDir, `x${'a'.repeat(16)}`, '/bin', ['/bin'])), /invalid invocation id/);
  assert.match(String(NestedTracer.create(runDir, `${'a'.repeat(16)}x`, '/bin', ['/bin'])), /invalid invocation id/);
  const before = fds();
  const t = NestedTracer.create(runDir, 'b'.repeat(16), '/bin', ['/bin']);
  assert.ok(t instanceof NestedTracer, String(t));
  assert.ok(existsSync(join(runDir, 'b'.repeat(16))));
  t.dispose();
  t.dispose();
  assert.equal(existsSync(join(runDir, 'b'.repeat(16))), false, 'the invocation\'s directory is gone');
  assert.equal(fds(), before, 'no descriptor left open');
});
