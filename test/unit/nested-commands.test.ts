/**
 * Command tracing over the compiled shim in command mode, run for real over small sh commands
 * in a temp dir: the PATH lookup as Go's exec.LookPath does it, what it relays (stdout, stderr,
 * exit status, signal, stdin untouched), what it spools (argv, bounded stderr) and how the
 * wrapper reads it back; the entry's `commands` key; argv redaction; the views.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, test } from 'node:test';
import { spanFromStep } from '../../src/agent/spans.ts';
import { renderInvocation } from '../../src/cli/show.ts';
import { invocationJson, invocationLine } from '../../src/cli/tail.ts';
import { isCniError } from '../../src/cni/errors.ts';
import { credentialKeyMatcher, redactArgv } from '../../src/config/redact.ts';
import { DEFAULT_COMMANDS, parseWrapperEntry, type JsonObject, type WrapperEntry } from '../../src/config/wrapper-entry.ts';
import { InvocationIndex } from '../../src/journal/invocations.ts';
import type { JournalRecord } from '../../src/journal/record.ts';
import { NestedTracer } from '../../src/plugin/nested.ts';
import { epochNs } from '../../src/trace/clock.ts';
import { InvocationRecorder } from '../../src/plugin/recorder.ts';
import { ensureShim } from '../../scripts/build-shim.ts';
import { resourceFromAttributes } from '@opentelemetry/resources';

const root = mkdtempSync(join(tmpdir(), 'cnitrace-unit-cmds-'));
before(() => ensureShim());
after(() => rmSync(root, { recursive: true, force: true }));
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const STEP = '00f067aa0ba902b7';
const TP = `00-${TRACE}-${STEP}-01`;

function command(dir: string, name: string, body: string, mode = 0o755): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, name);
  writeFileSync(file, `#!/bin/sh\n${body}\n`);
  chmodSync(file, mode);
  return file;
}

let n = 0;
function tracer(names: readonly string[], path: string): { t: NestedTracer; path: string } {
  const id = (++n).toString(16).padStart(16, '0');
  const t = NestedTracer.create(join(root, `run-${n}`), id, '', []);
  assert.ok(typeof t !== 'string', String(t));
  const got = t.commandPath(names, path);
  assert.ok('path' in got, JSON.stringify(got));
  return { t, path: got.path };
}

test('a traced command: argv, stdout, stderr and exit code relayed unchanged, stdin left to it; spooled with argv', () => {
  const dir = join(root, 'bin-a');
  const real = command(dir, 'iptables', 'echo "args: $*"; cat; echo "Another app is currently holding the xtables lock; waiting" >&2; exit 4');
  const { t, path } = tracer(['iptables', 'tc'], `${dir}:/usr/bin:/bin`);
  assert.equal(path, `${t.dir}/cmd:${dir}:/usr/bin:/bin`);
  assert.deepEqual(readdirSync(`${t.dir}/cmd`), ['iptables'], 'only names LookPath finds get a shim (tc is not in the PATH given)');
  // Go's exec.Command("iptables", …): argv[0] the bare name, found through PATH.
  const before = epochNs();
  const r = spawnSync('iptables', ['-t', 'nat', '-N', 'CNI-HOSTPORT-DNAT', '--wait'], { input: 'rules on stdin\n', encoding: 'utf8', env: { PATH: path, TRACEPARENT: TP } });
  const afterRun = epochNs();
  assert.equal(r.status, 4);
  assert.equal(r.stdout, 'args: -t nat -N CNI-HOSTPORT-DNAT --wait\nrules on stdin\n', 'stdout and stdin byte for byte');
  assert.equal(r.stderr, 'Another app is currently holding the xtables lock; waiting\n');
  const calls = t.collect(STEP);
  assert.equal(calls.length, 1);
  const { call, parentSpanId } = calls[0]!;
  assert.equal(parentSpanId, STEP, 'a child of the plugin whose TRACEPARENT it inherited');
  assert.deepEqual([call.plugin, call.path, call.exitCode, call.signal], ['iptables', real, 4, null]);
  assert.deepEqual(call.argv, ['iptables', '-t', 'nat', '-N', 'CNI-HOSTPORT-DNAT', '--wait'], 'argv[0] as the caller gave it (a bare name)');
  assert.equal(call.stdin.length, 0, 'a command\'s stdin is never read by the shim');
  assert.equal(call.stderr.toString(), r.stderr);
  // On this process's clock, as the step's own times are: inside the spawn, whatever the wall clock says.
  assert.ok(call.endNs !== null && before <= call.startNs && call.startNs <= call.endNs && call.endNs <= afterRun, `${before} ≤ ${call.startNs} ≤ ${call.endNs} ≤ ${afterRun}`);
  t.dispose();
});

test('argv[0] given as a path (go-iptables passes LookPath\'s answer) reaches the real command as the real path', () => {
  const dir = join(root, 'bin-b');
  const real = command(dir, 'ip', 'echo "$0"');
  const { t, path } = tracer(['ip'], dir);
  const r = spawnSync(join(t.dir, 'cmd/ip'), ['link'], { encoding: 'utf8', env: { PATH: path } });
  assert.equal(r.stdout, `${real}\n`);
  assert.deepEqual(t.collect(STEP)[0]!.call.argv, [real, 'link']);
  t.dispose();
});

test('a traced command gets a TRACEPARENT naming its own span, so what it runs nests under it; the spool keeps the caller\'s', () => {
  const dir = join(root, 'bin-tp');
  command(dir, 'tc', 'echo "$TRACEPARENT"');
  const { t, path } = tracer(['tc'], dir);
  const r = spawnSync('tc', ['qdisc', 'show'], { encoding: 'utf8', env: { PATH: path, TRACEPARENT: TP } });
  const { call, parentSpanId } = t.collect(STEP)[0]!;
  assert.equal(r.stdout, `00-${TRACE}-${call.spanId}-01\n`);
  assert.deepEqual([call.env.TRACEPARENT, parentSpanId], [TP, STEP]);
  t.dispose();
});

test('the real command is found as Go\'s LookPath finds it: not a directory, executable; relative entries are not found', () => {
  const a = join(root, 'bin-c1');
  const b = join(root, 'bin-c2');
  const c = join(root, 'bin-c3');
  command(a, 'tc', 'echo not-executable', 0o644);
  mkdirSync(join(b, 'tc'), { recursive: true });
  const real = command(c, 'tc', 'echo "the executable one"');
  const { t, path } = tracer(['tc'], `${a}:${b}:${c}`);
  const r = spawnSync('tc', [], { encoding: 'utf8', env: { PATH: path } });
  assert.equal(r.stdout, 'the executable one\n');
  assert.equal(t.collect(STEP)[0]!.call.path, real);
  t.dispose();
  // First found in a relative directory: Go's ErrDot, so no shim and the lookup fails as it would bare.
  const rel = tracer(['tc'], `${relative(process.cwd(), c)}:${a}`);
  assert.deepEqual(readdirSync(`${rel.t.dir}/cmd`), []);
  rel.t.dispose();
});

test('a command killed by a signal: the caller sees the same death; a huge stderr is relayed whole and spooled bounded', () => {
  const dir = join(root, 'bin-d');
  command(dir, 'modprobe', 'kill -KILL $$');
  command(dir, 'ip6tables', 'i=0; while [ $i -lt 2000 ]; do echo "line $i of a long complaint" >&2; i=$((i+1)); done');
  const { t, path } = tracer(['modprobe', 'ip6tables'], dir);
  assert.equal(spawnSync('modprobe', ['br_netfilter'], { env: { PATH: path } }).signal, 'SIGKILL');
  const r = spawnSync('ip6tables', ['-S'], { env: { PATH: path } });
  assert.equal(r.status, 0);
  assert.ok(r.stderr.length > 40_000, 'all of stderr reached the caller');
  const calls = t.collect(STEP).map((c) => c.call);
  const killed = calls.find((c) => c.plugin === 'modprobe')!;
  assert.deepEqual([killed.exitCode, killed.signal], [null, 9]);
  const loud = calls.find((c) => c.plugin === 'ip6tables')!;
  assert.equal(loud.stderr.length, 4096, 'the spool keeps 4 KiB');
  assert.equal(loud.stderrBytes, r.stderr.length, 'and counts all of it');
  t.dispose();
});

test('the entry: "commands" true is the default set, an array is checked name by name, and it needs nested tracing', () => {
  const base = { cniVersion: '1.0.0', name: 'n', delegates: [{ type: 'bridge' }] };
  const parse = (extra: JsonObject): WrapperEntry | string => {
    const e = parseWrapperEntry({ ...base, ...extra });
    return isCniError(e) ? e.msg : e;
  };
  assert.deepEqual((parse({}) as WrapperEntry).commands, [], 'off by default');
  assert.deepEqual((parse({ commands: true }) as WrapperEntry).commands, [...DEFAULT_COMMANDS]);
  assert.deepEqual([...DEFAULT_COMMANDS], ['iptables', 'ip6tables', 'iptables-restore', 'ip6tables-restore', 'iptables-save', 'ip', 'tc', 'modprobe']);
  assert.deepEqual((parse({ commands: ['ip', 'ip', 'tc'] }) as WrapperEntry).commands, ['ip', 'tc']);
  assert.equal(parse({ commands: ['/sbin/ip'] }), 'invalid cni-trace config: commands[0]: invalid command name "/sbin/ip": a name looked up in PATH, not a path');
  assert.equal(parse({ commands: 'ip' }), 'invalid cni-trace config: commands: must be true, false or an array of command names (e.g. ["iptables", "ip"])');
  assert.equal(parse({ commands: true, nested: false }), 'invalid cni-trace config: commands: command tracing rides on nested tracing: it needs "nested": true (the default)');
  assert.equal(parse({ comands: true }), 'invalid cni-trace config: comands: unknown key (did you mean "commands"?) (see docs/configuration.md)');
});

test('argv redaction: credential flags\' values and hex key material go, rules and addresses stay', () => {
  const is = credentialKeyMatcher();
  assert.deepEqual(redactArgv(['iptables', '-t', 'nat', '-A', 'CNI-DN-1', '-d', '10.0.0.1/32', '-j', 'DNAT'], is), ['iptables', '-t', 'nat', '-A', 'CNI-DN-1', '-d', '10.0.0.1/32', '-j', 'DNAT']);
  assert.deepEqual(redactArgv(['tool', '--password', 'hunter2', '--token=abc', 'next'], is), ['tool', '--password', '[REDACTED]', '--token=[REDACTED]', 'next']);
  assert.deepEqual(redactArgv(['ip', 'xfrm', 'state', 'add', 'enc', 'aes', '0x0123456789abcdef0123456789abcdef'], is), ['ip', 'xfrm', 'state', 'add', 'enc', 'aes', '[REDACTED]']);
  assert.deepEqual(redactArgv(['curl', 'https://user:pw@example.com/x'], is), ['curl', 'https://user:[REDACTED]@example.com/x']);
});

test('the views: a command is a child of its plugin in tail, show, the TUI, the spans; its argv is redacted in the journal', async () => {
  const records: JournalRecord[] = [];
  const journal = { append: (r: JournalRecord) => records.push(r), isDegraded: false, degrade: () => {} } as never;
  const rec = new InvocationRecorder({ journal, env: {}, isCredential: credentialKeyMatcher(), captureMaxBytes: 1024 });
  rec.begin({ command: 'ADD', containerId: 'c1', netns: '/n', ifname: 'eth0', args: 'K8S_POD_NAMESPACE=demo;K8S_POD_NAME=web-1', path: '' }, 'net', '1.0.0', {}, ['portmap']);
  const step = rec.stepBegin(0, 'portmap', '/usr/lib/cni/portmap', {});
  const start = BigInt(Date.now()) * 1_000_000n;
  const call = {
    spanId: 'aaaaaaaaaaaaaaaa', plugin: 'iptables', path: '/usr/sbin/iptables', argv: ['/usr/sbin/iptables', '--wait', '-t', 'nat', '--secret', 'x'],
    startNs: start + 1_000_000n, endNs: start + 6_000_000n, exitCode: 1, signal: null, env: { TRACEPARENT: step.traceparent }, stdin: Buffer.alloc(0),
    stdout: Buffer.alloc(0), stderr: Buffer.from('iptables: No chain/target/match by that name.\n'), stdoutBytes: 0, stderrBytes: 46,
  };
  const outcome = { exitCode: 1, signal: null, stdout: call.stdout, stderr: call.stderr, stderrBytes: 46, spawnError: null, pid: null, startMono: 0n, endMono: 0n };
  rec.nestedStep(0, step.spanId, call, outcome, 'error');
  rec.stepEnd(step, null, 'ok');
  rec.end(0, '{}');
  const begin = records.find((r) => r.rec === 'step.begin' && r.plugin === 'iptables');
  assert.deepEqual(begin && 'argv' in begin ? begin.argv : null, ['/usr/sbin/iptables', '--wait', '-t', 'nat', '--secret', '[REDACTED]']);

  const index = new InvocationIndex(() => false);
  for (const r of records) index.add(JSON.parse(JSON.stringify(r)) as JournalRecord);
  const inv = index.list()[0]!;
  const cmd = inv.steps[1]!;
  assert.deepEqual([cmd.plugin, cmd.depth, cmd.parentSpanId, cmd.status, cmd.exitCode, cmd.command], ['iptables', 1, step.spanId, 'error', 1, 'ADD']);
  assert.match(invocationLine(inv, false), /portmap \S+ \[iptables×1 5\.0ms\]/);
  assert.deepEqual((invocationJson(inv).steps as Array<{ argv?: unknown }>)[1]!.argv, begin && 'argv' in begin ? begin.argv : null);
  const text = renderInvocation(inv, { colour: false, width: 100 });
  assert.match(text, /↳ iptables ADD — error, 5\.0ms, exit 1/);
  assert.match(text, /argv: \/usr\/sbin\/iptables --wait -t nat --secret '\[REDACTED\]'/);
  assert.match(text, /iptables: No chain\/target\/match by that name\./);
  const span = spanFromStep(inv, cmd, inv.endNs!, resourceFromAttributes({}));
  assert.equal(span.name, 'exec iptables');
  assert.equal(span.parentSpanContext?.spanId, step.spanId);
  assert.equal(span.attributes['process.command'], 'iptables');
  assert.deepEqual(span.attributes['process.command_args'], ['/usr/sbin/iptables', '--wait', '-t', 'nat', '--secret', '[REDACTED]']);
  assert.equal(span.attributes['process.exit.code'], 1);
  assert.equal(span.status.message, 'iptables exited with code 1');

  // The TUI: the command indented under portmap in the waterfall; its tab gives the argv, not a stdin.
  const React = (await import('react')).default;
  const { render, cleanup } = await import('ink-testing-library');
  const { Waterfall } = await import('../../tui/components/Waterfall.ts');
  const { DetailTabs } = await import('../../tui/components/DetailTabs.ts');
  const frame = render(React.createElement(Waterfall, { inv, columns: 80, nowMs: Date.now(), maxBars: 5 })).lastFrame() ?? '';
  assert.match(frame, /^portmap .*│/m);
  assert.match(frame, /^ iptables .*│/m);
  const tabs = render(React.createElement(DetailTabs, { inv, tab: 1, scroll: 0, height: 40, columns: 140, nowMs: Date.now() })).lastFrame() ?? '';
  assert.match(tabs, /↳iptables/);
  assert.match(tabs, /called by portmap \(command, depth 1\)/);
  assert.match(tabs, /── argv ──\s+\/usr\/sbin\/iptables --wait -t nat --secret '\[REDACTED\]'/);
  assert.ok(!/── stdin ──/.test(tabs), 'a command has no stdin of ours to show');
  cleanup();
});
