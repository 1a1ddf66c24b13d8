/**
 * `cni-trace doctor` on a good node set-up (installed executable, wrapped conflist over the
 * Debian plugins, a journal written by a real call, a running agent, a real OTLP receiver),
 * then with each part broken in turn: every check fails (or warns) with a fix, and passes again.
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, renameSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';
import { wrapConflist } from '../../src/cli/conflist.ts';
import type { Check } from '../../src/cli/doctor.ts';
import { agentDaemon, CLI } from '../support/agent-process.ts';
import { DEBIAN_CNI, installCniTrace } from '../support/fixtures.ts';
import { OtlpReceiver } from '../support/otlp-receiver.ts';
import { callPlugin, cniEnv } from '../support/run-plugin.ts';
import { Sandbox } from '../support/sandbox.ts';

/** The command doctor suggests, as it runs from here: the CLI by its path (it is not on PATH in the test). */
const CMD = `(cni-trace|node \\S+/dist/cli\\.js|\\S+/node \\S+/dist/cli\\.js)`;
const sb = new Sandbox('doctor');
const bin = join(sb.dir, 'bin');
const conf = join(sb.dir, 'net.d');
const journal = join(sb.dir, 'journal');
const state = join(sb.dir, 'state');
const receiver = new OtlpReceiver();
let agent: ResultPromise | null = null;
const conflist = join(conf, '10-net.conflist');
const list = (delegates: object[], extra: object = {}): string => JSON.stringify({ ...wrapConflist({ cniVersion: '1.0.0', name: 'docnet', plugins: delegates as never }, { journalDir: journal }), ...extra });
const good = list([{ type: 'bridge', bridge: 'cni0', ipam: { type: 'host-local', subnet: '10.22.0.0/16' } }, { type: 'portmap', capabilities: { portMappings: true } }]);

before(async () => {
  installCniTrace(bin);
  mkdirSync(conf);
  writeFileSync(conflist, good);
  // A real call writes the journal (0700).
  const r = await callPlugin({ env: cniEnv('DEL', DEBIAN_CNI, { CNI_NETNS: undefined }), stdin: { cniVersion: '1.0.0', name: 'docnet', type: 'cni-trace', journalDir: journal, delegates: [{ type: 'loopback' }] } });
  assert.equal(r.code, 0, r.stdout);
  await receiver.start();
  agent = agentDaemon(['--journal', journal, '--state-dir', state, '--interval', '100ms', '--status-every', '0'], { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint });
  for (let i = 0; i < 100 && receiver.spans.length === 0; i++) await sleep(100);
});
after(async () => {
  agent?.kill('SIGTERM');
  await agent;
  await receiver.stop();
  await sb.cleanup();
});

async function doctor(extra: string[] = []): Promise<{ code: number | undefined; checks: Check[]; text: string }> {
  const args = ['doctor', '--bin-dir', bin, '--bin-dir', DEBIAN_CNI, '--conf-dir', conf, '--journal', journal, '--state-dir', state, '--endpoint', receiver.endpoint, ...extra];
  const json = await execa(process.execPath, [CLI, ...args, '--json'], { reject: false });
  const text = await execa(process.execPath, [CLI, ...args], { reject: false, env: { NO_COLOR: '1' } });
  return { code: json.exitCode, checks: (JSON.parse(json.stdout) as { checks: Check[] }).checks, text: text.stdout };
}

const status = (checks: Check[], name: string): Check => {
  const c = checks.find((x) => x.name === name);
  assert.ok(c, `a "${name}" check`);
  return c;
};

/** Breaks something, expects `name` to come out `expected` with a fix matching `fix`, repairs it, expects all good again. */
async function broken(name: string, expected: 'fail' | 'warn', detail: RegExp, fix: RegExp, breakIt: () => void | Promise<void>, repair: () => void | Promise<void>): Promise<void> {
  await breakIt();
  try {
    const r = await doctor();
    const c = status(r.checks, name);
    assert.equal(c.status, expected, `${name}: ${c.detail}`);
    assert.match(c.detail, detail);
    assert.match(c.fix ?? '', fix);
    assert.equal(r.code, expected === 'fail' ? 1 : 0);
    assert.match(r.text, new RegExp(`${expected === 'fail' ? 'FAIL' : 'warn'} ${name}`));
  } finally {
    await repair();
  }
}

