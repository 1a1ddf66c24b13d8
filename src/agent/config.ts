/**
 * The agent's configuration, one table: each setting comes from its flag, else its
 * environment variable (the OpenTelemetry SDK's OTEL_* names where one exists), else the
 * default. `--help` is generated from the same table, so it cannot drift. Header values are
 * secrets: they are never printed, only their names.
 */
import { hostname } from 'node:os';
import { DEFAULTS } from '../config/wrapper-entry.ts';
import { redactUrlsIn } from '../config/redact.ts';
import { parseDuration } from '../view/duration.ts';

/** The OTLP/HTTP encodings the agent speaks (OTEL_EXPORTER_OTLP_PROTOCOL's values but grpc). */
export type OtlpProtocol = 'http/json' | 'http/protobuf';

export interface AgentConfig {
  readonly journal: string;
  readonly stateDir: string;
  /** The full OTLP/HTTP traces URL (…/v1/traces). */
  readonly tracesUrl: string;
  readonly headers: Readonly<Record<string, string>>;
  /** How the traces and the metrics are encoded. */
  readonly tracesProtocol: OtlpProtocol;
  readonly metricsProtocol: OtlpProtocol;
  /** Milliseconds one export request may take. */
  readonly timeoutMs: number;
  /** The OTLP/HTTP metrics URL (…/v1/metrics), or null when OTLP metrics are off. */
  readonly metricsUrl: string | null;
  readonly metricsIntervalMs: number;
  /** A port to serve Prometheus metrics on, or null for none. */
  readonly prometheusPort: number | null;
  readonly prometheusHost: string;
  /** PEM files for an https endpoint: the CA that signed the collector's certificate, a client certificate and key (mTLS). */
  readonly tls: { readonly ca?: string; readonly cert?: string; readonly key?: string };
  readonly serviceName: string;
  /** Extra resource attributes (OTEL_RESOURCE_ATTRIBUTES, then --resource-attribute). */
  readonly resourceAttributes: Readonly<Record<string, string>>;
  readonly nodeName: string;
  readonly disabled: boolean;
  readonly abandonAfterMs: number;
  readonly intervalMs: number;
  readonly batchSize: number;
  readonly statusEveryMs: number;
  readonly once: boolean;
  readonly onceAttempts: number;
}

interface Setting {
  readonly flag: string;
  readonly env?: string;
  readonly default: string;
  readonly help: string;
  readonly repeat?: boolean;
}

