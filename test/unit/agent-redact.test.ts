/**
 * The agent never prints an endpoint's user-info or credential query parameters: not in its
 * log lines (start, export errors, status), not in status.json, not in a config error.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { STATUS_FILE } from '../../src/agent/status.ts';
import { resolveConfig } from '../../src/agent/config.ts';
import { runAgent } from '../../src/agent/run.ts';
import type { ExecOutcome, PluginExec } from '../../src/invoke/exec.ts';
import { callPlugin, cniEnv } from '../support/run-plugin.ts';

const root = mkdtempSync(join(tmpdir(), 'cnitrace-unit-agent-redact-'));
after(() => rmSync(root, { recursive: true, force: true }));

const PASSWORD = 'S3CR3T-endpoint-password';
const TOKEN = 'S3CR3T-endpoint-token';
const ENDPOINT = `http://collector:${PASSWORD}@127.0.0.1:9/v1/traces?tenant=a&token=${TOKEN}`;

test('an endpoint with user-info and ?token= is shown redacted in the log, status.json and errors; the exporter still gets it whole', async () => {
  const journal = join(root, 'journal');
  const ok: ExecOutcome = { exitCode: 0, signal: null, stdout: Buffer.from('{"cniVersion":"1.0.0"}'), stderr: Buffer.alloc(0), stderrBytes: 0, spawnError: null, pid: 1, startMono: 0n, endMono: 0n };
  const exec: PluginExec = { run: async () => ok };
  await callPlugin({ env: cniEnv('ADD', '/bin', { CNI_PATH: '/bin' }), stdin: { cniVersion: '1.0.0', name: 'n', type: 'cni-trace', journalDir: journal, delegates: [{ type: 'sh' }] }, exec });
  const cfg = resolveConfig({ journal, 'state-dir': join(root, 'state'), once: true, 'once-attempts': '1' }, { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: ENDPOINT, OTEL_METRICS_EXPORTER: 'none' });
  assert.equal(cfg.tracesUrl, ENDPOINT, 'the exporter gets the endpoint as configured');
  const lines: string[] = [];
  const code = await runAgent(cfg, {
    log: (l) => lines.push(l), stopped: new Promise(() => {}),
    sink: { exportSpans: async () => ({ ok: false, error: `${cfg.tracesUrl}: connect ECONNREFUSED`, retryable: true }), shutdown: async () => {} },
  });
  assert.equal(code, 1);
  const log = lines.join('\n');
  const status = readFileSync(join(root, 'state', STATUS_FILE), 'utf8');
  assert.match(log, /exporting to http:\/\/collector:\[REDACTED\]@127\.0\.0\.1:9\/v1\/traces\?tenant=a&token=\[REDACTED\]/);
  assert.match(log, /ECONNREFUSED/);
  assert.match(status, /"endpoint": "http:\/\/collector:\[REDACTED\]@127\.0\.0\.1:9/);
  assert.match(status, /"lastError": ".*token=\[REDACTED\] connect ECONNREFUSED"/);
  for (const text of [log, status]) assert.ok(!text.includes(PASSWORD) && !text.includes(TOKEN), text);
  assert.throws(() => resolveConfig({}, { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `not a url://u:${PASSWORD}@` }), (e: Error) => !e.message.includes(PASSWORD));
});
