/**
 * The `cni-trace` command as a user runs it (the built dist/cli.js): wrap and unwrap files
 * in place, install the plugin where a runtime execs it without node on PATH, and tail a
 * journal written by real calls, as lines and as JSON.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { execa } from 'execa';
import { ROOT, installFixtures } from '../support/fixtures.ts';
import { Sandbox } from '../support/sandbox.ts';

const CLI = join(ROOT, 'dist/cli.js');
const sb = new Sandbox('cli');
after(() => sb.cleanup());

const cli = (args: string[], opts: { env?: Record<string, string> } = {}) =>
  execa(process.execPath, [CLI, ...args], { reject: false, env: opts.env ?? {}, extendEnv: true });

test('every command has --help', async () => {
  for (const cmd of [[], ['wrap'], ['unwrap'], ['install'], ['uninstall'], ['doctor'], ['tail'], ['show'], ['stats'], ['agent']]) {
    const r = await cli([...cmd, '--help']);
    assert.equal(r.exitCode, 0, cmd.join(' '));
    assert.match(r.stdout, /Usage: cni-trace/);
  }
});

test('wrap --in-place and unwrap --in-place round-trip the calico fixture; wrapping twice is a no-op', async () => {
  const file = join(sb.dir, '10-calico.conflist');
  const original = readFileSync(join(ROOT, 'test/fixtures/conflists/10-calico.conflist'), 'utf8');
  writeFileSync(file, original, { mode: 0o640 });
  assert.equal((await cli(['wrap', file, '--in-place'])).exitCode, 0);
  const wrapped = JSON.parse(readFileSync(file, 'utf8'));
  assert.equal(wrapped.plugins.length, 1);
  assert.equal(wrapped.plugins[0].type, 'cni-trace');
  assert.deepEqual(wrapped.plugins[0].capabilities, { bandwidth: true, portMappings: true });
  assert.equal(statSync(file).mode & 0o777, 0o640, 'the file keeps its mode');
  const once = readFileSync(file, 'utf8');
  assert.equal((await cli(['wrap', file, '--in-place'])).exitCode, 0);
  assert.equal(readFileSync(file, 'utf8'), once, 'wrapping a wrapped file changes nothing');
  assert.equal((await cli(['unwrap', file, '--out', join(sb.dir, 'back.conflist')])).exitCode, 0);
  assert.deepEqual(JSON.parse(readFileSync(join(sb.dir, 'back.conflist'), 'utf8')), JSON.parse(original));
  assert.deepEqual(readdirSync(sb.dir).filter((f) => f.endsWith('.tmp')), [], 'no temp file left');
});

test('wrap refuses a file that is not a conflist, naming the field', async () => {
  const file = join(sb.dir, 'bad.conflist');
  writeFileSync(file, JSON.stringify({ name: 'x', plugins: [{ bridge: 'br0' }] }));
  const r = await cli(['wrap', file]);
  assert.equal(r.exitCode, 1);
  assert.match(r.stderr, /plugins\.0\.type/);
});

test('install puts a plugin into the bin dir that runs with no node on PATH', async () => {
  const bin = join(sb.dir, 'opt-cni-bin');
  const r = await cli(['install', '--bin-dir', bin]);
  assert.equal(r.exitCode, 0, r.stderr);
  const plugin = join(bin, 'cni-trace');
  assert.equal(statSync(plugin).mode & 0o777, 0o755);
  const version = await execa(plugin, [], { env: { CNI_COMMAND: 'VERSION', PATH: '/nonexistent' }, extendEnv: false, input: '{"cniVersion":"1.0.0"}' });
  assert.equal(JSON.parse(version.stdout).cniVersion, '1.1.0');
});

test('tail prints one line per invocation and --json the documented fields', async () => {
  const bin = join(sb.dir, 'tail-bin');
  assert.equal((await cli(['install', '--bin-dir', bin])).exitCode, 0);
  installFixtures(bin, ['fx-ok', 'fx-bad']);
  const journal = join(sb.dir, 'tail-journal');
  const call = (command: string, delegates: object[]) => execa(join(bin, 'cni-trace'), [], {
    env: { PATH: '/nonexistent', CNI_COMMAND: command, CNI_CONTAINERID: 'c0ffee', CNI_NETNS: '/proc/self/ns/net', CNI_IFNAME: 'eth0', CNI_PATH: bin, CNI_ARGS: 'K8S_POD_NAMESPACE=shop;K8S_POD_NAME=cart;K8S_POD_UID=u1' },
    extendEnv: false, reject: false,
    input: JSON.stringify({ cniVersion: '1.0.0', name: 'tailnet', type: 'cni-trace', journalDir: journal, delegates }),
  });
  assert.equal((await call('ADD', [{ type: 'fx-ok' }])).exitCode, 0);
  assert.equal((await call('ADD', [{ type: 'fx-ok' }, { type: 'fx-bad', fx: { mode: 'fail', code: 120, msg: 'pool \u001b[31mempty' } }])).exitCode, 1);

  const lines = await cli(['tail', '--journal', journal], { env: { NO_COLOR: '1' } });
  const text = lines.stdout.trim().split('\n');
  assert.equal(text.length, 2);
  assert.match(text[0]!, /ADD\s+ok .* shop\/cart\s+c0ffee\s+eth0\s+tailnet\s+fx-ok /);
  assert.match(text[1]!, /error .* error 120: pool \\x1b\[31mempty/, 'control characters are escaped');
  assert.equal(lines.stdout.includes('\u001b'), false, 'no raw escape reaches the terminal');

  const json = (await cli(['tail', '--journal', journal, '--json'])).stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(json.length, 2);
  for (const inv of json) {
    for (const key of ['traceId', 'spanId', 'command', 'containerId', 'ifname', 'network', 'pod', 'start', 'durationMs', 'status', 'steps']) assert.ok(key in inv, key);
    assert.match(inv.start, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    assert.deepEqual(inv.pod, { namespace: 'shop', name: 'cart', uid: 'u1' });
    for (const s of inv.steps) for (const key of ['plugin', 'command', 'durationMs', 'exitCode', 'status']) assert.ok(key in s, key);
  }
  assert.equal(json[1].status, 'error');
  assert.deepEqual(json[1].error, { code: 120, msg: 'pool \u001b[31mempty' });
  assert.deepEqual(json[1].steps.map((s: { plugin: string; status: string }) => [s.plugin, s.status]), [['fx-ok', 'ok'], ['fx-bad', 'error']]);
});

test('show, stats and tail\'s selection flags work from the command line', async () => {
  const bin = join(sb.dir, 'views-bin');
  assert.equal((await cli(['install', '--bin-dir', bin])).exitCode, 0);
  installFixtures(bin, ['fx-ok', 'fx-bad']);
  const journal = join(sb.dir, 'views-journal');
  for (const [pod, delegates] of [['a', [{ type: 'fx-ok' }]], ['b', [{ type: 'fx-ok' }, { type: 'fx-bad', fx: { mode: 'fail', code: 7, msg: 'nope' } }]]] as const) {
    await execa(join(bin, 'cni-trace'), [], {
      env: { CNI_COMMAND: 'ADD', CNI_CONTAINERID: `c-${pod}`, CNI_NETNS: '/proc/self/ns/net', CNI_IFNAME: 'eth0', CNI_PATH: bin, CNI_ARGS: `K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=${pod}` },
      extendEnv: false, reject: false,
      input: JSON.stringify({ cniVersion: '1.0.0', name: 'viewsnet', type: 'cni-trace', journalDir: journal, delegates }),
    });
  }
  const errors = await cli(['tail', '--journal', journal, '--errors', '--json']);
  assert.deepEqual(errors.stdout.trim().split('\n').map((l) => JSON.parse(l).pod.name), ['b']);
  assert.equal((await cli(['tail', '--journal', journal, '--pod', 'ns1/a', '--since', '10m'])).stdout.trim().split('\n').length, 1);
  assert.equal((await cli(['tail', '--journal', journal, '--last', 'x'])).exitCode, 2, 'a usage error');
  const shown = await cli(['show', '--pod', 'ns1/b', '--journal', journal, '--width', '70'], { env: { NO_COLOR: '1' } });
  assert.equal(shown.exitCode, 0, shown.stderr);
  assert.match(shown.stdout, /^fx-bad +│ *█+ *│/m);
  assert.match(shown.stdout, /error 7: nope/);
  const missing = await cli(['show', 'deadbeefdeadbeef', '--journal', journal]);
  assert.equal(missing.exitCode, 1);
  assert.match(missing.stderr, /no invocation with trace or span id deadbeefdeadbeef/);
  const stats = JSON.parse((await cli(['stats', '--journal', journal, '--json'])).stdout);
  assert.equal(stats.invocations, 2);
  assert.deepEqual(stats.rows.find((r: { plugin: string }) => r.plugin === 'fx-bad').errors, 1);

  // `cni-trace tail | head -1`: the reader leaves first; tail stops quietly, no stack trace.
  const piped = execa(process.execPath, [CLI, 'tail', '--journal', journal], { reject: false });
  piped.stdout.destroy();
  const ended = await piped;
  assert.equal(ended.exitCode, 0, ended.stderr);
  assert.equal(ended.stderr, '');
});

test('tail on a directory with no journal says so and fails', async () => {
  const r = await cli(['tail', '--journal', join(sb.dir, 'nothing-here')]);
  assert.equal(r.exitCode, 1);
  assert.match(r.stderr, /no journal at .*nothing-here/);
});

test('tail --follow prints an invocation that happens after it started', async () => {
  const journal = join(sb.dir, 'follow-journal');
  const bin = join(sb.dir, 'follow-bin');
  assert.equal((await cli(['install', '--bin-dir', bin])).exitCode, 0);
  installFixtures(bin, ['fx-ok']);
  const follower = execa(process.execPath, [CLI, 'tail', '--journal', journal, '--follow', '--json'], { reject: false });
  let out = '';
  follower.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  await new Promise((r) => setTimeout(r, 400));
  await execa(join(bin, 'cni-trace'), [], {
    env: { CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'f1', CNI_IFNAME: 'eth0', CNI_PATH: bin }, extendEnv: false,
    input: JSON.stringify({ cniVersion: '1.0.0', name: 'follownet', type: 'cni-trace', journalDir: journal, delegates: [{ type: 'fx-ok' }] }),
  });
  for (let i = 0; i < 40 && !out.includes('\n'); i++) await new Promise((r) => setTimeout(r, 100));
  follower.kill('SIGTERM');
  await follower;
  const inv = JSON.parse(out.trim().split('\n')[0]!);
  assert.equal(inv.command, 'DEL');
  assert.equal(inv.containerId, 'f1');
  assert.equal(inv.status, 'ok');
});
