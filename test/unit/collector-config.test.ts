/**
 * Structural checks of collector-config/: no container engine runs in CI, so nothing here starts
 * a collector, Jaeger, Tempo or Grafana. Instead the files are parsed and checked for agreement:
 * pipelines against component sections, ports against listeners, URLs against compose services,
 * Kubernetes references (Service → Deployment → ConfigMap, binding → role → ServiceAccount)
 * against the objects that exist, and the DaemonSet's host mounts against what it may touch.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';

const DIR = fileURLToPath(new URL('../../collector-config/', import.meta.url));
const K8S_DIR = join(DIR, 'kubernetes');

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function obj(v: unknown, where: string): Obj {
  assert.ok(isObj(v), `${where}: expected a mapping, got ${JSON.stringify(v)}`);
  return v;
}

function list(v: unknown, where: string): unknown[] {
  assert.ok(Array.isArray(v), `${where}: expected a list, got ${JSON.stringify(v)}`);
  return v;
}

function str(v: unknown, where: string): string {
  assert.equal(typeof v, 'string', `${where}: expected a string, got ${JSON.stringify(v)}`);
  return v as string;
}

function strings(v: unknown, where: string): string[] {
  return list(v, where).map((x, i) => str(x, `${where}[${i}]`));
}

/** Optional mapping: absent or null gives {}. */
function section(parent: Obj, key: string, where: string): Obj {
  const v = parent[key];
  return v === undefined || v === null ? {} : obj(v, `${where}.${key}`);
}

/** The YAML files under `dir`, recursively, as paths relative to collector-config/. */
function yamlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) for (const f of yamlFiles(path)) out.push(f);
    else if (/\.ya?ml$/.test(name)) out.push(relative(DIR, path));
  }
  return out;
}

function read(rel: string): string {
  return readFileSync(join(DIR, rel), 'utf8');
}

/** Every document of a file as plain JS, failing on any parse error or warning. */
function documents(rel: string): unknown[] {
  const docs = parseAllDocuments(read(rel));
  const out: unknown[] = [];
  for (const [i, doc] of docs.entries()) {
    assert.deepEqual(doc.errors.map(String), [], `${rel} document ${i}: parse errors`);
    assert.deepEqual(doc.warnings.map(String), [], `${rel} document ${i}: parse warnings`);
    out.push(doc.toJS());
  }
  return out;
}

function load(rel: string): Obj {
  return obj(parse(read(rel)), rel);
}

/** "host:port", "http://host:port" or "[::]:port" → host and port. */
function endpoint(text: string, where: string): { host: string; port: number } {
  if (/^[a-z]+:\/\//.test(text)) {
    const url = new URL(text);
    assert.notEqual(url.port, '', `${where}: ${text} names no port`);
    return { host: url.hostname, port: Number(url.port) };
  }
  const colon = text.lastIndexOf(':');
  assert.ok(colon > 0, `${where}: ${text} is not host:port`);
  const port = Number(text.slice(colon + 1));
  assert.ok(Number.isInteger(port) && port > 0, `${where}: ${text} has no numeric port`);
  return { host: text.slice(0, colon), port };
}

/** A component id's type: "otlp_grpc/tempo" → "otlp_grpc". */
function componentType(id: string): string {
  return id.split('/')[0]!;
}

// ---------------------------------------------------------------------------------------------
// The files

/**
 * Files are read on first use, so a file that does not parse fails the tests that need it
 * (and the parse test, by name) instead of failing the whole file at import.
 */
function once<T>(make: () => T): () => T {
  let memo: { value: T } | undefined;
  return () => (memo ??= { value: make() }).value;
}

const compose = once(() => load('compose.yaml'));
const services = once(() => obj(compose().services, 'compose.yaml services'));
const tempoConfig = once(() => load('tempo.yaml'));
const datasources = once(() => load('grafana/provisioning/datasources/datasources.yaml'));

const k8sObjects = once((): Obj[] => yamlFiles(K8S_DIR).flatMap((rel) =>
  documents(rel).filter((d) => d !== null).map((d, i) => obj(d, `${rel} document ${i}`))));

function kindOf(o: Obj): string {
  return str(o.kind, 'a Kubernetes object kind');
}

function meta(o: Obj): Obj {
  return obj(o.metadata, `${kindOf(o)} metadata`);
}

function nameOf(o: Obj): string {
  return str(meta(o).name, `${kindOf(o)} metadata.name`);
}

function namespaceOf(o: Obj): string | undefined {
  const ns = meta(o).namespace;
  return ns === undefined ? undefined : str(ns, `${kindOf(o)}/${nameOf(o)} metadata.namespace`);
}

function k8s(kind: string, name?: string): Obj[] {
  return k8sObjects().filter((o) => kindOf(o) === kind && (name === undefined || nameOf(o) === name));
}

function one(kind: string, name: string): Obj {
  const found = k8s(kind, name);
  assert.equal(found.length, 1, `expected exactly one ${kind}/${name} in collector-config/kubernetes, found ${found.length}`);
  return found[0]!;
}

function podSpec(workload: Obj): Obj {
  const where = `${kindOf(workload)}/${nameOf(workload)}`;
  return obj(obj(obj(workload.spec, `${where} spec`).template, `${where} spec.template`).spec, `${where} pod spec`);
}

function podLabels(workload: Obj): Obj {
  const where = `${kindOf(workload)}/${nameOf(workload)}`;
  return obj(obj(obj(obj(workload.spec, where).template, where).metadata, `${where} template metadata`).labels, `${where} pod labels`);
}