/** The table. Flags override env, env overrides defaults. */
export const SETTINGS = {
  journal: { flag: 'journal', env: 'CNI_TRACE_JOURNAL', default: DEFAULTS.journalDir, help: 'journal directory to follow' },
  stateDir: { flag: 'state-dir', env: 'CNI_TRACE_STATE_DIR', default: '/var/lib/cni-trace', help: 'where the checkpoint and status live' },
  endpoint: { flag: 'endpoint', env: 'OTEL_EXPORTER_OTLP_ENDPOINT', default: 'http://localhost:4318', help: 'OTLP/HTTP base URL; /v1/traces is appended' },
  tracesEndpoint: { flag: 'traces-endpoint', env: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', default: '', help: 'full OTLP/HTTP traces URL (wins over --endpoint)' },
  protocol: { flag: 'protocol', env: 'OTEL_EXPORTER_OTLP_PROTOCOL', default: 'http/json', help: 'http/json or http/protobuf (grpc is not spoken: use the collector\'s OTLP/HTTP port, 4318)' },
  tracesProtocol: { flag: 'traces-protocol', env: 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', default: '', help: 'the traces\' encoding, if not --protocol\'s' },
  metricsProtocol: { flag: 'metrics-protocol', env: 'OTEL_EXPORTER_OTLP_METRICS_PROTOCOL', default: '', help: 'the metrics\' encoding, if not --protocol\'s' },
  header: { flag: 'header', env: 'OTEL_EXPORTER_OTLP_HEADERS', default: '', help: 'header K=V for the collector (repeatable; env: K=V,K2=V2)', repeat: true },
  metricsExporter: { flag: 'metrics-exporter', env: 'OTEL_METRICS_EXPORTER', default: 'otlp', help: 'otlp: push per-plugin metrics beside the traces; none: do not' },
  metricsEndpoint: { flag: 'metrics-endpoint', env: 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT', default: '', help: 'full OTLP/HTTP metrics URL (default: --endpoint + /v1/metrics)' },
  metricInterval: { flag: 'metric-interval', env: 'OTEL_METRIC_EXPORT_INTERVAL', default: '60000', help: 'milliseconds between metric pushes' },
  prometheusPort: { flag: 'prometheus-port', env: 'OTEL_EXPORTER_PROMETHEUS_PORT', default: '', help: 'serve the metrics for Prometheus to scrape on this port (/metrics)' },
  // Loopback by default: the endpoint has no authentication, and the agent runs in the host's network namespace.
  prometheusHost: { flag: 'prometheus-host', env: 'OTEL_EXPORTER_PROMETHEUS_HOST', default: '127.0.0.1', help: 'address the Prometheus endpoint listens on (0.0.0.0: every address)' },
  timeout: { flag: 'timeout', env: 'OTEL_EXPORTER_OTLP_TIMEOUT', default: '10000', help: 'milliseconds an export may take (a stalled collector counts as down)' },
  certificate: { flag: 'certificate', env: 'OTEL_EXPORTER_OTLP_CERTIFICATE', default: '', help: 'PEM file of the CA(s) to trust for an https endpoint' },
  clientCertificate: { flag: 'client-certificate', env: 'OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE', default: '', help: 'PEM client certificate for mutual TLS' },
  clientKey: { flag: 'client-key', env: 'OTEL_EXPORTER_OTLP_CLIENT_KEY', default: '', help: 'PEM private key of the client certificate' },
  serviceName: { flag: 'service-name', env: 'OTEL_SERVICE_NAME', default: 'cni-trace', help: 'service.name of the spans' },
  resourceAttribute: { flag: 'resource-attribute', env: 'OTEL_RESOURCE_ATTRIBUTES', default: '', help: 'extra resource attribute K=V (repeatable; env: K=V,K2=V2)', repeat: true },
  nodeName: { flag: 'node-name', env: 'K8S_NODE_NAME', default: hostname(), help: 'k8s.node.name (default: the host name)' },
  disabled: { flag: 'disabled', env: 'OTEL_SDK_DISABLED', default: 'false', help: 'read nothing, export nothing ("true")' },
  abandonAfter: { flag: 'abandon-after', default: '5m', help: 'export a begun, never-ended call as abandoned after this long without a record' },
  interval: { flag: 'interval', default: '500ms', help: 'how often to look for new records' },
  batch: { flag: 'batch', default: '512', help: 'invocations per export request' },
  statusEvery: { flag: 'status-every', default: '60s', help: 'how often to log a status line (0: never)' },
  onceAttempts: { flag: 'once-attempts', default: '5', help: 'with --once: export attempts before giving up' },
} as const satisfies Record<string, Setting>;

/** "k=v,k2=v2" (values percent-decoded, as the OTel spec says for OTEL_*_HEADERS/ATTRIBUTES). */
export function parseKeyValues(text: string, what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(',')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw new Error(`${what}: "${part.split('=')[0]}…" is not KEY=VALUE`);
    out[decodeURIComponent(part.slice(0, eq).trim())] = decodeURIComponent(part.slice(eq + 1).trim());
  }
  return out;
}

export type Flags = Partial<Record<string, string | boolean | Array<string | boolean>>>;

function pick(flags: Flags, env: NodeJS.ProcessEnv, s: Setting): string {
  const flag = flags[s.flag];
  if (typeof flag === 'string') return flag;
  if (s.env && env[s.env] !== undefined && env[s.env] !== '') return env[s.env]!;
  return s.default;
}

/** Merges env-given K=V lists with repeated flags (flags win per key). */
function keyValues(flags: Flags, env: NodeJS.ProcessEnv, s: Setting): Record<string, string> {
  const fromEnv = s.env && env[s.env] ? parseKeyValues(env[s.env]!, s.env) : {};
  const given = flags[s.flag];
  const list = Array.isArray(given) ? given.map(String) : typeof given === 'string' ? [given] : [];
  const fromFlags = list.reduce<Record<string, string>>((all, kv) => Object.assign(all, parseKeyValues(kv, `--${s.flag}`)), {});
  return { ...fromEnv, ...fromFlags };
}

function positiveInt(text: string, what: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${what}: must be a positive integer, got "${text}"`);
  return n;
}

/** The OTLP traces URL from the endpoint flags and OTEL_* variables (the agent's and doctor's one rule). */
export function tracesEndpoint(flags: Flags, env: NodeJS.ProcessEnv = process.env): string {
  const traces = pick(flags, env, SETTINGS.tracesEndpoint);
  const base = pick(flags, env, SETTINGS.endpoint);
  // A flag --endpoint beats an env traces endpoint: flags override env.
  return typeof flags.endpoint === 'string' && typeof flags['traces-endpoint'] !== 'string'
    ? `${base.replace(/\/+$/, '')}/v1/traces`
    : traces || `${base.replace(/\/+$/, '')}/v1/traces`;
}

/** Resolves the configuration; throws an Error naming the bad flag or variable. */
export function resolveConfig(flags: Flags, env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const base = pick(flags, env, SETTINGS.endpoint);
  const tracesUrl = tracesEndpoint(flags, env);
  try {
    new URL(tracesUrl);
  } catch {
    throw new Error(`the OTLP traces endpoint is not a URL: "${redactUrlsIn(tracesUrl)}"`);
  }
  const resource = keyValues(flags, env, SETTINGS.resourceAttribute);
  return {
    journal: pick(flags, env, SETTINGS.journal),
    stateDir: pick(flags, env, SETTINGS.stateDir),
    tracesUrl,
    headers: keyValues(flags, env, SETTINGS.header),
    tracesProtocol: protocol(flags, env, SETTINGS.tracesProtocol),
    metricsProtocol: protocol(flags, env, SETTINGS.metricsProtocol),
    timeoutMs: positiveInt(pick(flags, env, SETTINGS.timeout), 'timeout'),
    metricsUrl: metricsUrl(flags, env, base),
    metricsIntervalMs: positiveInt(pick(flags, env, SETTINGS.metricInterval), 'metric-interval'),
    prometheusPort: pick(flags, env, SETTINGS.prometheusPort) === '' ? null : positiveInt(pick(flags, env, SETTINGS.prometheusPort), 'prometheus-port'),
    prometheusHost: pick(flags, env, SETTINGS.prometheusHost),
    tls: Object.fromEntries(([['ca', SETTINGS.certificate], ['cert', SETTINGS.clientCertificate], ['key', SETTINGS.clientKey]] as const)
      .map(([k, setting]) => [k, pick(flags, env, setting)]).filter(([, v]) => v !== '')),
    // OTEL_SERVICE_NAME beats a service.name in OTEL_RESOURCE_ATTRIBUTES (the SDK's rule).
    serviceName: typeof flags['service-name'] === 'string' ? flags['service-name'] : env.OTEL_SERVICE_NAME || resource['service.name'] || SETTINGS.serviceName.default,
    resourceAttributes: resource,
    nodeName: pick(flags, env, SETTINGS.nodeName) || env.NODE_NAME || hostname(),
    disabled: flags.disabled === true || pick(flags, env, SETTINGS.disabled).toLowerCase() === 'true',
    abandonAfterMs: parseDuration(pick(flags, env, SETTINGS.abandonAfter)),
    intervalMs: parseDuration(pick(flags, env, SETTINGS.interval)),
    batchSize: positiveInt(pick(flags, env, SETTINGS.batch), 'batch'),
    statusEveryMs: pick(flags, env, SETTINGS.statusEvery) === '0' ? 0 : parseDuration(pick(flags, env, SETTINGS.statusEvery)),
    once: flags.once === true,
    onceAttempts: positiveInt(pick(flags, env, SETTINGS.onceAttempts), 'once-attempts'),
  };
}

/**
 * A signal's encoding: its own setting, else --protocol's. A flag --protocol beats a signal's
 * env variable (flags override env). grpc is refused with what to do instead: an agent that
 * sent HTTP to a gRPC port would fail at every export, long after it started.
 */
function protocol(flags: Flags, env: NodeJS.ProcessEnv, own: Setting): OtlpProtocol {
  const general = pick(flags, env, SETTINGS.protocol);
  const mine = typeof flags[own.flag] === 'string' || typeof flags.protocol !== 'string' ? pick(flags, env, own) : '';
  const value = (mine || general).trim().toLowerCase();
  // Name what the value came from: the flag, else the variable.
  const setting = mine ? own : SETTINGS.protocol;
  const where = typeof flags[setting.flag] === 'string' ? `--${setting.flag}` : setting.env!;
  if (value === 'http/json' || value === 'http/protobuf') return value;
  if (value === 'grpc') {
    throw new Error(`${where}: grpc is not supported; the agent speaks OTLP/HTTP. Use http/protobuf or http/json, and the collector's OTLP/HTTP endpoint (port 4318, not 4317)`);
  }
  throw new Error(`${where}: "http/json" or "http/protobuf", got "${value}"`);
}