test('a good set-up passes every check and exits 0', async () => {
  const r = await doctor();
  assert.deepEqual(r.checks.map((c) => [c.name, c.status]), [['plugin executable', 'ok'], ['conflist', 'ok'], ['delegates', 'ok'], ['journal', 'ok'], ['agent', 'ok'], ['collector', 'ok']], r.text);
  assert.equal(r.code, 0);
  assert.match(r.text, /all good/);
});

test('the plugin executable: missing, or not running', async () => {
  const exe = join(bin, 'cni-trace');
  await broken('plugin executable', 'fail', /no cni-trace in/, new RegExp(`^${CMD} install --bin-dir `), () => renameSync(exe, `${exe}.away`), () => renameSync(`${exe}.away`, exe));
  await broken('plugin executable', 'fail', /does not answer VERSION/, /reinstall/, () => { renameSync(exe, `${exe}.away`); writeFileSync(exe, '#!/bin/sh\nexit 3\n', { mode: 0o755 }); }, () => renameSync(`${exe}.away`, exe));
});

test('the conflist: not wrapped, an invalid wrapper entry, a delegate or IPAM plugin that is not installed', async () => {
  const restore = (): void => writeFileSync(conflist, good);
  await broken('conflist', 'fail', /is not wrapped: its calls are not traced/, new RegExp(`^${CMD} install .*--conf-dir .* --watch$`),
    () => writeFileSync(conflist, JSON.stringify({ cniVersion: '1.0.0', name: 'docnet', plugins: [{ type: 'bridge' }] })), restore);
  await broken('conflist', 'fail', /jounralDir: unknown key/, /fix the key/,
    () => writeFileSync(conflist, good.replace('"journalDir"', '"jounralDir"')), restore);
  await broken('delegates', 'fail', /not found in .*: calico-ipam/, /install the missing plugins/,
    () => writeFileSync(conflist, list([{ type: 'bridge', ipam: { type: 'calico-ipam' } }])), restore);
});

test('the journal directory: too open, a symlink, someone else\'s', async () => {
  await broken('journal', 'warn', /mode 755/, /chmod 0700/, () => chmodSync(journal, 0o755), () => chmodSync(journal, 0o700));
  await broken('journal', 'fail', /is a symlink/, /replace it with a real directory/,
    () => { renameSync(journal, `${journal}.real`); symlinkSync(`${journal}.real`, journal); },
    () => { unlinkSync(journal); renameSync(`${journal}.real`, journal); });
  await broken('journal', 'fail', /owned by uid 65534/, /chown root:root/, () => chownSync(journal, 65534, 65534), () => chownSync(journal, 0, 0));
});

test('the agent not running, and the collector not answering', async () => {
  await broken('agent', 'fail', /no agent status in/, new RegExp(`^run ${CMD} agent `),
    () => renameSync(state, `${state}.away`), () => renameSync(`${state}.away`, state));
  const gone = new OtlpReceiver();
  await gone.start();
  await gone.stop(); // a port nothing listens on
  const r = await execa(process.execPath, [CLI, 'doctor', '--bin-dir', bin, '--bin-dir', DEBIAN_CNI, '--conf-dir', conf, '--journal', journal, '--state-dir', state, '--endpoint', gone.endpoint, '--json'], { reject: false });
  assert.equal(r.exitCode, 1);
  const c = status((JSON.parse(r.stdout) as { checks: Check[] }).checks, 'collector');
  assert.equal(c.status, 'fail');
  assert.match(c.detail, /does not answer \(ECONNREFUSED\)/);
  assert.match(c.fix ?? '', /start the collector/);
  agent?.kill('SIGKILL');
  await agent;
  agent = null;
  const dead = status((await doctor()).checks, 'agent');
  assert.equal(dead.status, 'fail');
  assert.match(dead.detail, /is not running/);
});
