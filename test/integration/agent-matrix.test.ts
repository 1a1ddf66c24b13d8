/**
 * The fault matrix rows about the agent and about secrets (RELIABILITY.md): a collector that
 * is down for a long stretch while the journal grows, and one that stalls; credentials in
 * generated configs, CNI_ARGS and OTLP headers, checked everywhere they could surface (journal,
 * spans as received, tail, show, the TUI, logs, --help, --status); OTLP over TLS with a custom
 * CA and headers.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { renderInvocation } from '../../src/cli/show.ts';
import { invocationJson, invocationLine } from '../../src/cli/tail.ts';
import { InvocationIndex } from '../../src/journal/invocations.ts';
import { readJournal } from '../../src/journal/reader.ts';
import { tabLines } from '../../tui/components/DetailTabs.ts';
import { agentDaemon, agentOnce, CLI } from '../support/agent-process.ts';
import { installFixtures } from '../support/fixtures.ts';
import { configWithSecrets, prng } from '../support/fuzz.ts';
import { OtlpReceiver } from '../support/otlp-receiver.ts';
import { callPlugin, cniEnv } from '../support/run-plugin.ts';
import { freshDirs, recordDels } from '../support/journals.ts';
import { Sandbox } from '../support/sandbox.ts';

const sb = new Sandbox('faultagent');
after(() => sb.cleanup());
function rootsOnce(r: OtlpReceiver, count: number): void {
  const roots = r.spans.filter((s) => s.name.startsWith('CNI '));
  assert.equal(new Set(roots.map((s) => s.attributes['container.id'])).size, count, 'every invocation arrived');
  assert.equal(r.spans.length, count * 2, 'each once: a root and its step');
}

const rssMb = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

test('row 6: the collector is down while 600 invocations are written: the agent backs off, stays small, and delivers each once after recovery', { timeout: 180_000 }, async () => {
  const d = freshDirs(sb);
  const receiver = new OtlpReceiver();
  await receiver.start();
  const port = receiver.port;
  await receiver.stop();
  const agent = agentDaemon(['--journal', d.journal, '--state-dir', d.state, '--interval', '100ms', '--status-every', '0'], { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` });
  let peak = 0;
  const sampler = setInterval(() => { try { peak = Math.max(peak, rssMb(agent.pid!)); } catch { /* not yet */ } }, 200);
  try {
    const downAt = Date.now();
    for (let round = 0; round < 6; round++) {
      await recordDels(d.journal, 100, round * 100);
      await sleep(2000);
    }
    const downFor = (Date.now() - downAt) / 1000;
    const status = JSON.parse(readFileSync(join(d.state, 'status.json'), 'utf8')) as { retries: number; queued: number };
    assert.ok(status.queued > 0, 'it holds what it could not send');
    assert.ok(status.retries >= 1 && status.retries <= downFor, `backed off: ${status.retries} attempts in ${downFor.toFixed(0)} s of outage`);
    await receiver.start(port);
    for (let i = 0; i < 120 && receiver.spans.length < 1200; i++) await sleep(500);
    rootsOnce(receiver, 600);
    assert.ok(peak > 0 && peak < 200, `agent RSS stayed under 200 MB (peak ${peak.toFixed(0)} MB)`);
    console.log(`# collector down ${downFor.toFixed(0)} s, 600 invocations written meanwhile: ${status.retries} attempts, all delivered once, agent peak RSS ${peak.toFixed(0)} MB`);
  } finally {
    clearInterval(sampler);
    agent.kill('SIGTERM');
    await agent;
    await receiver.stop();
  }
});

test('row 6: a collector that stalls past the export timeout: the agent retries, and every invocation arrives once when it answers again', { timeout: 120_000 }, async () => {
  const d = freshDirs(sb);
  await recordDels(d.journal, 40, 0);
  const receiver = new OtlpReceiver();
  await receiver.start();
  receiver.delayMs = 3000;
  const agent = agentDaemon(['--journal', d.journal, '--state-dir', d.state, '--interval', '100ms', '--timeout', '1000', '--status-every', '0'], { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint });
  try {
    for (let i = 0; i < 40 && receiver.requests.length < 2; i++) await sleep(250);
    assert.ok(receiver.requests.length >= 1, 'the agent tried');
    assert.equal(receiver.spans.length, 0, 'nothing was accepted while it stalled');
    receiver.delayMs = 0;
    for (let i = 0; i < 160 && receiver.spans.length < 80; i++) await sleep(250);
    rootsOnce(receiver, 40);
  } finally {
    agent.kill('SIGTERM');
    await agent;
    await receiver.stop();
  }
});

