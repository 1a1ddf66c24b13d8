/**
 * Every shipped collector configuration loaded by the real collector: `otelcol validate` of
 * collector-config/otel-collector.yaml (compose) and of the ConfigMap's config.yaml (Kubernetes),
 * with the collector built from collector-config/builder-config.yaml — whose components are
 * exactly those the two configs use, no more.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { execa } from 'execa';
import { parse, parseAllDocuments } from 'yaml';
import { COLLECTOR_BIN, COLLECTOR_CONFIG, ensureTools, validateCollectorConfig } from '../support/backends.ts';
import { ROOT } from '../support/fixtures.ts';
import { Sandbox } from '../support/sandbox.ts';

const sb = new Sandbox('collector-validate');
const CONFIGMAP = join(ROOT, 'collector-config/kubernetes/20-collector-config.yaml');
let inCluster = '';

before(async () => {
  await ensureTools();
  const map = parseAllDocuments(readFileSync(CONFIGMAP, 'utf8')).map((d) => d.toJS() as { kind?: string; data?: Record<string, string> }).find((d) => d.kind === 'ConfigMap');
  assert.ok(map?.data?.['config.yaml'], 'the ConfigMap holds config.yaml');
  inCluster = join(sb.dir, 'in-cluster.yaml');
  writeFileSync(inCluster, map.data['config.yaml']);
});
after(() => sb.cleanup());

test('the compose collector config (otel-collector.yaml) passes the real collector\'s validate, as compose runs it', async () => {
  // compose sets K8S_NODE_NAME; the addresses keep their defaults.
  const r = await validateCollectorConfig(COLLECTOR_CONFIG, { K8S_NODE_NAME: 'local' });
  assert.equal(r.exitCode, 0, r.output);
  assert.doesNotMatch(r.output, /deprecated/i, 'no deprecated component names or settings');
});

test('the in-cluster collector config (the ConfigMap\'s config.yaml) passes the real collector\'s validate', async () => {
  const r = await validateCollectorConfig(inCluster);
  assert.equal(r.exitCode, 0, r.output);
  assert.doesNotMatch(r.output, /deprecated/i, 'no deprecated component names or settings');
});

test('validate is no formality: a config naming a component the collector lacks fails, naming it', async () => {
  const broken = join(sb.dir, 'broken.yaml');
  writeFileSync(broken, readFileSync(COLLECTOR_CONFIG, 'utf8').replace('memory_limiter:\n', 'memory_limitr:\n'));
  const r = await validateCollectorConfig(broken, { K8S_NODE_NAME: 'local' });
  assert.notEqual(r.exitCode, 0);
  assert.match(r.output, /memory_limitr/);
});

test('the built collector has exactly the components the shipped configs use', async () => {
  const used = { receivers: new Set<string>(), processors: new Set<string>(), exporters: new Set<string>(), extensions: new Set<string>(), connectors: new Set<string>() };
  for (const file of [COLLECTOR_CONFIG, inCluster]) {
    const config = parse(readFileSync(file, 'utf8')) as Record<string, Record<string, unknown> | undefined>;
    for (const kind of Object.keys(used) as Array<keyof typeof used>) {
      for (const id of Object.keys(config[kind] ?? {})) used[kind].add(id.split('/')[0]!);
    }
  }
  const r = await execa(COLLECTOR_BIN, ['components'], { reject: false });
  assert.equal(r.exitCode, 0, r.stderr);
  const listed = parse(r.stdout) as Record<string, Array<{ name: string }> | undefined>;
  for (const kind of Object.keys(used) as Array<keyof typeof used>) {
    assert.deepEqual((listed[kind] ?? []).map((c) => c.name).sort(), [...used[kind]].sort(), kind);
  }
});
