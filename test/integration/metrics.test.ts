/**
 * The agent's metrics from a journal the real wrapper wrote (fixture delegates: successes,
 * CNI errors, a nested call): received over OTLP/HTTP by the test's receiver, and scraped from
 * the Prometheus endpoint of a running agent.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { agentDaemon, agentOnce } from '../support/agent-process.ts';
import { installFixtures } from '../support/fixtures.ts';
import { OtlpReceiver } from '../support/otlp-receiver.ts';
import { callPlugin, cniEnv } from '../support/run-plugin.ts';
import { freePort } from '../support/ports.ts';
import { Sandbox } from '../support/sandbox.ts';

const sb = new Sandbox('metrics');
const bin = join(sb.dir, 'bin');
const journal = join(sb.dir, 'journal');

before(async () => {
  installFixtures(bin, ['fx-ok', 'fx-bad', 'fx-caller', 'fx-leaf']);
  const run = async (id: string, delegates: object[]): Promise<void> => {
    await callPlugin({
      env: cniEnv('ADD', bin, { CNI_CONTAINERID: id }), nestedTracing: true,
      stdin: { cniVersion: '1.0.0', name: 'metricnet', type: 'cni-trace', journalDir: journal, runDir: join(sb.dir, 'run'), delegates },
    });
  };
  for (let i = 0; i < 3; i++) await run(`ok-${i}`, [{ type: 'fx-ok' }]);
  for (let i = 0; i < 2; i++) await run(`bad-${i}`, [{ type: 'fx-ok' }, { type: 'fx-bad', fx: { mode: 'fail', code: 42, msg: 'no' } }]);
  await run('nested', [{ type: 'fx-caller', fx: { mode: 'call', call: { type: 'fx-leaf' } } }]);
});
after(() => sb.cleanup());

type Point = Record<string, unknown> & { attributes: Record<string, unknown> };

test('per plugin and command: duration histograms, error counts and calls in flight arrive over OTLP', async () => {
  const receiver = new OtlpReceiver();
  await receiver.start();
  try {
    const run = await agentOnce(['--journal', journal, '--state-dir', join(sb.dir, 'state-otlp')], { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint });
    assert.equal(run.exitCode, 0, run.stderr);
    const metric = (name: string) => {
      const m = receiver.metrics.filter((x) => x.name === name);
      assert.ok(m.length > 0, `${name} arrived (got ${receiver.metrics.map((x) => x.name).join(', ')})`);
      return m.flatMap((x) => x.dataPoints.map((p): Point => ({ ...p, kind: x.kind, unit: x.unit })));
    };
    const durations = metric('cni.plugin.duration');
    const of = (points: Point[], attrs: Record<string, unknown>): Point[] => points.filter((p) => Object.entries(attrs).every(([k, v]) => p.attributes[k] === v));
    const okAdd = of(durations, { 'cni.plugin.type': 'fx-ok', 'cni.command': 'ADD', 'cni.step.depth': 0 });
    assert.equal(okAdd.reduce((n, p) => n + Number(p.count), 0), 5, 'fx-ok ran five times (three alone, two before fx-bad)');
    assert.equal((durations[0] as { kind?: string }).kind, 'histogram');
    assert.ok(Array.isArray(okAdd[0]!.explicitBounds) && (okAdd[0]!.explicitBounds as number[]).includes(0.1), 'second-scale buckets');
    assert.equal(of(durations, { 'cni.plugin.type': 'fx-leaf', 'cni.step.depth': 1 }).reduce((n, p) => n + Number(p.count), 0), 1, 'the nested call, at depth 1');
    const errors = metric('cni.plugin.errors');
    assert.equal(of(errors, { 'cni.plugin.type': 'fx-bad', 'error.type': 'cni.42' }).reduce((n, p) => n + Number(p.asInt ?? p.asDouble), 0), 2);
    assert.equal(metric('cni.invocation.errors').reduce((n, p) => n + Number(p.asInt ?? p.asDouble), 0), 2);
    assert.equal(metric('cni.invocation.duration').reduce((n, p) => n + Number(p.count), 0), 6);
    assert.ok(metric('cni.invocations.in_flight').length > 0);
  } finally {
    await receiver.stop();
  }
});

test('on request, a Prometheus endpoint serves the same metrics for scraping, on the loopback address unless told otherwise', async () => {
  const port = await freePort();
  const agent = agentDaemon(['--journal', journal, '--state-dir', join(sb.dir, 'state-prom'), '--prometheus-port', String(port), '--metrics-exporter', 'none', '--interval', '100ms'],
    { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1' });
  try {
    let text = '';
    for (let i = 0; i < 100 && !text.includes('cni_plugin_errors_total'); i++) {
      await sleep(100);
      text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text(), () => '');
    }
    // The names the collector's prometheus exporter gives them too (collector-config, add_metric_suffixes: false).
    assert.match(text, /# TYPE cni_plugin_duration histogram/);
    assert.match(text, /cni_plugin_duration_count\{[^}]*cni_plugin_type="fx-ok"[^}]*cni_command="ADD"[^}]*\} 5/);
    assert.match(text, /cni_plugin_duration_bucket\{[^}]*le="0\.1"/);
    assert.match(text, /cni_plugin_errors_total\{[^}]*cni_plugin_type="fx-bad"[^}]*error_type="cni\.42"[^}]*\} 2/);
    assert.match(text, /cni_invocations_in_flight/);
    const listening = (await execa('ss', ['-Hltn', `sport = :${port}`])).stdout.trim().split('\n').map((l) => l.split(/\s+/)[3]);
    assert.deepEqual(listening, [`127.0.0.1:${port}`], 'bound to the loopback address only');
  } finally {
    agent.kill('SIGTERM');
    await agent;
  }
});