test('row 10: credentials in generated configs, nested calls and CNI_ARGS never reach the journal, the spans, tail, show, the TUI or the logs', { timeout: 120_000 }, async () => {
  const bin = join(sb.dir, 'bin-secrets');
  installFixtures(bin, ['fx-caller', 'fx-leaf']);
  const d = freshDirs(sb);
  const r = prng(4242);
  const secrets: string[] = [];
  const stderrs: string[] = [];
  const CASES = 40;
  for (let i = 0; i < CASES; i++) {
    const outer = configWithSecrets(r, `o${i}`);
    const inner = configWithSecrets(r, `i${i}`);
    const argSecret = `S3CR3T-args-${i}`;
    for (const secret of [...outer.secrets, ...inner.secrets, argSecret]) secrets.push(secret);
    const res = await callPlugin({
      env: cniEnv('ADD', bin, { CNI_CONTAINERID: `sec-${i}`, CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAME=p${i};DB_PASSWORD=${argSecret}` }),
      stdin: {
        cniVersion: '1.0.0', name: 'secnet', type: 'cni-trace', journalDir: d.journal, runDir: join(sb.dir, 'run-secrets'),
        delegates: [{ type: 'fx-caller', ...outer.config, fx: { mode: 'call', call: { type: 'fx-leaf', ...inner.config } } }],
      },
      nestedTracing: true,
    });
    assert.equal(res.code, 0, res.stdout + res.stderr);
    stderrs.push(res.stderr);
  }
  const leaks = (where: string, text: string): void => {
    const found = secrets.filter((s) => text.includes(s));
    assert.deepEqual(found, [], `no secret in ${where}`);
  };
  const journalText = readdirSync(d.journal).map((f) => readFileSync(join(d.journal, f), 'utf8')).join('');
  assert.ok(journalText.includes('[REDACTED]'));
  leaks('the journal', journalText);
  leaks('the wrapper\'s stderr', stderrs.join(''));
  const index = new InvocationIndex();
  for (const rec of readJournal(d.journal)) index.add(rec);
  const invs = index.list();
  assert.equal(invs.length, CASES);
  assert.ok(invs.every((i) => i.steps.some((s) => s.plugin === 'fx-leaf' && s.depth === 1)), 'the nested call (and its config) was journaled');
  for (const inv of invs) {
    leaks('tail', `${invocationLine(inv, false)}\n${JSON.stringify(invocationJson(inv))}`);
    leaks('show', renderInvocation(inv, { colour: false, width: 120 }));
    leaks('the TUI', Array.from({ length: inv.steps.length + 1 }, (_, k) => tabLines(inv, k, Date.now()).join('\n')).join('\n'));
  }
  const headerSecret = 'S3CR3T-header-token';
  const receiver = new OtlpReceiver();
  await receiver.start();
  try {
    const run = await agentOnce(['--journal', d.journal, '--state-dir', d.state], { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_EXPORTER_OTLP_HEADERS: `authorization=Bearer%20${headerSecret}` });
    assert.equal(run.exitCode, 0, run.stderr);
    assert.equal(receiver.headers.at(-1)?.authorization, `Bearer ${headerSecret}`, 'the header reached the collector');
    leaks('the spans as received', JSON.stringify(receiver.spans));
    assert.ok(!run.stderr.includes(headerSecret), 'the agent\'s log');
    const status = await execa(process.execPath, [CLI, 'agent', '--status', '--state-dir', d.state], { env: { OTEL_EXPORTER_OTLP_HEADERS: `authorization=${headerSecret}` } });
    assert.ok(!status.stdout.includes(headerSecret) && !status.stderr.includes(headerSecret), '--status');
    const help = await execa(process.execPath, [CLI, 'agent', '--help'], { env: { OTEL_EXPORTER_OTLP_HEADERS: `authorization=${headerSecret}` } });
    assert.ok(!help.stdout.includes(headerSecret), '--help');
  } finally {
    await receiver.stop();
  }
  const dead = await agentOnce(['--journal', d.journal, '--state-dir', join(sb.dir, 'state-dead'), '--once-attempts', '1', '--timeout', '500'],
    { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9', OTEL_EXPORTER_OTLP_HEADERS: `x-api-key=${headerSecret}` });
  assert.equal(dead.exitCode, 1);
  assert.match(dead.stderr, /error: the collector never accepted/);
  assert.ok(!dead.stderr.includes(headerSecret), 'nor in errors');
  console.log(`# credentials: ${secrets.length} secret values in ${CASES} generated configs (nested calls and CNI_ARGS included) and one OTLP header: none found in any output`);
});

test('row 13: OTLP over TLS with a custom CA and headers; without the CA it fails clearly, printing no secret', { timeout: 120_000 }, async () => {
  const dir = join(sb.dir, 'tls');
  mkdirSync(dir);
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  await execa('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=cni-trace test collector', '-addext', 'subjectAltName=IP:127.0.0.1']);
  const d = freshDirs(sb);
  await recordDels(d.journal, 5, 0);
  const receiver = new OtlpReceiver({ tls: { key: readFileSync(key), cert: readFileSync(cert) } });
  await receiver.start();
  const secret = 'S3CR3T-tls-header';
  try {
    const refused = await agentOnce(['--journal', d.journal, '--state-dir', join(d.state, 'no-ca'), '--once-attempts', '1'], { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_EXPORTER_OTLP_HEADERS: `authorization=${secret}` });
    assert.equal(refused.exitCode, 1);
    assert.match(refused.stderr, /self[- ]signed certificate|unable to verify/i);
    assert.ok(!refused.stderr.includes(secret));
    const ok = await agentOnce(['--journal', d.journal, '--state-dir', d.state], {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_EXPORTER_OTLP_CERTIFICATE: cert, OTEL_EXPORTER_OTLP_HEADERS: `authorization=${secret}`,
    });
    assert.equal(ok.exitCode, 0, ok.stderr);
    assert.match(ok.stderr, /exporting to https:\/\/127\.0\.0\.1:\d+\/v1\/traces \(http\/json; headers: authorization=\*\*\*; tls: ca /);
    assert.ok(!ok.stderr.includes(secret));
    rootsOnce(receiver, 5);
    assert.equal(receiver.headers.at(-1)?.authorization, secret);
    const badPath = await agentOnce(['--journal', d.journal, '--state-dir', d.state, '--certificate', join(dir, 'missing.pem')], { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint });
    assert.notEqual(badPath.exitCode, 0);
    assert.match(badPath.stderr, /--certificate: cannot read .*missing\.pem: ENOENT/);
  } finally {
    await receiver.stop();
  }
});
