/**
 * The agent's OTLP/HTTP exporter (src/agent/exporter.ts) against a real HTTP server on
 * 127.0.0.1 standing in for the collector: what it sends (JSON by default, protobuf on request,
 * the configured headers, over TLS with the configured CA) and how each answer becomes an
 * outcome the agent acts on (accepted; refused for good; worth a retry), with an error text
 * that names the endpoint and what the collector said, and never a header's value.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { emptyResource } from '@opentelemetry/resources';
import { otlpSink, tlsOptions } from '../../src/agent/exporter.ts';
import { spansFromInvocation } from '../../src/agent/spans.ts';
import { InvocationIndex } from '../../src/journal/invocations.ts';
import { chainRecords, INV } from '../support/records.ts';
import { OtlpReceiver } from '../support/otlp-receiver.ts';
import { selfSignedCert } from '../support/tls-cert.ts';

const root = mkdtempSync(join(tmpdir(), 'cnitrace-unit-exporter-'));
after(() => rmSync(root, { recursive: true, force: true }));

function spans(): ReturnType<typeof spansFromInvocation> {
  const index = new InvocationIndex(() => false);
  for (const r of chainRecords()) index.add(r);
  return spansFromInvocation(index.get(INV)!, { resource: emptyResource(), nodeName: 'node-1' });
}

/** A collector that answers every request with `answer`; the requests it got, with their bodies. */
async function collector(answer: (res: ServerResponse) => void): Promise<{ url: string; got: Array<{ req: IncomingMessage; body: Buffer }>; close: () => Promise<void> }> {
  const got: Array<{ req: IncomingMessage; body: Buffer }> = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => { got.push({ req, body: Buffer.concat(chunks) }); answer(res); });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`;
  return { url, got, close: () => { server.closeAllConnections(); return new Promise((resolve) => server.close(() => resolve())); } };
}

async function answerOnce(status: number, body: string | Buffer, headers: Readonly<Record<string, string>> = {}, extra: Record<string, string> = {}): Promise<{ outcome: Awaited<ReturnType<ReturnType<typeof otlpSink>['exportSpans']>>; url: string; requests: number }> {
  const c = await collector((res) => res.writeHead(status, extra).end(body));
  try {
    const sink = otlpSink(c.url, headers, 2000);
    const outcome = await sink.exportSpans(spans());
    await sink.shutdown();
    return { outcome, url: c.url, requests: c.got.length };
  } finally {
    await c.close();
  }
}

/** A real OTLP receiver gets one batch through a sink made by `make` from its traces URL. */
async function sentTo(make: (url: string) => ReturnType<typeof otlpSink>): Promise<OtlpReceiver> {
  const r = new OtlpReceiver();
  await r.start();
  try {
    const sink = make(`${r.endpoint}/v1/traces`);
    assert.deepEqual(await sink.exportSpans(spans()), { ok: true });
    await sink.shutdown();
    return r;
  } finally {
    await r.stop();
  }
}

test('rule: by default the spans go as OTLP JSON with the configured headers, and an accepted batch is ok', async () => {
  const r = await sentTo((url) => otlpSink(url, { authorization: 'Bearer t0k', 'x-tenant': 'blue' }));
  assert.deepEqual(r.encodings, ['json']);
  assert.equal(r.headers[0]!['content-type'], 'application/json');
  assert.equal(r.headers[0]!.authorization, 'Bearer t0k');
  assert.equal(r.headers[0]!['x-tenant'], 'blue');
  assert.deepEqual(r.spans.map((s) => s.name), spans().map((s) => s.name));
  assert.equal(r.spans[0]!.spanId, INV);
});

test('rule: with http/protobuf the same spans go as OTLP protobuf', async () => {
  const r = await sentTo((url) => otlpSink(url, {}, 10_000, {}, 'http/protobuf'));
  assert.deepEqual(r.encodings, ['protobuf']);
  assert.equal(r.headers[0]!['content-type'], 'application/x-protobuf');
  assert.deepEqual(r.spans.map((s) => s.spanId), spans().map((s) => s.spanContext().spanId));
});

test('rule: a 4xx refuses the batch for good, with the status, its reason and what the collector said on one line', async () => {
  const { outcome, url } = await answerOnce(400, 'invalid  span:\n\ttrace id is\r\nall zero  \n');
  assert.deepEqual(outcome, { ok: false, error: `${url}: HTTP 400 Bad Request: invalid span: trace id is all zero`, retryable: false });
  for (const status of [401, 403, 404, 413, 499]) {
    const r = await answerOnce(status, '');
    assert.equal(r.outcome.ok, false);
    assert.equal(!r.outcome.ok && r.outcome.retryable, false, `${status}: refused for good`);
  }
});

test('rule: a request timeout (408) and a server error (5xx) are worth a retry; so are 429 and 503, which the exporter retries first', async () => {
  for (const status of [408, 500, 501, 505]) {
    const { outcome, url } = await answerOnce(status, 'try later');
    assert.equal(outcome.ok, false);
    assert.equal(!outcome.ok && outcome.retryable, true, `${status}: retry`);
    assert.equal(!outcome.ok && outcome.error.startsWith(`${url}: HTTP ${status} `), true, !outcome.ok ? outcome.error : '');
  }
  // A redirect is not followed, and is no refusal of the batch: only a 4xx is.
  for (const status of [301, 302, 307]) {
    const { outcome, url } = await answerOnce(status, 'moved', {}, { location: '/elsewhere' });
    assert.equal(!outcome.ok && outcome.retryable, true, `${status}: retry`);
    assert.equal(!outcome.ok && outcome.error.startsWith(`${url}: HTTP ${status} `), true);
  }
  for (const status of [429, 503]) {
    // A Retry-After in the past makes the exporter's own retries immediate.
    const { outcome, url, requests } = await answerOnce(status, 'busy', {}, { 'retry-after': 'Thu, 01 Jan 1970 00:00:00 GMT' });
    assert.deepEqual(outcome, { ok: false, error: `${url}: Export failed with retryable status`, retryable: true });
    assert.ok(requests > 1, 'the exporter retried before giving up');
  }
});

test('rule: a collector\'s answer that is not text (a protobuf Status, control bytes) is left out of the error', async () => {
  for (const body of [Buffer.from([0x08, 0x03, 0x12, 0x05, 0x62, 0x61, 0x64, 0x21, 0x00]), 'bad\u0007bell', 'caf\u00e9 \u0085', Buffer.from([0x62, 0xff, 0x61])]) {
    const { outcome, url } = await answerOnce(400, body);
    assert.deepEqual(outcome, { ok: false, error: `${url}: HTTP 400 Bad Request`, retryable: false }, JSON.stringify(body.toString()));
  }
  const { outcome, url } = await answerOnce(400, 'café ok ~');
  assert.deepEqual(outcome, { ok: false, error: `${url}: HTTP 400 Bad Request: café ok ~`, retryable: false }, 'printable text beyond ASCII is kept');
});

test('rule: what the collector said is cut to 300 characters', async () => {
  const said = `${'a'.repeat(299)}bcdef`;
  const { outcome, url } = await answerOnce(400, said);
  assert.deepEqual(outcome, { ok: false, error: `${url}: HTTP 400 Bad Request: ${said.slice(0, 300)}`, retryable: false });
});

test('rule: no header value appears in an error, whatever the collector echoes; an empty value redacts nothing', async () => {
  const { outcome, url } = await answerOnce(401, 'no tenant blue for Bearer s3cr3t-t0k', { authorization: 'Bearer s3cr3t-t0k', 'x-tenant': 'blue', 'x-empty': '' });
  assert.deepEqual(outcome, { ok: false, error: `${url}: HTTP 401 Unauthorized: no tenant *** for ***`, retryable: false });
});

test('rule: a collector that is not there, or does not answer within the timeout, is worth a retry', async () => {
  const c = await collector(() => { /* never answers */ });
  try {
    const sink = otlpSink(c.url, {}, 300);
    const outcome = await sink.exportSpans(spans());
    assert.deepEqual(outcome, { ok: false, error: `${c.url}: Request timed out`, retryable: true });
    await sink.shutdown();
  } finally {
    await c.close();
  }
  const gone = await collector(() => {});
  await gone.close();
  const sink = otlpSink(gone.url, {}, 300);
  const outcome = await sink.exportSpans(spans());
  assert.equal(outcome.ok, false);
  assert.equal(!outcome.ok && outcome.retryable, true);
  assert.match(!outcome.ok ? outcome.error : '', new RegExp(`^${gone.url.replaceAll('.', '\\.')}: .*ECONNREFUSED`));
});

test('rule: tlsOptions reads the PEM files given, none when none is given, and names the setting of a file it cannot read', () => {
  assert.equal(tlsOptions({}), undefined);
  assert.equal(tlsOptions({ ca: '' }), undefined, 'an empty path is no file');
  const ca = join(root, 'ca.pem');
  const key = join(root, 'key.pem');
  writeFileSync(ca, 'the CA');
  writeFileSync(key, 'the key');
  assert.deepEqual(tlsOptions({ ca, key }), { ca: Buffer.from('the CA'), key: Buffer.from('the key') });
  const missing = join(root, 'missing.pem');
  assert.throws(() => tlsOptions({ ca: missing }), (e: Error) => e.message === `--certificate: cannot read ${missing}: ENOENT` && (e.cause as NodeJS.ErrnoException).code === 'ENOENT', 'the read\'s own error is kept as the cause');
  assert.throws(() => tlsOptions({ cert: missing }), { message: `--client-certificate: cannot read ${missing}: ENOENT` });
  assert.throws(() => tlsOptions({ key: missing }), { message: `--client-key: cannot read ${missing}: ENOENT` });
  assert.throws(() => otlpSink('http://127.0.0.1:9/v1/traces', {}, 1000, { ca: missing }), /--certificate: cannot read/, 'a wrong path fails when the sink is made');
});

test('rule: over https the sink trusts the configured CA and keeps its connection for the next batch', async () => {
  const { key, cert, certPath } = selfSignedCert(mkdtempSync(join(root, 'tls-')));
  let connections = 0;
  const server = createTlsServer({ key, cert }, (req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  });
  server.on('secureConnection', () => { connections++; });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`;
  try {
    const trusting = otlpSink(url, {}, 5000, { ca: certPath });
    assert.deepEqual(await trusting.exportSpans(spans()), { ok: true });
    assert.deepEqual(await trusting.exportSpans(spans()), { ok: true });
    assert.equal(connections, 1, 'the second batch went over the first connection');
    await trusting.shutdown();
    const untrusting = otlpSink(url, {}, 5000);
    const outcome = await untrusting.exportSpans(spans());
    assert.equal(outcome.ok, false, 'without the CA the self-signed collector is not trusted');
    await untrusting.shutdown();
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

test('rule: shutting the sink down waits for the batch in flight', async () => {
  let answer = (): void => {};
  const c = await collector((res) => { answer = () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'); });
  try {
    const sink = otlpSink(c.url, {}, 5000);
    const exported = sink.exportSpans(spans());
    while (c.got.length === 0) await new Promise((resolve) => setImmediate(resolve));
    let shut = false;
    const shutting = sink.shutdown().then(() => { shut = true; });
    for (let k = 0; k < 20; k++) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(shut, false, 'not shut while the collector has not answered');
    answer();
    await shutting;
    assert.deepEqual(await exported, { ok: true });
  } finally {
    await c.close();
  }
});
