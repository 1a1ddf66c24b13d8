/**
 * The Grafana dashboard's queries against a real Prometheus (Debian's binary, unpacked into
 * .cache/ by scripts/setup.sh) scraping a running agent's --prometheus-port while the wrapper
 * records calls — with no collector answering its trace exports, which must not hold the
 * metrics up: every panel's PromQL and every template variable returns the series a person would
 * look for — p50/p95/p99 per plugin, errors per plugin, calls in flight.
 */
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';
import { agentDaemon } from '../support/agent-process.ts';
import { installFixtures, ROOT } from '../support/fixtures.ts';
import { callPlugin, cniEnv } from '../support/run-plugin.ts';
import { freePort } from '../support/ports.ts';
import { Sandbox } from '../support/sandbox.ts';

const PROMETHEUS = join(ROOT, '.cache/prometheus/usr/bin/prometheus');
const DASHBOARD = join(ROOT, 'collector-config/grafana/provisioning/dashboards/cni-trace.json');
const sb = new Sandbox('dashboard');
const journal = join(sb.dir, 'journal');
let agent: ResultPromise | null = null;
let prometheus: ResultPromise | null = null;
let promUrl = '';

async function query(expr: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
  const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = await res.json() as { status: string; error?: string; data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
  assert.equal(body.status, 'success', `${expr}: ${body.error}`);
  return body.data.result;
}

before(async () => {
  assert.ok(existsSync(PROMETHEUS), `${PROMETHEUS} is missing: run scripts/setup.sh`);
  const bin = join(sb.dir, 'bin');
  installFixtures(bin, ['fx-ok', 'fx-bad']);
  const metricsPort = await freePort();
  // No collector answers the traces: the scrape endpoint must keep up with the calls regardless.
  agent = agentDaemon(['--journal', journal, '--state-dir', join(sb.dir, 'state'), '--prometheus-port', String(metricsPort), '--prometheus-host', '127.0.0.1', '--metrics-exporter', 'none', '--interval', '100ms', '--status-every', '0'],
    { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1' });
  const promPort = await freePort();
  promUrl = `http://127.0.0.1:${promPort}`;
  const config = join(sb.dir, 'prometheus.yml');
  writeFileSync(config, `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: cni-trace\n    static_configs:\n      - targets: ["127.0.0.1:${metricsPort}"]\n`);
  prometheus = execa(PROMETHEUS, [`--config.file=${config}`, `--storage.tsdb.path=${join(sb.dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${promPort}`], { reject: false, stdio: 'ignore' });
  // Calls for ~8 s while Prometheus scrapes every second: rates need samples that increase.
  const end = Date.now() + 8000;
  for (let i = 0; Date.now() < end; i++) {
    await callPlugin({
      env: cniEnv('ADD', bin, { CNI_CONTAINERID: `dash-${i}` }),
      stdin: { cniVersion: '1.0.0', name: 'dashnet', type: 'cni-trace', journalDir: journal, delegates: i % 4 === 3 ? [{ type: 'fx-ok' }, { type: 'fx-bad', fx: { mode: 'fail', code: 11, msg: 'no' } }] : [{ type: 'fx-ok' }] },
    });
    await sleep(100);
  }
  await sleep(2500); // the last scrapes
});
after(async () => {
  agent?.kill('SIGTERM');
  prometheus?.kill('SIGTERM');
  await Promise.allSettled([agent, prometheus]);
  await sb.cleanup();
});

test('every panel query of the dashboard returns the series it is for, from a real Prometheus', async () => {
  const dash = JSON.parse((await import('node:fs')).readFileSync(DASHBOARD, 'utf8')) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> };
  // As Grafana would send them: variables at "All", the rate interval a few scrapes long.
  const expand = (expr: string): string => expr.replaceAll('$__rate_interval', '20s').replaceAll('$command', '.*').replaceAll('$plugin', '.*');
  const results = new Map<string, Array<{ metric: Record<string, string>; value: [number, string] }>>();
  for (const panel of dash.panels) {
    const all = (await Promise.all(panel.targets.map((t) => query(expand(t.expr))))).flat();
    results.set(panel.title, all);
    assert.ok(all.length > 0, `panel "${panel.title}" has data (${panel.targets.map((t) => expand(t.expr)).join('; ')})`);
  }
  for (const q of ['p50', 'p95', 'p99']) {
    const series = results.get(`Plugin latency ${q}`)!;
    const fxOk = series.find((s) => s.metric.cni_plugin_type === 'fx-ok');
    assert.ok(fxOk, `${q} has a series for fx-ok`);
    const seconds = Number(fxOk.value[1]);
    assert.ok(seconds > 0 && seconds < 2, `${q} of fx-ok is a plausible duration in seconds: ${seconds}`);
  }
  const errors = results.get('Plugin errors per second')!;
  assert.ok(errors.some((s) => s.metric.cni_plugin_type === 'fx-bad' && s.metric.error_type === 'cni.11' && Number(s.value[1]) > 0), 'fx-bad\'s errors, by error type');
  assert.ok(results.get('CNI calls in flight')!.every((s) => Number(s.value[1]) >= 0));
});

test('the dashboard\'s template variables list the commands and plugins seen', async () => {
  const values = async (label: string): Promise<string[]> => {
    const res = await fetch(`${promUrl}/api/v1/label/${label}/values?${new URLSearchParams({ 'match[]': 'cni_plugin_duration_count' })}`);
    return (await res.json() as { data: string[] }).data;
  };
  assert.deepEqual(await values('cni_command'), ['ADD']);
  assert.deepEqual((await values('cni_plugin_type')).sort(), ['fx-bad', 'fx-ok']);
});
