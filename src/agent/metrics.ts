/**
 * The agent's metrics: per plugin and command, duration histograms and error counts, plus the
 * calls in flight, as OpenTelemetry metrics — pushed over OTLP/HTTP beside the traces, and on
 * request served for Prometheus to scrape. Recorded once per invocation, when the agent queues it
 * for export (ended or abandoned), from the journal's own durations.
 *
 * Names (Prometheus form after the arrow):
 *   cni.plugin.duration       histogram, s  → cni_plugin_duration_seconds_{bucket,sum,count}
 *   cni.invocation.duration   histogram, s  → cni_invocation_duration_seconds_…
 *   cni.plugin.errors         counter       → cni_plugin_errors_total
 *   cni.invocation.errors     counter       → cni_invocation_errors_total
 *   cni.invocations.in_flight gauge         → cni_invocations_in_flight
 *   cni.command.duration      histogram, s  → cni_command_duration_seconds_… (traced commands)
 *   cni.findings              gauge         → cni_findings (what `diagnose` finds, by kind)
 * Attributes: cni.plugin.type, cni.command, cni.step.depth (0 for delegates, 1+ for nested
 * calls), error.type (cni.<code>, or abandoned) on the error counters; process.command on a
 * command's duration; cni.finding.kind (slow, errors, leaked, retried, abandoned, ipam) on the
 * findings, judged over the invocations of the last FINDINGS_WINDOW_MS (at most FINDINGS_KEEP).
 */