/** Where OTLP metrics go: their own endpoint, else beside the traces; null when turned off. */
function metricsUrl(flags: Flags, env: NodeJS.ProcessEnv, base: string): string | null {
  const exporter = pick(flags, env, SETTINGS.metricsExporter).toLowerCase();
  if (exporter === 'none') return null;
  if (exporter !== 'otlp') throw new Error(`--metrics-exporter: "otlp" or "none", got "${exporter}"`);
  const url = pick(flags, env, SETTINGS.metricsEndpoint) || `${base.replace(/\/+$/, '')}/v1/metrics`;
  try {
    new URL(url);
  } catch {
    throw new Error(`the OTLP metrics endpoint is not a URL: "${redactUrlsIn(url)}"`);
  }
  return url;
}

/** The --help text: the table, with env names and defaults. */
export function agentHelp(): string {
  const rows = Object.values(SETTINGS as Record<string, Setting>).map((s) =>
    `  --${s.flag.padEnd(20)} ${s.help}\n  ${''.padEnd(22)} ${s.env ? `env ${s.env}, ` : ''}default ${s.default === '' ? '(none)' : s.default}`);
  return `Usage: cni-trace agent [flags]

Follows the journal and exports every invocation as an OpenTelemetry trace over OTLP/HTTP
(JSON or protobuf): a root span "CNI <COMMAND>" and a span per plugin, with the journal's
ids and times. The checkpoint in the state dir advances only after the collector accepted a
batch, so a restarted agent resumes where it stopped. Flags override environment variables,
which override defaults.

${rows.join('\n')}
  --once                 export everything pending, then exit (non-zero if the collector never accepted)
  --status               print the running agent's status (from the state dir) and exit

Header values are never printed.`;
}

/** Header names with their values masked, for logs. */
export function describeHeaders(headers: Readonly<Record<string, string>>): string {
  const names = Object.keys(headers);
  return names.length === 0 ? 'none' : names.map((n) => `${n}=***`).join(', ');
}
