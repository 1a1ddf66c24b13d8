/**
 * The real trace backends, as a user runs them: Jaeger v2 (memory storage, query API) and the
 * OpenTelemetry Collector built from collector-config/builder-config.yaml running the shipped
 * collector-config/otel-collector.yaml, changed only through its ${env:…} placeholders. Both are
 * built on first need by scripts/tools.sh into .cache/tools/ and started on free loopback ports;
 * `stop()` ends the process and removes nothing of the caller's (its files live in a dir it gives).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';
import { ROOT } from './fixtures.ts';
import { freePort } from './ports.ts';

export const TOOLS_BIN = join(ROOT, '.cache/tools/bin');
export const COLLECTOR_BIN = join(TOOLS_BIN, 'otelcol-cni-trace');
export const JAEGER_BIN = join(TOOLS_BIN, 'jaeger');
/** What scripts/tools.sh builds for these backends and the CRI trace (not the CNI plugins it also builds). */
const BACKENDS = ['otelcol-cni-trace', 'jaeger', 'containerd'];
export const COLLECTOR_CONFIG = join(ROOT, 'collector-config/otel-collector.yaml');

/** Builds the collector, Jaeger and containerd 2.x unless built from the current pins (minutes the first time on a machine). */
export async function ensureTools(): Promise<void> {
  const r = await execa('bash', [join(ROOT, 'scripts/tools.sh'), ...BACKENDS], { reject: false, stdout: 'ignore', stderr: 'inherit', timeout: 3_600_000 });
  if (r.exitCode !== 0) throw new Error(`scripts/tools.sh failed (exit ${r.exitCode}): the collector, Jaeger or containerd 2.x could not be built`);
}

/** True when scripts/tools.sh would build nothing. */
export async function toolsBuilt(): Promise<boolean> {
  return (await execa('bash', [join(ROOT, 'scripts/tools.sh'), '--check', ...BACKENDS], { reject: false })).exitCode === 0;
}

export interface Backend {
  readonly process: ResultPromise;
  /** What the process logged so far (stdout and stderr). */
  log(): string;
  stop(): Promise<void>;
}

function spawnLogged(bin: string, args: string[], logFile: string, env: Record<string, string> = {}): Backend {
  const log = { file: logFile, append: true };
  const process = execa(bin, args, { reject: false, stdin: 'ignore', stdout: log, stderr: log, env, extendEnv: true, cleanup: true });
  return {
    process,
    log: () => readFileSync(logFile, 'utf8'),
    async stop() {
      process.kill('SIGTERM');
      const timer = setTimeout(() => process.kill('SIGKILL'), 10_000);
      await process;
      clearTimeout(timer);
    },
  };
}

/** Polls `ready` until it is true, failing early with the log when the process exits. */
async function waitReady(b: Backend, what: string, ready: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  let exited = false;
  void b.process.then(() => { exited = true; });
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (exited) throw new Error(`${what} exited at start:\n${b.log().slice(-4000)}`);
    if (await ready().catch(() => false)) return;
    await sleep(100);
  }
  await b.stop();
  throw new Error(`${what} not ready after ${timeoutMs} ms:\n${b.log().slice(-4000)}`);
}

export interface Jaeger extends Backend {
  /** The query service (API and UI), e.g. http://127.0.0.1:PORT. */
  readonly queryUrl: string;
  /** OTLP/gRPC host:port, for the collector's exporter. */
  readonly otlpGrpc: string;
}

/**
 * Jaeger v2 as the all-in-one default runs it (OTLP receiver → batch → memory storage, query
 * extension), with only what the tests need enabled and every port a free loopback one.
 */
export async function startJaeger(dir: string): Promise<Jaeger> {
  const [otlp, http, grpc] = [await freePort(), await freePort(), await freePort()];
  const config = join(dir, 'jaeger.yaml');
  writeFileSync(config, `service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
extensions:
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:${http}
    grpc:
      endpoint: 127.0.0.1:${grpc}
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 100000
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:${otlp}
processors:
  batch:
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`);
  const b = spawnLogged(JAEGER_BIN, ['--config', config], join(dir, 'jaeger.log'));
  const jaeger = { ...b, queryUrl: `http://127.0.0.1:${http}`, otlpGrpc: `127.0.0.1:${otlp}` };
  await waitReady(b, 'jaeger', async () => (await fetch(`${jaeger.queryUrl}/api/services`)).ok);
  return jaeger;
}

export interface Collector extends Backend {
  /** OTLP/HTTP base URL, for OTEL_EXPORTER_OTLP_ENDPOINT. */
  readonly otlpHttp: string;
  /** The Prometheus exporter's scrape target, host:port. */
  readonly prometheus: string;
}