import { OTLPMetricExporter as JsonMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as ProtobufMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import type { Resource } from '@opentelemetry/resources';
import { ExportResultCode } from '@opentelemetry/core';
import { MeterProvider, PeriodicExportingMetricReader, type MetricReader, type PushMetricExporter } from '@opentelemetry/sdk-metrics';
import type { Invocation } from '../journal/invocations.ts';
import { Diagnosis, FINDING_KINDS, type FindingKind } from '../view/findings.ts';
import { netnsGone } from '../view/netns.ts';
import type { AgentConfig } from './config.ts';
import { tlsOptions } from './exporter.ts';
import { PRODUCT, VERSION } from '../product.ts';

/** Findings are judged over the last hour's invocations, at most this many of them. */
export const FINDINGS_WINDOW_MS = 3_600_000;
export const FINDINGS_KEEP = 5000;

/**
 * The recent invocations and their findings per kind, judged again only when something new
 * arrived (a metrics collection asks every interval).
 */
export class RecentFindings {
  private readonly recent: Invocation[] = [];
  private counts: Map<FindingKind, number> | null = null;
  private readonly gone: (path: string) => boolean;

  constructor(gone: (path: string) => boolean = netnsGone) {
    this.gone = gone;
  }

  add(inv: Invocation): void {
    this.recent.push(inv);
    if (this.recent.length > FINDINGS_KEEP) this.recent.shift();
    this.counts = null;
  }

  /** Findings per kind (every kind, 0 when none) over the window ending at `nowMs`. */
  byKind(nowMs = Date.now()): Map<FindingKind, number> {
    const cutoff = BigInt(nowMs - FINDINGS_WINDOW_MS) * 1_000_000n;
    while (this.recent.length > 0 && this.recent[0]!.startNs !== null && BigInt(this.recent[0]!.startNs) < cutoff) {
      this.recent.shift();
      this.counts = null;
    }
    if (this.counts) return this.counts;
    const d = new Diagnosis();
    for (const inv of this.recent) d.add(inv);
    const counts = new Map<FindingKind, number>(FINDING_KINDS.map((k) => [k, 0]));
    for (const f of d.findings(this.gone)) counts.set(f.kind, counts.get(f.kind)! + 1);
    return (this.counts = counts);
  }
}

/** Seconds: from a fast IPAM call to a plugin stuck for a minute. */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export interface AgentMetrics {
  /** One finished (or abandoned) invocation. */
  record(inv: Invocation): void;
  /** Pushes what is pending and stops the readers (and the scrape endpoint). */
  shutdown(): Promise<void>;
}

/**
 * The push exporter with its failures said on the agent's log: the SDK tells only its own global
 * error handler, which says nothing, so a collector refusing the metrics went unseen. Once when
 * pushes start failing, once when one works again: a collector down for an hour is two lines.
 */
export function reportingFailures(exporter: PushMetricExporter, url: string, log: (line: string) => void): PushMetricExporter {
  let failing = false;
  return {
    export(metrics, done) {
      exporter.export(metrics, (result) => {
        if (result.code !== ExportResultCode.SUCCESS && !failing) {
          failing = true;
          // The exporter's error carries the HTTP status as `code` when the collector answered.
          const e = result.error as (Error & { code?: unknown }) | undefined;
          const why = e ? `${e.message}${typeof e.code === 'number' ? ` (HTTP ${e.code})` : ''}` : 'no reason given';
          log(`warning: pushing metrics to ${url} failed: ${why} (said again only after a push works)`);
        } else if (result.code === ExportResultCode.SUCCESS && failing) {
          failing = false;
          log(`pushing metrics to ${url} works again`);
        }
        done(result);
      });
    },
    forceFlush: () => exporter.forceFlush(),
    shutdown: () => exporter.shutdown(),
    ...(exporter.selectAggregationTemporality ? { selectAggregationTemporality: (t) => exporter.selectAggregationTemporality!(t) } : {}),
    ...(exporter.selectAggregation ? { selectAggregation: (t) => exporter.selectAggregation!(t) } : {}),
  };
}

export function agentMetrics(cfg: AgentConfig, resource: Resource, inFlight: () => number, log: (line: string) => void): AgentMetrics | null {
  const readers: MetricReader[] = [];
  if (cfg.metricsUrl) {
    const tls = tlsOptions(cfg.tls);
    const Exporter = cfg.metricsProtocol === 'http/protobuf' ? ProtobufMetricExporter : JsonMetricExporter;
    readers.push(new PeriodicExportingMetricReader({
      exporter: reportingFailures(new Exporter({
        url: cfg.metricsUrl, headers: { ...cfg.headers }, timeoutMillis: cfg.timeoutMs,
        ...(tls ? { httpAgentOptions: { keepAlive: true, ...tls } } : {}),
      }), cfg.metricsUrl, log),
      exportIntervalMillis: cfg.metricsIntervalMs,
      exportTimeoutMillis: Math.min(cfg.timeoutMs, cfg.metricsIntervalMs),
    }));
  }
  if (cfg.prometheusPort !== null) {
    readers.push(new PrometheusExporter({ host: cfg.prometheusHost, port: cfg.prometheusPort }, (err) => {
      if (err) log(`warning: the Prometheus endpoint did not start: ${err.message}`);
      else log(`serving Prometheus metrics on http://${cfg.prometheusHost}:${cfg.prometheusPort}/metrics`);
    }));
  }
  if (readers.length === 0) return null;
  const provider = new MeterProvider({ resource, readers });
  const meter = provider.getMeter(PRODUCT, VERSION);
  const pluginDuration = meter.createHistogram('cni.plugin.duration', { unit: 's', description: 'How long each plugin call took (delegates and nested calls)', advice: { explicitBucketBoundaries: BUCKETS } });
  const invocationDuration = meter.createHistogram('cni.invocation.duration', { unit: 's', description: 'How long each CNI call through cni-trace took', advice: { explicitBucketBoundaries: BUCKETS } });
  const pluginErrors = meter.createCounter('cni.plugin.errors', { description: 'Plugin calls that failed' });
  const invocationErrors = meter.createCounter('cni.invocation.errors', { description: 'CNI calls that failed or were abandoned' });
  meter.createObservableGauge('cni.invocations.in_flight', { description: 'CNI calls begun and not yet ended' })
    .addCallback((result) => result.observe(inFlight()));
  const commandDuration = meter.createHistogram('cni.command.duration', { unit: 's', description: 'How long each traced command a plugin ran took (iptables, ip …)', advice: { explicitBucketBoundaries: BUCKETS } });
  const findings = new RecentFindings();
  meter.createObservableGauge('cni.findings', { description: 'What cni-trace diagnose finds over the last hour, by kind' })
    .addCallback((result) => { for (const [kind, n] of findings.byKind()) result.observe(n, { 'cni.finding.kind': kind }); });
  return {
    record(inv) {
      findings.add(inv);
      for (const step of inv.steps) {
        if (step.status === 'skipped' || step.status === 'in-flight') continue;
        if (step.argv) {
          // A command is not a plugin: its own histogram, and its non-zero exits are answers, not errors.
          if (step.durationMs !== null) commandDuration.record(step.durationMs / 1000, { 'process.command': step.plugin, 'cni.command': step.command });
          continue;
        }
        const attrs = { 'cni.plugin.type': step.plugin, 'cni.command': step.command, 'cni.step.depth': step.depth };
        if (step.durationMs !== null) pluginDuration.record(step.durationMs / 1000, attrs);
        if (step.status === 'error' || step.status === 'abandoned') {
          pluginErrors.add(1, { ...attrs, 'error.type': step.error ? `cni.${step.error.code}` : step.status === 'abandoned' ? 'abandoned' : `exit.${step.exitCode ?? step.signal ?? '?'}` });
        }
      }
      if (inv.durationMs !== null) invocationDuration.record(inv.durationMs / 1000, { 'cni.command': inv.command });
      if (inv.status === 'error' || inv.status === 'abandoned') {
        invocationErrors.add(1, { 'cni.command': inv.command, 'error.type': inv.error ? `cni.${inv.error.code}` : 'abandoned' });
      }
    },
    shutdown: () => provider.shutdown(),
  };
}
