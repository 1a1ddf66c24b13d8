/**
 * The Grafana dashboard's queries against a real Prometheus (Debian's binary, unpacked into
 * .cache/ by scripts/setup.sh) scraping a running agent's --prometheus-port while the wrapper
 * records calls — with no collector answering its trace exports, which must not hold the
 * metrics up: every panel's PromQL and every template variable returns the series a person would
 * look for — p50/p95/p99 per plugin, errors per plugin, calls in flight.
 * (collector-dashboard.test.ts: the same through the collector's prometheus exporter.)
 */
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ResultPromise } from 'execa';
import { agentDaemon } from '../support/agent-process.ts';
import { freePort } from '../support/ports.ts';
import { checkDashboardPanels, checkDashboardVariables, dashboardCalls, startPrometheus, type Prometheus } from '../support/prometheus.ts';
import { Sandbox } from '../support/sandbox.ts';

const sb = new Sandbox('dashboard');
const journal = join(sb.dir, 'journal');
let agent: ResultPromise | null = null;
let prometheus: Prometheus | null = null;

before(async () => {
  const metricsPort = await freePort();
  // No collector answers the traces: the scrape endpoint must keep up with the calls regardless.
  agent = agentDaemon(['--journal', journal, '--state-dir', join(sb.dir, 'state'), '--prometheus-port', String(metricsPort), '--prometheus-host', '127.0.0.1', '--metrics-exporter', 'none', '--interval', '100ms', '--status-every', '0'],
    { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1' });
  prometheus = await startPrometheus(sb.dir, `127.0.0.1:${metricsPort}`);
  await dashboardCalls(join(sb.dir, 'bin'), journal);
  await sleep(2500); // the last scrapes
});
after(async () => {
  agent?.kill('SIGTERM');
  await Promise.allSettled([agent, prometheus?.stop()]);
  await sb.cleanup();
});

test('every panel query of the dashboard returns the series it is for, from a real Prometheus', () => checkDashboardPanels(prometheus!));

test('the dashboard\'s template variables list the commands and plugins seen', () => checkDashboardVariables(prometheus!));