export interface CollectorOptions {
  /** Where the traces go (Jaeger's OTLP/gRPC host:port). */
  readonly jaeger: string;
  /** Tempo's OTLP/gRPC host:port; by default a closed port: a backend that is down. */
  readonly tempo?: string;
  readonly nodeName?: string;
}

/** The built collector running the shipped otel-collector.yaml, its addresses set through its env placeholders. */
export async function startCollector(dir: string, opts: CollectorOptions): Promise<Collector> {
  const [grpc, http, prom, telemetry] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const env = {
    COLLECTOR_OTLP_GRPC_ENDPOINT: `127.0.0.1:${grpc}`,
    COLLECTOR_OTLP_HTTP_ENDPOINT: `127.0.0.1:${http}`,
    COLLECTOR_PROMETHEUS_ENDPOINT: `127.0.0.1:${prom}`,
    COLLECTOR_TELEMETRY_PORT: String(telemetry),
    JAEGER_OTLP_ENDPOINT: opts.jaeger,
    TEMPO_OTLP_ENDPOINT: opts.tempo ?? `127.0.0.1:${await freePort()}`,
    K8S_NODE_NAME: opts.nodeName ?? 'collector-node',
  };
  const b = spawnLogged(COLLECTOR_BIN, [`--config=${COLLECTOR_CONFIG}`], join(dir, 'collector.log'), env);
  const collector = { ...b, otlpHttp: `http://127.0.0.1:${http}`, prometheus: `127.0.0.1:${prom}` };
  // Ready when the OTLP/HTTP receiver takes an (empty) export request.
  await waitReady(b, 'otel collector', async () => (await fetch(`${collector.otlpHttp}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).ok);
  return collector;
}

/** `otelcol validate` of a config file with the built collector. */
export async function validateCollectorConfig(file: string, env: Record<string, string> = {}): Promise<{ exitCode: number | undefined; output: string }> {
  const r = await execa(COLLECTOR_BIN, ['validate', `--config=${file}`], { reject: false, all: true, env, extendEnv: true, timeout: 60_000 });
  return { exitCode: r.exitCode, output: r.all ?? '' };
}

// ---------------------------------------------------------------------------------------------
// Jaeger's query API (the one its UI reads): /api/traces/{id}, /api/traces?service=…

export interface JaegerTag { readonly key: string; readonly type: string; readonly value: unknown }
export interface JaegerSpan {
  readonly traceID: string;
  readonly spanID: string;
  readonly operationName: string;
  readonly references: ReadonlyArray<{ refType: string; traceID: string; spanID: string }>;
  /** Microseconds since the epoch. */
  readonly startTime: number;
  readonly duration: number;
  readonly tags: readonly JaegerTag[];
  readonly logs: ReadonlyArray<{ timestamp: number; fields: readonly JaegerTag[] }>;
  readonly processID: string;
  readonly warnings: readonly string[] | null;
}
export interface JaegerTrace {
  readonly traceID: string;
  readonly spans: readonly JaegerSpan[];
  readonly processes: Record<string, { serviceName: string; tags: readonly JaegerTag[] }>;
  readonly warnings: readonly string[] | null;
}

/** A tag's value, or undefined. */
export function tag(tags: readonly JaegerTag[], key: string): unknown {
  return tags.find((t) => t.key === key)?.value;
}

/** One trace by id, or null while Jaeger does not have it. */
export async function jaegerTrace(queryUrl: string, traceId: string): Promise<JaegerTrace | null> {
  const res = await fetch(`${queryUrl}/api/traces/${traceId}`);
  if (res.status === 404) return null;
  if (!res.ok) throw new Error(`jaeger /api/traces/${traceId}: HTTP ${res.status} ${await res.text()}`);
  const body = await res.json() as { data: JaegerTrace[] | null };
  return body.data?.[0] ?? null;
}

/** Waits until Jaeger has each trace with at least its expected number of spans; returns them by id. */
export async function waitForTraces(queryUrl: string, expected: ReadonlyMap<string, number>, timeoutMs = 30_000): Promise<Map<string, JaegerTrace>> {
  const found = new Map<string, JaegerTrace>();
  const end = Date.now() + timeoutMs;
  for (;;) {
    for (const [id, spans] of expected) {
      if (found.has(id)) continue;
      const t = await jaegerTrace(queryUrl, id);
      if (t && t.spans.length >= spans) found.set(id, t);
    }
    if (found.size === expected.size) return found;
    if (Date.now() > end) {
      const missing = [...expected.keys()].filter((id) => !found.has(id));
      throw new Error(`Jaeger has not got ${missing.length} of ${expected.size} traces after ${timeoutMs} ms: ${missing.join(', ')}`);
    }
    await sleep(200);
  }
}
