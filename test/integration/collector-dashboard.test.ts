/**
 * The Grafana dashboard over the path the compose stack and the cluster take: the agent pushes its
 * metrics over OTLP to the real OpenTelemetry Collector running the shipped otel-collector.yaml,
 * whose prometheus exporter a real Prometheus scrapes; every panel's query and template variable
 * is answered there as it is from the agent's own endpoint (dashboard.test.ts).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ResultPromise } from 'execa';
import { agentDaemon } from '../support/agent-process.ts';
import { ensureTools, startCollector, type Collector } from '../support/backends.ts';
import { freePort } from '../support/ports.ts';
import { checkDashboardPanels, checkDashboardVariables, dashboardCalls, startPrometheus, type Prometheus } from '../support/prometheus.ts';
import { Sandbox } from '../support/sandbox.ts';

const sb = new Sandbox('collector-dashboard');
const journal = join(sb.dir, 'journal');
let agent: ResultPromise | null = null;
let prometheus: Prometheus | null = null;
let collector: Collector | null = null;

before(async () => {
  await ensureTools();
  // The traces go nowhere (closed ports for Jaeger and Tempo): the metrics must not wait for them.
  collector = await startCollector(sb.dir, { jaeger: `127.0.0.1:${await freePort()}`, nodeName: 'collector-node' });
  agent = agentDaemon(['--journal', journal, '--state-dir', join(sb.dir, 'state'), '--interval', '100ms', '--metric-interval', '1000', '--status-every', '0', '--node-name', 'node-7'],
    { OTEL_EXPORTER_OTLP_ENDPOINT: collector.otlpHttp });
  prometheus = await startPrometheus(sb.dir, collector.prometheus);
  await dashboardCalls(join(sb.dir, 'bin'), journal);
  await sleep(3500); // the last push and scrapes
});
after(async () => {
  agent?.kill('SIGTERM');
  await Promise.allSettled([agent, prometheus?.stop(), collector?.stop()]);
  await sb.cleanup();
});

test('every panel query of the dashboard returns the series it is for, scraped from the collector', () => checkDashboardPanels(prometheus!));

test('the dashboard\'s template variables list the commands and plugins seen, through the collector', () => checkDashboardVariables(prometheus!));

test('the collector turns the agent\'s resource into labels: the agent\'s node, not the collector\'s', async () => {
  const series = await prometheus!.query('cni_plugin_duration_count');
  assert.ok(series.length > 0);
  for (const s of series) assert.equal(s.metric.k8s_node_name, 'node-7', JSON.stringify(s.metric));
});
