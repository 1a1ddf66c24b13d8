/**
 * A real Prometheus (Debian's binary, unpacked into .cache/ by scripts/setup.sh) scraping one
 * target every second, and the Grafana dashboard's checks against it: every panel's query and
 * template variable answered with the series a person would look for. The dashboard tests run it
 * against the agent's own endpoint and against the collector's prometheus exporter.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { installFixtures, ROOT } from './fixtures.ts';
import { freePort } from './ports.ts';
import { callPlugin, cniEnv } from './run-plugin.ts';

export const PROMETHEUS = join(ROOT, '.cache/prometheus/usr/bin/prometheus');
const DASHBOARD = join(ROOT, 'collector-config/grafana/provisioning/dashboards/cni-trace.json');

type Series = { metric: Record<string, string>; value: [number, string] };

export interface Prometheus {
  readonly url: string;
  query(expr: string): Promise<Series[]>;
  stop(): Promise<void>;
}

/** Prometheus scraping `target` (host:port) every second, its data in `dir`. */
export async function startPrometheus(dir: string, target: string): Promise<Prometheus> {
  assert.ok(existsSync(PROMETHEUS), `${PROMETHEUS} is missing: run scripts/setup.sh`);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const config = join(dir, 'prometheus.yml');
  writeFileSync(config, `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: cni-trace\n    static_configs:\n      - targets: ["${target}"]\n`);
  const proc = execa(PROMETHEUS, [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${port}`], { reject: false, stdio: 'ignore' });
  return {
    url,
    async query(expr) {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = await res.json() as { status: string; error?: string; data: { result: Series[] } };
      assert.equal(body.status, 'success', `${expr}: ${body.error}`);
      return body.data.result;
    },
    async stop() {
      proc.kill('SIGTERM');
      await proc;
    },
  };
}

/**
 * Every panel query of the dashboard returns the series it is for: p50/p95/p99 of fx-ok, fx-bad's
 * errors by type, calls in flight. Call it after a few seconds of calls through fx-ok and fx-bad.
 */
export async function checkDashboardPanels(prom: Prometheus): Promise<void> {
  const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> };
  // As Grafana would send them: variables at "All", the rate interval a few scrapes long.
  const expand = (expr: string): string => expr.replaceAll('$__rate_interval', '20s').replaceAll('$command', '.*').replaceAll('$plugin', '.*');
  const results = new Map<string, Series[]>();
  for (const panel of dash.panels) {
    const all = (await Promise.all(panel.targets.map((t) => prom.query(expand(t.expr))))).flat();
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
  // fx-bad's failures are one "errors" finding (one plugin, one message); every kind has a series.
  const findings = results.get('Findings (cni-trace diagnose), by kind')!;
  assert.deepEqual(findings.map((s) => s.metric.cni_finding_kind).sort(), ['abandoned', 'errors', 'ipam', 'leaked', 'retried', 'slow']);
  assert.equal(Number(findings.find((s) => s.metric.cni_finding_kind === 'errors')!.value[1]), 1, 'fx-bad failing with one message: one finding');
}

/** The dashboard's template variables list the commands and plugins seen. */
export async function checkDashboardVariables(prom: Prometheus): Promise<void> {
  const values = async (label: string): Promise<string[]> => {
    const res = await fetch(`${prom.url}/api/v1/label/${label}/values?${new URLSearchParams({ 'match[]': 'cni_plugin_duration_count' })}`);
    return (await res.json() as { data: string[] }).data;
  };
  assert.deepEqual(await values('cni_command'), ['ADD']);
  assert.deepEqual((await values('cni_plugin_type')).sort(), ['fx-bad', 'fx-ok']);
}

/** ~8 s of ADDs through the wrapper (fx-ok; every 4th also fx-bad, failing with code 11), one per 100 ms: rates need increasing samples. */
export async function dashboardCalls(bin: string, journal: string): Promise<void> {
  installFixtures(bin, ['fx-ok', 'fx-bad']);
  const end = Date.now() + 8000;
  for (let i = 0; Date.now() < end; i++) {
    await callPlugin({
      env: cniEnv('ADD', bin, { CNI_CONTAINERID: `dash-${i}` }),
      stdin: { cniVersion: '1.0.0', name: 'dashnet', type: 'cni-trace', journalDir: journal, delegates: i % 4 === 3 ? [{ type: 'fx-ok' }, { type: 'fx-bad', fx: { mode: 'fail', code: 11, msg: 'no' } }] : [{ type: 'fx-ok' }] },
    });
    await sleep(100);
  }
}
