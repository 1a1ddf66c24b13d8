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
 * Attributes: cni.plugin.type, cni.command, cni.step.depth (0 for delegates, 1+ for nested
 * calls), error.type (cni.<code>, or abandoned) on the error counters.
 */
import { OTLPMetricExporter as JsonMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as ProtobufMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import type { Resource } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader, type MetricReader } from '@opentelemetry/sdk-metrics';
import type { Invocation } from '../journal/invocations.ts';
import type { AgentConfig } from './config.ts';
import { tlsOptions } from './exporter.ts';
import { PRODUCT, VERSION } from '../product.ts';

/** Seconds: from a fast IPAM call to a plugin stuck for a minute. */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export interface AgentMetrics {
  /** One finished (or abandoned) invocation. */
  record(inv: Invocation): void;
  /** Pushes what is pending and stops the readers (and the scrape endpoint). */
  shutdown(): Promise<void>;
}

export function agentMetrics(cfg: AgentConfig, resource: Resource, inFlight: () => number, log: (line: string) => void): AgentMetrics | null {
  const readers: MetricReader[] = [];
  if (cfg.metricsUrl) {
    const tls = tlsOptions(cfg.tls);
    const Exporter = cfg.metricsProtocol === 'http/protobuf' ? ProtobufMetricExporter : JsonMetricExporter;
    readers.push(new PeriodicExportingMetricReader({
      exporter: new Exporter({
        url: cfg.metricsUrl, headers: { ...cfg.headers }, timeoutMillis: cfg.timeoutMs,
        ...(tls ? { httpAgentOptions: { keepAlive: true, ...tls } } : {}),
      }),
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
  return {
    record(inv) {
      for (const step of inv.steps) {
        if (step.status === 'skipped' || step.status === 'in-flight') continue;
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