function container(workload: Obj, name: string, key: 'containers' | 'initContainers' = 'containers'): Obj {
  const where = `${kindOf(workload)}/${nameOf(workload)}`;
  const found = list(podSpec(workload)[key], `${where} ${key}`).map((c, i) => obj(c, `${where} ${key}[${i}]`))
    .filter((c) => c.name === name);
  assert.equal(found.length, 1, `${where}: expected one ${key} entry named ${name}`);
  return found[0]!;
}

function envList(c: Obj, where: string): Obj[] {
  return c.env === undefined ? [] : list(c.env, `${where} env`).map((e, i) => obj(e, `${where} env[${i}]`));
}

function envValue(c: Obj, name: string, where: string): string {
  const found = envList(c, where).find((e) => e.name === name);
  assert.ok(found, `${where}: no env ${name}`);
  return str(found.value, `${where} env ${name}`);
}

function volumeMounts(c: Obj, where: string): Obj[] {
  return c.volumeMounts === undefined ? [] : list(c.volumeMounts, `${where} volumeMounts`).map((m, i) => obj(m, `${where} volumeMounts[${i}]`));
}

function volume(workload: Obj, name: string): Obj {
  const where = `${kindOf(workload)}/${nameOf(workload)}`;
  const found = list(podSpec(workload).volumes, `${where} volumes`).map((v, i) => obj(v, `${where} volumes[${i}]`))
    .find((v) => v.name === name);
  assert.ok(found, `${where}: a volumeMount names volume ${name}, which the pod does not define`);
  return found;
}

function matches(selector: Obj, labels: Obj): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

const collectorDeployment = once(() => one('Deployment', 'otel-collector'));
const daemonSet = once(() => one('DaemonSet', 'cni-trace'));
const collectorConfigMap = once(() => one('ConfigMap', 'cni-trace-collector'));
const agent = once(() => container(daemonSet(), 'agent'));
const install = once(() => container(daemonSet(), 'install', 'initContainers'));

// ---------------------------------------------------------------------------------------------
// Compose helpers

function service(name: string): Obj {
  return obj(services()[name], `compose.yaml: service ${name}`);
}

/** The container-side ports a compose service declares (ports' targets and expose). */
function composeListens(name: string): number[] {
  const s = service(name);
  const out: number[] = [];
  for (const p of s.ports === undefined ? [] : list(s.ports, `${name} ports`)) {
    if (isObj(p)) out.push(Number(p.target));
    else out.push(Number(String(p).replace(/\/(tcp|udp)$/, '').split(':').at(-1)));
  }
  for (const e of s.expose === undefined ? [] : list(s.expose, `${name} expose`)) out.push(Number(String(e).replace(/\/(tcp|udp)$/, '')));
  return out;
}

/** Published host port → container port, for a compose service. */
function composePublished(name: string): Map<number, number> {
  const s = service(name);
  const out = new Map<number, number>();
  for (const p of s.ports === undefined ? [] : list(s.ports, `${name} ports`)) {
    if (isObj(p)) {
      if (p.published !== undefined) out.set(Number(p.published), Number(p.target));
      continue;
    }
    const parts = String(p).replace(/\/(tcp|udp)$/, '').split(':');
    if (parts.length >= 2) out.set(Number(parts.at(-2)), Number(parts.at(-1)));
  }
  return out;
}

/** Bind mounts of a compose service: host path (relative to compose.yaml) → container path. */
function composeBinds(name: string): Array<{ source: string; target: string }> {
  const s = service(name);
  const out: Array<{ source: string; target: string }> = [];
  for (const v of s.volumes === undefined ? [] : list(s.volumes, `${name} volumes`)) {
    if (isObj(v)) {
      if (v.type === 'bind') out.push({ source: str(v.source, `${name} volume source`), target: str(v.target, `${name} volume target`) });
      continue;
    }
    const [source, target] = String(v).split(':');
    if (source && target && (source.startsWith('./') || source.startsWith('../') || source.startsWith('/'))) out.push({ source, target });
  }
  return out;
}

function composeEnvNames(name: string): string[] {
  const env = service(name).environment;
  if (env === undefined) return [];
  if (Array.isArray(env)) return env.map((e) => String(e).split('=')[0]!);
  return Object.keys(obj(env, `${name} environment`));
}

function commandArgs(name: string): string[] {
  const c = service(name).command;
  return typeof c === 'string' ? c.split(/\s+/) : strings(c, `${name} command`);
}

/** The value of a "--flag=value" / "-flag=value" argument. */
function flagValue(args: string[], flag: string, where: string): string {
  const found = args.find((a) => a.startsWith(`${flag}=`));
  assert.ok(found, `${where}: no ${flag}=… argument in ${JSON.stringify(args)}`);
  return found.slice(flag.length + 1);
}

// ---------------------------------------------------------------------------------------------
// The collector configs: the compose one, and the one embedded in the ConfigMap

interface CollectorCase {
  readonly name: string;
  readonly text: string;
  readonly config: Obj;
  /** Env variable names set in the container that runs this config. */
  readonly env: string[];
  /** Components defined but deliberately in no pipeline, as "section/id". */
  readonly unused: string[];
}

const COLLECTOR_NAMES = ['the compose collector (otel-collector.yaml)', 'the in-cluster collector (ConfigMap cni-trace-collector)'] as const;
const inClusterText = once(() => str(obj(collectorConfigMap().data, 'ConfigMap data')['config.yaml'], 'ConfigMap data config.yaml'));
/** A collector config as the collector resolves it with none of its defaulted placeholders set. */
function withEnvDefaults(text: string): string {
  return text.replace(/\$\{env:[A-Za-z_][A-Za-z0-9_]*:-([^}]*)\}/g, '$1');
}
const composeCollector = once((): CollectorCase => ({
  name: COLLECTOR_NAMES[0],
  text: read('otel-collector.yaml'),
  config: obj(parse(withEnvDefaults(read('otel-collector.yaml'))), 'otel-collector.yaml'),
  env: composeEnvNames('otel-collector'),
  unused: [],
}));
const inClusterCollector = once((): CollectorCase => ({
  name: COLLECTOR_NAMES[1],
  text: inClusterText(),
  config: obj(parse(inClusterText()), 'ConfigMap config.yaml'),
  env: envList(container(collectorDeployment(), 'otel-collector'), 'collector container').map((e) => str(e.name, 'env name')),
  // Documented in the ConfigMap: "Deliberately unused: add otlp_grpc/jaeger to the pipeline … if you run Jaeger".
  unused: ['exporters/otlp_grpc/jaeger'],
}));
const collectors = [composeCollector, inClusterCollector] as const;

