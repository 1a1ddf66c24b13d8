/**
 * The agent's configuration table: flags override environment variables, which override
 * defaults; OTEL_* variables mean what the OpenTelemetry SDK specification says.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { agentHelp, describeHeaders, parseKeyValues, resolveConfig } from '../../src/agent/config.ts';
import { statusLine, type AgentStatus } from '../../src/agent/status.ts';
import { parseDuration } from '../../src/view/duration.ts';

test('defaults apply with no flags and no environment', () => {
  const c = resolveConfig({}, {});
  assert.equal(c.tracesUrl, 'http://localhost:4318/v1/traces');
  assert.equal(c.journal, '/var/log/cni-trace');
  assert.equal(c.stateDir, '/var/lib/cni-trace');
  assert.equal(c.serviceName, 'cni-trace');
  assert.equal(c.abandonAfterMs, 300_000);
  assert.equal(c.disabled, false);
  assert.deepEqual([c.prometheusPort, c.prometheusHost], [null, '127.0.0.1'], 'the Prometheus endpoint, when on, is the node\'s own');
});

test('--prometheus-host (or OTEL_EXPORTER_PROMETHEUS_HOST) names the address the endpoint listens on', () => {
  assert.equal(resolveConfig({ 'prometheus-port': '9464' }, { OTEL_EXPORTER_PROMETHEUS_HOST: '10.0.0.7' }).prometheusHost, '10.0.0.7');
  assert.equal(resolveConfig({ 'prometheus-port': '9464', 'prometheus-host': '0.0.0.0' }, { OTEL_EXPORTER_PROMETHEUS_HOST: '10.0.0.7' }).prometheusHost, '0.0.0.0');
});

test('OTEL_EXPORTER_OTLP_ENDPOINT gets /v1/traces; OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is used as it is', () => {
  assert.equal(resolveConfig({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/' }).tracesUrl, 'http://c:4318/v1/traces');
  assert.equal(resolveConfig({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://t/custom' }).tracesUrl, 'https://t/custom');
});

test('a flag overrides the environment, which overrides the default', () => {
  const env = { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://env/v1/traces', OTEL_SERVICE_NAME: 'from-env', CNI_TRACE_JOURNAL: '/env/journal', K8S_NODE_NAME: 'env-node' };
  const c = resolveConfig({ endpoint: 'http://flag:4318', 'service-name': 'from-flag', journal: '/flag/journal', 'node-name': 'flag-node' }, env);
  assert.deepEqual([c.tracesUrl, c.serviceName, c.journal, c.nodeName], ['http://flag:4318/v1/traces', 'from-flag', '/flag/journal', 'flag-node']);
  const e = resolveConfig({}, env);
  assert.deepEqual([e.tracesUrl, e.serviceName, e.journal, e.nodeName], ['http://env/v1/traces', 'from-env', '/env/journal', 'env-node']);
});

test('headers and resource attributes merge env lists with repeated flags, flags winning per key', () => {
  const c = resolveConfig({ header: ['b=flag', 'c=3'], 'resource-attribute': ['team=net'] },
    { OTEL_EXPORTER_OTLP_HEADERS: 'a=1,b=env', OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod,team=x%20y' });
  assert.deepEqual(c.headers, { a: '1', b: 'flag', c: '3' });
  assert.deepEqual(c.resourceAttributes, { 'deployment.environment': 'prod', team: 'net' });
});

test('OTEL_SERVICE_NAME wins over service.name in OTEL_RESOURCE_ATTRIBUTES, which wins over the default', () => {
  assert.equal(resolveConfig({}, { OTEL_RESOURCE_ATTRIBUTES: 'service.name=attr' }).serviceName, 'attr');
  assert.equal(resolveConfig({}, { OTEL_RESOURCE_ATTRIBUTES: 'service.name=attr', OTEL_SERVICE_NAME: 'svc' }).serviceName, 'svc');
});

test('OTEL_SDK_DISABLED=true (any case) or --disabled turns export off', () => {
  assert.equal(resolveConfig({}, { OTEL_SDK_DISABLED: 'TRUE' }).disabled, true);
  assert.equal(resolveConfig({}, { OTEL_SDK_DISABLED: 'false' }).disabled, false);
  assert.equal(resolveConfig({ disabled: true }, {}).disabled, true);
});

test('the encoding: http/json by default; OTEL_EXPORTER_OTLP_PROTOCOL and the per-signal variables, flags over env', () => {
  const pair = (flags: Record<string, string>, env: Record<string, string>): [string, string] => {
    const c = resolveConfig(flags, env);
    return [c.tracesProtocol, c.metricsProtocol];
  };
  assert.deepEqual(pair({}, {}), ['http/json', 'http/json']);
  assert.deepEqual(pair({}, { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' }), ['http/protobuf', 'http/protobuf']);
  assert.deepEqual(pair({}, { OTEL_EXPORTER_OTLP_PROTOCOL: 'HTTP/Protobuf ' }), ['http/protobuf', 'http/protobuf'], 'case and spaces do not matter');
  assert.deepEqual(pair({}, { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf', OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/json' }), ['http/protobuf', 'http/json']);
  assert.deepEqual(pair({}, { OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf' }), ['http/protobuf', 'http/json']);
  // A flag --protocol beats the signals' environment variables; a signal's flag beats --protocol.
  assert.deepEqual(pair({ protocol: 'http/json' }, { OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf' }), ['http/json', 'http/json']);
  assert.deepEqual(pair({ protocol: 'http/json', 'metrics-protocol': 'http/protobuf' }, {}), ['http/json', 'http/protobuf']);
});

test('grpc and unknown encodings are refused at start, naming where the value came from', () => {
  assert.throws(() => resolveConfig({}, { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }),
    /^Error: OTEL_EXPORTER_OTLP_PROTOCOL: grpc is not supported; the agent speaks OTLP\/HTTP\. Use http\/protobuf or http\/json, and the collector's OTLP\/HTTP endpoint \(port 4318, not 4317\)$/);
  assert.throws(() => resolveConfig({}, { OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'grpc' }), /^Error: OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: grpc is not supported/);
  assert.throws(() => resolveConfig({ protocol: 'grpc' }, {}), /^Error: --protocol: grpc is not supported/);
  assert.throws(() => resolveConfig({ 'traces-protocol': 'http/thrift' }, {}), /^Error: --traces-protocol: "http\/json" or "http\/protobuf", got "http\/thrift"$/);
});

test('bad values are refused with a message naming them', () => {
  assert.throws(() => resolveConfig({ endpoint: 'not a url' }, {}), /not a URL/);
  assert.throws(() => resolveConfig({ batch: '0' }, {}), /--batch: must be a positive integer/);
  assert.throws(() => resolveConfig({ 'abandon-after': '5 minutes' }, {}), /not a duration/);
  assert.throws(() => parseKeyValues('novalue', 'OTEL_EXPORTER_OTLP_HEADERS'), /OTEL_EXPORTER_OTLP_HEADERS: "novalue…" is not KEY=VALUE/);
  assert.deepEqual([parseDuration('500ms'), parseDuration('2s'), parseDuration('5m'), parseDuration('1h')], [500, 2000, 300_000, 3_600_000]);
});

test('--help lists every setting with its environment variable, and header values are never shown', () => {
  const help = agentHelp();
  for (const name of ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'OTEL_EXPORTER_OTLP_HEADERS', 'OTEL_SERVICE_NAME', 'OTEL_RESOURCE_ATTRIBUTES', 'OTEL_SDK_DISABLED', '--once', '--status']) {
    assert.ok(help.includes(name), name);
  }
  assert.equal(describeHeaders({ authorization: 'Bearer abc', 'x-key': 'k' }), 'authorization=***, x-key=***');
});

// Rules that Stryker's survivors showed untested (issue 22).

test('rule: K=V lists skip empty parts, trim around keys and values, and refuse a part without a key', () => {
  assert.deepEqual(parseKeyValues(' a = 1 ,, b=2 , ', 'X'), { a: '1', b: '2' });
  assert.throws(() => parseKeyValues('=v', 'OTEL_RESOURCE_ATTRIBUTES'), /OTEL_RESOURCE_ATTRIBUTES: "…" is not KEY=VALUE/);
  assert.throws(() => parseKeyValues('a=1,b', 'X'), /X: "b…" is not KEY=VALUE/);
});

test('rule: an empty environment variable is unset; a single --header or --resource-attribute flag counts, and a bad one names its flag', () => {
  assert.equal(resolveConfig({}, { OTEL_EXPORTER_OTLP_ENDPOINT: '' }).tracesUrl, 'http://localhost:4318/v1/traces', 'empty: the default');
  assert.deepEqual(resolveConfig({ header: 'a=1' }, {}).headers, { a: '1' });
  assert.throws(() => resolveConfig({ 'resource-attribute': 'nokey' }, {}), /--resource-attribute: "nokey…" is not KEY=VALUE/);
});

test('rule: endpoints lose every trailing "/" before /v1/traces and /v1/metrics; a --traces-endpoint flag beats an --endpoint flag', () => {
  const c = resolveConfig({ endpoint: 'http://c:4318//' }, {});
  assert.deepEqual([c.tracesUrl, c.metricsUrl], ['http://c:4318/v1/traces', 'http://c:4318/v1/metrics']);
  assert.equal(resolveConfig({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://e:4318//' }).tracesUrl, 'http://e:4318/v1/traces');
  assert.equal(resolveConfig({ endpoint: 'http://c:4318', 'traces-endpoint': 'http://t:1/x' }, {}).tracesUrl, 'http://t:1/x');
  assert.equal(resolveConfig({ endpoint: 'http://c:4318' }, { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://t:1/x' }).tracesUrl, 'http://c:4318/v1/traces', 'a flag beats the env');
  assert.equal(resolveConfig({ 'metrics-endpoint': 'http://m:1/y' }, {}).metricsUrl, 'http://m:1/y');
  assert.equal(resolveConfig({}, { OTEL_METRICS_EXPORTER: 'none' }).metricsUrl, null);
  assert.throws(() => resolveConfig({ 'metrics-exporter': 'prometheus' }, {}), /--metrics-exporter: "otlp" or "none", got "prometheus"/);
  assert.throws(() => resolveConfig({ 'metrics-endpoint': 'not a url' }, {}), /the OTLP metrics endpoint is not a URL: "not a url"/);
});

test('rule: bad numbers name their flag; TLS files, the status interval, --once and its attempts come through as given', () => {
  for (const flag of ['timeout', 'metric-interval', 'prometheus-port', 'once-attempts']) {
    assert.throws(() => resolveConfig({ [flag]: '-1' }, {}), new RegExp(`^Error: --${flag}: must be a positive integer, got "-1"$`), flag);
  }
  const c = resolveConfig({ certificate: '/ca.pem', 'client-key': '/k.pem', 'status-every': '0', once: true, 'once-attempts': '3' }, {});
  assert.deepEqual(c.tls, { ca: '/ca.pem', key: '/k.pem' }, 'only the files given');
  assert.deepEqual([c.statusEveryMs, c.once, c.onceAttempts], [0, true, 3]);
  const d = resolveConfig({}, {});
  assert.deepEqual([d.tls, d.statusEveryMs, d.once, d.onceAttempts, d.prometheusPort], [{}, 60_000, false, 5, null]);
  assert.equal(resolveConfig({ 'status-every': '5s' }, {}).statusEveryMs, 5_000);
});

test('rule: --help shows "(none)" for a setting without a default, one setting per two lines; no headers are "none"', () => {
  const help = agentHelp();
  const row = (flag: string, help: string, rest: string): string => `\n  --${flag.padEnd(20)} ${help}\n${' '.repeat(25)}${rest}\n`;
  assert.ok(help.includes(row('traces-endpoint', 'full OTLP/HTTP traces URL (wins over --endpoint)', 'env OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, default (none)')), 'no default: "(none)"');
  assert.ok(help.includes(row('batch', 'invocations per export request', 'default 512')), 'no variable: only the default');
  assert.equal(describeHeaders({}), 'none');
});

test('rule: the status line names every counter, and the last error only when there is one', () => {
  const s: AgentStatus = {
    pid: 1, startedAt: 't', updatedAt: 'u', endpoint: 'e', recordsRead: 1, invocationsExported: 2, spansExported: 3, retries: 4, dropped: 5, refused: 0, skippedLines: 6,
    queued: 7, inFlight: 8, lagSeconds: 9.25, backlogBytes: 10, pendingBytes: 11, lastError: null,
  };
  const line = 'status: read 1 records, exported 2 invocations (3 spans), retries 4, dropped 5, skipped lines 6, queued 7, in flight 8, lag 9.3 s, backlog 10 bytes';
  assert.equal(statusLine(s), line);
  assert.equal(statusLine({ ...s, lastError: 'ECONNREFUSED' }), `${line}, last error: ECONNREFUSED`);
});