const PIPELINE_SECTIONS = ['receivers', 'processors', 'exporters'] as const;

function pipelines(c: CollectorCase): Array<[string, Obj]> {
  const p = obj(obj(c.config.service, `${c.name} service`).pipelines, `${c.name} service.pipelines`);
  const out = Object.entries(p).map(([id, v]): [string, Obj] => [id, obj(v, `${c.name} pipeline ${id}`)]);
  assert.ok(out.length > 0, `${c.name}: no pipelines`);
  return out;
}

function pipelineList(c: CollectorCase, pipeline: Obj, sectionName: string, id: string): string[] {
  return pipeline[sectionName] === undefined ? [] : strings(pipeline[sectionName], `${c.name} pipeline ${id} ${sectionName}`);
}

// ---------------------------------------------------------------------------------------------
// Tests

test('Every YAML file under collector-config parses, every document of it, without errors or warnings.', () => {
  const files = yamlFiles(DIR);
  for (const expected of ['otel-collector.yaml', 'compose.yaml', 'tempo.yaml', posix.join('grafana', 'provisioning', 'datasources', 'datasources.yaml')]) {
    assert.ok(files.includes(expected), `${expected} is missing; found ${files.join(', ')}`);
  }
  assert.ok(files.filter((f) => f.startsWith('kubernetes')).length > 0, 'no Kubernetes manifests');
  for (const rel of files) {
    const docs = documents(rel);
    assert.ok(docs.some((d) => d !== null), `${rel} has no content`);
  }
  // The config inside the ConfigMap is YAML too.
  const docs = parseAllDocuments(inClusterText());
  for (const doc of docs) assert.deepEqual(doc.errors.map(String), [], 'ConfigMap config.yaml parse errors');
});

for (const [i, title] of COLLECTOR_NAMES.entries()) {
  const collector = collectors[i]!;

  test(`In ${title}, every receiver, processor and exporter a pipeline names is defined in its section.`, () => {
    const c = collector();
    for (const [id, p] of pipelines(c)) {
      for (const sec of PIPELINE_SECTIONS) {
        const defined = Object.keys(section(c.config, sec, c.name));
        const connectors = Object.keys(section(c.config, 'connectors', c.name));
        for (const name of pipelineList(c, p, sec, id)) {
          assert.ok(defined.includes(name) || (sec !== 'processors' && connectors.includes(name)),
            `${c.name}: pipeline ${id} names ${sec.slice(0, -1)} ${name}, which ${sec} does not define (defined: ${defined.join(', ')})`);
        }
      }
    }
    const service = obj(c.config.service, `${c.name} service`);
    const extensions = Object.keys(section(c.config, 'extensions', c.name));
    for (const ext of service.extensions === undefined ? [] : strings(service.extensions, `${c.name} service.extensions`)) {
      assert.ok(extensions.includes(ext), `${c.name}: service.extensions names ${ext}, which extensions does not define`);
    }
  });

  test(`In ${title}, every defined component is used by a pipeline, except those documented as deliberately unused.`, () => {
    const c = collector();
    const unused: string[] = [];
    const all = pipelines(c);
    for (const sec of PIPELINE_SECTIONS) {
      const used = new Set(all.flatMap(([id, p]) => pipelineList(c, p, sec, id)));
      for (const name of Object.keys(section(c.config, sec, c.name))) if (!used.has(name)) unused.push(`${sec}/${name}`);
    }
    const service = obj(c.config.service, `${c.name} service`);
    const enabled = new Set(service.extensions === undefined ? [] : strings(service.extensions, `${c.name} service.extensions`));
    for (const name of Object.keys(section(c.config, 'extensions', c.name))) if (!enabled.has(name)) unused.push(`extensions/${name}`);
    assert.deepEqual(unused.sort(), [...c.unused].sort(), `${c.name}: unused components differ from the documented ones`);
    for (const u of c.unused) {
      const id = u.split('/').slice(1).join('/');
      assert.match(c.text, new RegExp(`#[^\\n]*[Dd]eliberately unused[^\\n]*\\n(?:\\s*#[^\\n]*\\n)*\\s*${id.replace('/', '\\/')}:`),
        `${c.name}: ${id} is unused but has no "Deliberately unused" comment above it`);
    }
  });

  test(`The OTLP receiver of ${title} binds 0.0.0.0:4317 for gRPC and 0.0.0.0:4318 for HTTP.`, () => {
    const c = collector();
    const protocols = obj(obj(section(c.config, 'receivers', c.name).otlp, `${c.name} receivers.otlp`).protocols, `${c.name} otlp protocols`);
    assert.equal(obj(protocols.grpc, 'otlp grpc').endpoint, '0.0.0.0:4317');
    assert.equal(obj(protocols.http, 'otlp http').endpoint, '0.0.0.0:4318');
    for (const [id, p] of pipelines(c)) assert.ok(pipelineList(c, p, 'receivers', id).includes('otlp'), `pipeline ${id} does not receive from otlp`);
  });

  test(`In every pipeline of ${title}, memory_limiter comes first and batch last.`, () => {
    const c = collector();
    for (const [id, p] of pipelines(c)) {
      const processors = pipelineList(c, p, 'processors', id).map(componentType);
      assert.equal(processors[0], 'memory_limiter', `${c.name} pipeline ${id}: ${processors.join(', ')}`);
      assert.equal(processors.at(-1), 'batch', `${c.name} pipeline ${id}: ${processors.join(', ')}`);
    }
  });

  test(`Every \${env:VAR} without a default in ${title} is set in the environment of the container that runs it.`, () => {
    const c = collector();
    // Those with a default (the addresses, for the tests' loopback ports) are compose's as they stand.
    const refs = [...c.text.matchAll(/\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((m) => m[1]!);
    for (const name of refs) assert.ok(c.env.includes(name), `${c.name} uses \${env:${name}}, which its container does not set (it sets ${c.env.join(', ')})`);
  });

  test(`${title.charAt(0).toUpperCase()}${title.slice(1)} never overwrites the k8s.node.name a span already carries.`, () => {
    const c = collector();
    for (const [id, p] of Object.entries(section(c.config, 'processors', c.name))) {
      if (!['resource', 'attributes'].includes(componentType(id))) continue;
      const actions = obj(p, `${c.name} processor ${id}`).attributes ?? obj(p, id).actions;
      for (const a of list(actions, `${c.name} processor ${id} attributes`).map((x) => obj(x, id))) {
        if (a.key === 'k8s.node.name') assert.equal(a.action, 'insert', `${c.name} processor ${id}: k8s.node.name must be inserted (only when missing), not ${String(a.action)}`);
      }
    }
  });
}

test('The in-cluster collector enriches with k8s_attributes and does not stamp its own node name on spans.', () => {
  const inCluster = inClusterCollector();
  for (const [id, p] of pipelines(inCluster)) {
    const types = pipelineList(inCluster, p, 'processors', id).map(componentType);
    assert.ok(types.includes('k8s_attributes'), `pipeline ${id} has no k8s_attributes: ${types.join(', ')}`);
  }
  assert.doesNotMatch(inClusterText(), /\$\{env:K8S_NODE_NAME/, 'a Deployment runs on one node; its K8S_NODE_NAME is not the spans\' node');
  const compose = composeCollector();
  for (const [id, p] of pipelines(compose)) {
    assert.ok(!pipelineList(compose, p, 'processors', id).map(componentType).includes('k8s_attributes'), 'k8s_attributes has no API server to ask in compose');
  }
});

test('Compose publishes the collector\'s OTLP ports 4317 and 4318 on the host, onto the ports its receiver listens on.', () => {
  const published = composePublished('otel-collector');
  const protocols = obj(obj(section(composeCollector().config, 'receivers', 'compose collector').otlp, 'otlp').protocols, 'otlp protocols');
  assert.equal(published.get(4317), endpoint(str(obj(protocols.grpc, 'grpc').endpoint, 'grpc endpoint'), 'otlp grpc').port);
  assert.equal(published.get(4318), endpoint(str(obj(protocols.http, 'http').endpoint, 'http endpoint'), 'otlp http').port);
});

test('Compose runs the collector with the config it mounts, and every host file a service mounts exists.', () => {
  for (const name of Object.keys(services())) {
    for (const { source } of composeBinds(name)) {
      assert.ok(existsSync(join(DIR, source)), `compose service ${name} mounts ${source}, which does not exist next to compose.yaml`);
    }
  }
  const collectorConfigPath = flagValue(commandArgs('otel-collector'), '--config', 'otel-collector command');
  assert.deepEqual(composeBinds('otel-collector').filter((b) => b.target === collectorConfigPath).map((b) => b.source), ['./otel-collector.yaml']);
  const tempoConfigPath = flagValue(commandArgs('tempo'), '-config.file', 'tempo command');
  assert.deepEqual(composeBinds('tempo').filter((b) => b.target === tempoConfigPath).map((b) => b.source), ['./tempo.yaml']);
  assert.deepEqual(composeBinds('grafana').filter((b) => b.target === '/etc/grafana/provisioning').map((b) => b.source), ['./grafana/provisioning']);
});

test('Each exporter of the compose collector names a compose service and a port that service listens on.', () => {
  const exporters = section(composeCollector().config, 'exporters', 'compose collector');
  const hosts: string[] = [];
  for (const [id, e] of Object.entries(exporters)) {
    const ep = obj(e, `exporter ${id}`).endpoint;
    if (ep === undefined || componentType(id) === 'prometheus') continue; // prometheus listens; it is scraped (below)
    const { host, port } = endpoint(str(ep, `exporter ${id} endpoint`), `exporter ${id}`);
    hosts.push(host);
    assert.ok(host in services(), `exporter ${id} sends to ${host}, which is not a compose service (${Object.keys(services()).join(', ')})`);
    assert.ok(composeListens(host).includes(port), `exporter ${id} sends to ${host}:${port}, but ${host} declares ${composeListens(host).join(', ')}`);
  }
  assert.deepEqual(hosts.sort(), ['jaeger', 'tempo']);
});

test('Tempo\'s OTLP receiver listens on all interfaces, on the port the collector sends to.', () => {
  const grpc = obj(obj(obj(obj(obj(tempoConfig().distributor, 'tempo distributor').receivers, 'receivers').otlp, 'otlp').protocols, 'protocols').grpc, 'grpc');
  const listen = endpoint(str(grpc.endpoint, 'tempo otlp grpc endpoint'), 'tempo otlp grpc');
  assert.equal(listen.host, '0.0.0.0');
  const exporter = obj(section(composeCollector().config, 'exporters', 'compose collector')['otlp_grpc/tempo'], 'otlp_grpc/tempo');
  assert.equal(endpoint(str(exporter.endpoint, 'tempo exporter'), 'tempo exporter').port, listen.port);
  assert.ok(composeListens('tempo').includes(listen.port), `compose tempo does not declare ${listen.port}`);
  const storage = obj(obj(tempoConfig().storage, 'tempo storage').trace, 'tempo storage.trace');
  assert.equal(storage.backend, 'local');
  for (const key of ['wal', 'local']) assert.match(str(obj(storage[key], key).path, `${key}.path`), /^\/var\/tempo\//);
});

test('Jaeger takes OTLP on 4317 inside the compose network only, and serves its UI on 16686.', () => {
  const exporter = obj(section(composeCollector().config, 'exporters', 'compose collector')['otlp_grpc/jaeger'], 'otlp_grpc/jaeger');
  assert.deepEqual(endpoint(str(exporter.endpoint, 'jaeger exporter'), 'jaeger exporter'), { host: 'jaeger', port: 4317 });
  assert.ok(composeListens('jaeger').includes(4317));
  assert.ok(![...composePublished('jaeger').values()].includes(4317), 'Jaeger\'s OTLP port is published to the host');
  assert.equal(composePublished('jaeger').get(16686), 16686);
  assert.match(str(service('jaeger').image, 'jaeger image'), /^jaegertracing\/jaeger:2\./);
});

test('The collector starts after Jaeger and Tempo.', () => {
  const dependsOn = service('otel-collector').depends_on;
  const names = Array.isArray(dependsOn) ? strings(dependsOn, 'depends_on') : Object.keys(obj(dependsOn, 'depends_on'));
  for (const name of ['jaeger', 'tempo']) assert.ok(names.includes(name), `otel-collector does not depend on ${name}`);
});

test('Each Grafana datasource URL names a compose service and the port that service serves its API on.', () => {
  assert.equal(datasources().apiVersion, 1);
  const list_ = list(datasources().datasources, 'datasources').map((d, i) => obj(d, `datasource ${i}`));
  const byType = new Map(list_.map((d) => [str(d.type, 'datasource type'), d]));
  const listenPort = { tempo: Number(obj(tempoConfig().server, 'tempo server').http_listen_port), jaeger: 16686 };
  assert.equal(listenPort.tempo, 3200);
  for (const [type, port] of Object.entries(listenPort)) {
    const ds = byType.get(type);
    assert.ok(ds, `no ${type} datasource`);
    assert.equal(ds.uid, type);
    const url = new URL(str(ds.url, `${type} url`));
    assert.equal(url.hostname, type, `${type} datasource URL host`);
    assert.ok(url.hostname in services(), `${url.hostname} is not a compose service`);
    assert.equal(Number(url.port), port, `${type} datasource port`);
    assert.ok(composeListens(url.hostname).includes(port), `compose ${url.hostname} does not declare ${port}`);
  }
  assert.deepEqual(list_.filter((d) => d.isDefault === true).map((d) => d.name), ['Tempo']);
  const grafanaEnv = obj(service('grafana').environment, 'grafana environment');
  assert.equal(grafanaEnv.GF_AUTH_ANONYMOUS_ENABLED, 'true');
  assert.equal(grafanaEnv.GF_AUTH_ANONYMOUS_ORG_ROLE, 'Admin');
  assert.equal(grafanaEnv.GF_AUTH_DISABLE_LOGIN_FORM, 'true');
});

test('Every image in compose.yaml and the manifests is pinned to a version tag.', () => {
  const images = Object.keys(services()).map((n) => str(service(n).image, `${n} image`));
  for (const w of [collectorDeployment(), daemonSet()]) {
    for (const key of ['containers', 'initContainers'] as const) {
      const cs = podSpec(w)[key];
      if (cs !== undefined) for (const c of list(cs, key)) images.push(str(obj(c, key).image, 'image'));
    }
  }
  for (const image of images) assert.match(image, /^[^:@]+(:[^:/]+)?:(?!latest$)v?\d+\.\d+\.\d+$/, `${image} is not pinned to a version`);
});

test('Every Kubernetes object lives in namespace cni-trace, which the manifests create.', () => {
  assert.equal(k8s('Namespace', 'cni-trace').length, 1);
  const clusterScoped = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding']);
  for (const o of k8sObjects()) {
    if (clusterScoped.has(kindOf(o))) assert.equal(namespaceOf(o), undefined, `${kindOf(o)}/${nameOf(o)} is cluster-scoped`);
    else assert.equal(namespaceOf(o), 'cni-trace', `${kindOf(o)}/${nameOf(o)}`);
  }
});

test('The agent\'s OTEL_EXPORTER_OTLP_ENDPOINT is <service>.<namespace>.svc of a Service in the manifests that exposes that port to the collector\'s OTLP/HTTP receiver.', () => {
  const url = new URL(envValue(agent(), 'OTEL_EXPORTER_OTLP_ENDPOINT', 'agent'));
  assert.equal(url.protocol, 'http:');
  const m = /^([a-z0-9-]+)\.([a-z0-9-]+)\.svc(?:\.cluster\.local)?$/.exec(url.hostname);
  assert.ok(m, `${url.hostname} is not <service>.<namespace>.svc`);
  const svc = one('Service', m[1]!);
  assert.equal(namespaceOf(svc), m[2]);
  const ports = list(obj(svc.spec, 'Service spec').ports, 'Service ports').map((p) => obj(p, 'Service port'));
  const port = ports.find((p) => p.port === Number(url.port));
  assert.ok(port, `Service ${m[1]} does not expose ${url.port} (it exposes ${ports.map((p) => p.port).join(', ')})`);
  // targetPort (a name or a number) → the collector container's port → the OTLP/HTTP receiver.
  const containerPorts = list(container(collectorDeployment(), 'otel-collector').ports, 'collector ports').map((p) => obj(p, 'collector port'));
  const target = containerPorts.find((p) => p.name === port.targetPort || p.containerPort === port.targetPort);
  assert.ok(target, `Service port ${url.port} targets ${String(port.targetPort)}, which the collector container does not declare`);
  const http = obj(obj(obj(section(inClusterCollector().config, 'receivers', 'in-cluster').otlp, 'otlp').protocols, 'protocols').http, 'http');
  assert.equal(target.containerPort, endpoint(str(http.endpoint, 'http endpoint'), 'in-cluster otlp http').port);
  assert.equal(obj(svc.spec, 'Service spec').type ?? 'ClusterIP', 'ClusterIP');
  assert.deepEqual(ports.map((p) => p.port).sort(), [4317, 4318, 8889], 'OTLP in, and the agents\' metrics for Prometheus to scrape');
  const metrics = ports.find((p) => p.port === 8889)!;
  const metricsTarget = containerPorts.find((p) => p.name === metrics.targetPort);
  const prom = obj(section(inClusterCollector().config, 'exporters', 'in-cluster').prometheus, 'in-cluster prometheus exporter');
  assert.equal(metricsTarget?.containerPort, endpoint(str(prom.endpoint, 'prometheus endpoint'), 'in-cluster prometheus').port);
});

test('The collector Service selects the collector Deployment\'s pods and no agent pods.', () => {
  const svc = one('Service', 'otel-collector');
  const selector = obj(obj(svc.spec, 'Service spec').selector, 'Service selector');
  assert.ok(Object.keys(selector).length > 0, 'empty selector');
  assert.ok(matches(selector, podLabels(collectorDeployment())), `selector ${JSON.stringify(selector)} does not match ${JSON.stringify(podLabels(collectorDeployment()))}`);
  assert.ok(!matches(selector, podLabels(daemonSet())), 'the Service would also select the DaemonSet\'s pods');
  for (const w of [collectorDeployment(), daemonSet()]) {
    const matchLabels = obj(obj(obj(w.spec, 'spec').selector, 'selector').matchLabels, 'matchLabels');
    assert.ok(matches(matchLabels, podLabels(w)), `${kindOf(w)}/${nameOf(w)}: its selector does not match its own pods`);
  }
});

test('The collector Deployment mounts the ConfigMap that exists and runs with --config pointing at a key it holds.', () => {
  const collector = container(collectorDeployment(), 'otel-collector');
  const args = [...(collector.command === undefined ? [] : strings(collector.command, 'command')), ...strings(collector.args, 'args')];
  const configPath = flagValue(args, '--config', 'collector args');
  const mount = volumeMounts(collector, 'collector').find((m) => configPath.startsWith(`${str(m.mountPath, 'mountPath')}/`));
  assert.ok(mount, `no volume is mounted above ${configPath}`);
  const cmName = str(obj(volume(collectorDeployment(), str(mount.name, 'mount name')).configMap, 'configMap volume').name, 'configMap name');
  const cm = one('ConfigMap', cmName);
  assert.equal(namespaceOf(cm), namespaceOf(collectorDeployment()));
  const key = configPath.slice(str(mount.mountPath, 'mountPath').length + 1);
  assert.ok(key in obj(cm.data, 'ConfigMap data'), `ConfigMap ${cmName} has no key ${key}`);
  assert.equal(cm, collectorConfigMap());
});

test('The ClusterRoleBinding binds the ClusterRole in the manifests to the ServiceAccount the collector Deployment uses, and only to it.', () => {
  const saName = str(podSpec(collectorDeployment()).serviceAccountName, 'collector serviceAccountName');
  one('ServiceAccount', saName);
  const bindings = k8s('ClusterRoleBinding');
  assert.equal(bindings.length, 1);
  const binding = bindings[0]!;
  const roleRef = obj(binding.roleRef, 'roleRef');
  assert.equal(roleRef.kind, 'ClusterRole');
  assert.equal(roleRef.apiGroup, 'rbac.authorization.k8s.io');
  const role = one('ClusterRole', str(roleRef.name, 'roleRef.name'));
  assert.deepEqual(list(binding.subjects, 'subjects'), [{ kind: 'ServiceAccount', name: saName, namespace: namespaceOf(collectorDeployment()) }]);
  // What k8s_attributes reads: get/list/watch pods, namespaces, nodes; replicasets in apps.
  const grants = list(role.rules, 'rules').map((r) => obj(r, 'rule')).flatMap((r) =>
    strings(r.apiGroups, 'apiGroups').flatMap((g) => strings(r.resources, 'resources').map((res) => [`${g}/${res}`, strings(r.verbs, 'verbs').sort()] as const)));
  assert.deepEqual(new Map(grants), new Map([
    ['/pods', ['get', 'list', 'watch']], ['/namespaces', ['get', 'list', 'watch']], ['/nodes', ['get', 'list', 'watch']],
    ['apps/replicasets', ['get', 'list', 'watch']],
  ]));
  assert.equal(k8s('RoleBinding').length + k8s('Role').length, 0, 'RBAC only for the collector');
});

test('The DaemonSet runs under no ServiceAccount that any binding grants RBAC, and mounts no API token.', () => {
  const spec = podSpec(daemonSet());
  assert.equal(spec.automountServiceAccountToken, false);
  const sa = String(spec.serviceAccountName ?? spec.serviceAccount ?? 'default');
  const ns = namespaceOf(daemonSet());
  for (const b of [...k8s('ClusterRoleBinding'), ...k8s('RoleBinding')]) {
    for (const s of list(b.subjects, 'subjects').map((x) => obj(x, 'subject'))) {
      assert.ok(!(s.kind === 'ServiceAccount' && s.name === sa && s.namespace === ns), `${kindOf(b)}/${nameOf(b)} grants RBAC to the DaemonSet's ServiceAccount ${sa}`);
    }
  }
  assert.equal(spec.dnsPolicy, 'ClusterFirst');
  assert.notEqual(spec.hostNetwork, true);
  assert.equal(spec.priorityClassName, 'system-node-critical');
  assert.deepEqual(spec.tolerations, [{ operator: 'Exists' }]);
});

test('Every hostPath the install init container mounts is /opt/cni/bin or /etc/cni/net.d, and its command writes only there.', () => {
  const allowed = new Map([['/opt/cni/bin', '--bin-dir'], ['/etc/cni/net.d', '--conf-dir']]);
  const mounted = new Map<string, string>();
  for (const m of volumeMounts(install(), 'install')) {
    const hostPath = obj(volume(daemonSet(), str(m.name, 'mount name')).hostPath ?? {}, 'hostPath');
    if (hostPath.path === undefined) continue;
    const path = str(hostPath.path, 'hostPath.path');
    assert.ok(allowed.has(path), `the install container mounts host ${path}`);
    mounted.set(path, str(m.mountPath, 'mountPath'));
  }
  assert.deepEqual([...mounted.keys()].sort(), [...allowed.keys()].sort());
  const script = strings(install().command, 'install command').join(' ');
  assert.equal(script, `cni-trace install --bin-dir ${mounted.get('/opt/cni/bin')} --conf-dir ${mounted.get('/etc/cni/net.d')}`);
  const keep = container(daemonSet(), 'keep-wrapped');
  assert.equal(strings(keep.command, 'keep-wrapped command').join(' '), `${script} --watch`, 'the watcher keeps the same conflist wrapped');
  assert.deepEqual(volumeMounts(keep, 'keep-wrapped').map((m) => m.mountPath), volumeMounts(install(), 'install').map((m) => m.mountPath));
  const sc = obj(install().securityContext, 'install securityContext');
  assert.equal(sc.privileged, false);
  assert.equal(sc.runAsUser, 0);
});

test('The agent mounts the journal read-only and its state directory writable, from the host paths its flags name.', () => {
  const command = strings(agent().command, 'agent command');
  const flag = (name: string): string => {
    const i = command.indexOf(name);
    assert.ok(i >= 0 && command[i + 1], `agent command has no ${name}`);
    return command[i + 1]!;
  };
  const mounts = volumeMounts(agent(), 'agent');
  const mountOf = (path: string): { readOnly: boolean; hostPath: Obj } => {
    const m = mounts.find((x) => x.mountPath === path);
    assert.ok(m, `the agent mounts nothing at ${path}`);
    return { readOnly: m.readOnly === true, hostPath: obj(volume(daemonSet(), str(m.name, 'mount name')).hostPath, `${path} hostPath`) };
  };
  const journal = mountOf(flag('--journal'));
  assert.equal(journal.readOnly, true, 'the journal must be mounted read-only');
  assert.equal(journal.hostPath.path, '/var/log/cni-trace');
  const state = mountOf(flag('--state-dir'));
  assert.equal(state.readOnly, false, 'the checkpoint needs a writable state dir');
  assert.equal(state.hostPath.path, '/var/lib/cni-trace');
  assert.equal(state.hostPath.type, 'DirectoryOrCreate');
  assert.equal(envValue(agent(), 'OTEL_SERVICE_NAME', 'agent'), 'cni-trace');
  const nodeName = envList(agent(), 'agent').find((e) => e.name === 'K8S_NODE_NAME');
  assert.deepEqual(nodeName?.valueFrom, { fieldRef: { fieldPath: 'spec.nodeName' } });
  const resources = obj(agent().resources, 'agent resources');
  assert.deepEqual(resources.requests, { cpu: '10m', memory: '64Mi' });
  assert.deepEqual(resources.limits, { memory: '256Mi' });
});

test('The agent\'s resource carries every attribute the collector\'s k8s_attributes associates pods by.', () => {
  const k8sAttributes = obj(section(inClusterCollector().config, 'processors', 'in-cluster').k8s_attributes, 'k8s_attributes');
  const wanted = list(k8sAttributes.pod_association, 'pod_association').flatMap((a) =>
    list(obj(a, 'association').sources, 'sources').map((s) => obj(s, 'source')).filter((s) => s.from === 'resource_attribute').map((s) => str(s.name, 'source name')));
  assert.ok(wanted.length > 0, 'k8s_attributes associates by no resource attribute');
  const env = envList(agent(), 'agent');
  const attrs = new Map(envValue(agent(), 'OTEL_RESOURCE_ATTRIBUTES', 'agent').split(',').map((kv) => kv.split('=') as [string, string]));
  const attrsAt = env.findIndex((e) => e.name === 'OTEL_RESOURCE_ATTRIBUTES');
  for (const name of wanted) {
    const value = attrs.get(name);
    assert.ok(value, `OTEL_RESOURCE_ATTRIBUTES does not set ${name}`);
    // $(VAR) expands only from variables defined earlier in the list.
    for (const [, ref] of value.matchAll(/\$\(([A-Z0-9_]+)\)/g)) {
      const at = env.findIndex((e) => e.name === ref);
      assert.ok(at >= 0 && at < attrsAt, `${name}=${value}: ${ref!} is not defined before OTEL_RESOURCE_ATTRIBUTES`);
    }
  }
  assert.equal(attrs.get('k8s.pod.uid'), '$(POD_UID)');
  assert.deepEqual(env.find((e) => e.name === 'POD_UID')?.valueFrom, { fieldRef: { fieldPath: 'metadata.uid' } });
});

test('Compose\'s prometheus scrapes the port the collector\'s prometheus exporter listens on, and Grafana reads that prometheus.', () => {
  const exporter = obj(section(composeCollector().config, 'exporters', 'compose collector').prometheus, 'prometheus exporter');
  const listen = endpoint(str(exporter.endpoint, 'prometheus exporter endpoint'), 'prometheus exporter');
  assert.equal(listen.host, '0.0.0.0');
  assert.equal(exporter.translation_strategy, 'UnderscoreEscapingWithoutSuffixes', 'the names the agent\'s own endpoint serves');
  assert.equal(exporter.add_metric_suffixes, undefined, 'ignored since collector 0.159: it would only mislead');
  assert.ok(composeListens('otel-collector').includes(listen.port), `the collector does not declare ${listen.port}`);
  const scrape = parse(readFileSync(join(DIR, 'prometheus.yml'), 'utf8')) as { scrape_configs: Array<{ static_configs: Array<{ targets: string[] }> }> };
  assert.deepEqual(scrape.scrape_configs.flatMap((c) => c.static_configs.flatMap((t) => t.targets)), [`otel-collector:${listen.port}`]);
  assert.deepEqual(composeBinds('prometheus').map((b) => b.source), ['./prometheus.yml']);
  const datasources = (parse(readFileSync(join(DIR, 'grafana/provisioning/datasources/datasources.yaml'), 'utf8')) as { datasources: Array<{ uid: string; type: string; url: string }> }).datasources;
  const prom = datasources.find((d) => d.type === 'prometheus');
  assert.ok(prom);
  assert.equal(prom.url, 'http://prometheus:9090');
  assert.ok(composeListens('prometheus').includes(9090));
});

test('The Grafana dashboard shows p50/p95/p99 per plugin, errors, calls in flight and the findings, from metrics the agent exports.', () => {
  const dash = JSON.parse(readFileSync(join(DIR, 'grafana/provisioning/dashboards/cni-trace.json'), 'utf8')) as { uid: string; panels: Array<{ title: string; datasource: { uid: string }; targets: Array<{ expr: string }> }> };
  const provider = parse(readFileSync(join(DIR, 'grafana/provisioning/dashboards/dashboards.yaml'), 'utf8')) as { providers: Array<{ options: { path: string } }> };
  assert.equal(provider.providers[0]!.options.path, '/etc/grafana/provisioning/dashboards', 'inside the provisioning dir compose mounts');
  // The agent's instruments (src/agent/metrics.ts), as Prometheus names them without suffixes.
  const source = readFileSync(join(DIR, '../src/agent/metrics.ts'), 'utf8');
  const instruments = [...source.matchAll(/meter\.create(Histogram|Counter|ObservableGauge)\('([a-z._]+)'/g)].map(([, kind, name]) => ({ kind: kind!, name: name!.replaceAll('.', '_') }));
  assert.equal(instruments.length, 7);
  // A counter is NAME_total from the agent's endpoint, NAME through the collector (no suffixes at all).
  const known = new Set(instruments.flatMap(({ kind, name }) => kind === 'Histogram' ? [`${name}_bucket`, `${name}_count`, `${name}_sum`] : kind === 'Counter' ? [`${name}_total`, name] : [name]));
  const exprs = dash.panels.flatMap((p) => p.targets.map((t) => t.expr));
  // Labels are the agent's attributes (cni.plugin.type …) and the resource's k8s.node.name.
  const labels = new Set(['cni_plugin_type', 'cni_command', 'cni_step_depth', 'error_type', 'k8s_node_name', 'le', 'cni_finding_kind']);
  for (const expr of exprs) {
    for (const [token] of expr.matchAll(/\b(?:cni|error|k8s)_[a-z_]+\b/g)) {
      assert.ok(known.has(token) || labels.has(token), `the dashboard queries ${token}, neither a metric the agent exports (${[...known].join(', ')}) nor one of its labels`);
    }
  }
  for (const q of ['0.5', '0.95', '0.99']) assert.ok(exprs.some((e) => e.includes(`histogram_quantile(${q}, sum by (le, cni_plugin_type) (rate(cni_plugin_duration_bucket`)), `a p${Number(q) * 100} per plugin`);
  assert.ok(exprs.some((e) => e.includes('{__name__=~"cni_plugin_errors(_total)?"')), 'errors per plugin, under either name');
  assert.ok(exprs.some((e) => e.includes('cni_invocations_in_flight')));
  assert.ok(exprs.some((e) => e.includes('sum by (k8s_node_name, cni_finding_kind) (cni_findings)')), 'the findings per node and kind');
  for (const p of dash.panels) assert.equal(p.datasource.uid, 'prometheus', p.title);
});

test('The collector the tests build (builder-config.yaml) is the release the images run: every component and the builder at one version, the contrib image\'s.', () => {
  const manifest = load('builder-config.yaml');
  const release = str(obj(manifest.dist, 'builder-config.yaml dist').version, 'dist.version');
  const mods = ['receivers', 'processors', 'exporters', 'extensions', 'connectors'].flatMap((k) => (manifest[k] === undefined ? [] : list(manifest[k], k)))
    .map((m) => str(obj(m, 'a builder module').gomod, 'gomod'));
  assert.ok(mods.length > 0);
  for (const m of mods) assert.equal(m.split(' ')[1], `v${release}`, `${m}: not at the manifest's release`);
  assert.match(readFileSync(join(DIR, '../scripts/tools.sh'), 'utf8'), new RegExp(`^BUILDER_VERSION=v${release.replaceAll('.', '\\.')} `, 'm'), 'scripts/tools.sh pins the builder of the same release');
  assert.equal(str(service('otel-collector').image, 'compose collector image'), `otel/opentelemetry-collector-contrib:${release}`);
  const deployed = str(container(collectorDeployment(), 'otel-collector').image, 'collector Deployment image');
  assert.equal(deployed, `otel/opentelemetry-collector-contrib:${release}`);
});
