/**
 * A real OTLP/HTTP traces receiver for tests: an HTTP server on loopback that decodes the
 * JSON encoding (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding) the
 * exporter sends, keeps every span, and can be told to answer with errors or to go away.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { decodeMetricsRequest, decodeTracesRequest } from './otlp-protobuf.ts';

export interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly name: string;
  readonly kind: number;
  readonly startNs: string;
  readonly endNs: string;
  readonly attributes: Record<string, unknown>;
  readonly status: { code: number; message?: string };
  readonly events: Array<{ name: string; timeNs: string; attributes: Record<string, unknown> }>;
  readonly links: Array<{ traceId: string; spanId: string; attributes: Record<string, unknown> }>;
  readonly resource: Record<string, unknown>;
  readonly scope: string;
}

type AnyValue = { stringValue?: string; intValue?: string | number; doubleValue?: number; boolValue?: boolean; arrayValue?: { values?: AnyValue[] } };

function value(v: AnyValue): unknown {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(value);
  return null;
}

function attrs(list: Array<{ key: string; value: AnyValue }> | undefined): Record<string, unknown> {
  return Object.fromEntries((list ?? []).map((a) => [a.key, value(a.value)]));
}

const ns = (v: unknown): string => String(v ?? '');
const status = (st: { code?: number; message?: string } | undefined): { code: number; message?: string } =>
  ({ code: Number(st?.code ?? 0), ...(st?.message ? { message: st.message } : {}) });

export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  /** Every request's outcome, in order: the HTTP status we answered. */
  readonly requests: number[] = [];
  /** Answer the next N requests with this status (e.g. 503). */
  failNext = 0;
  failStatus = 503;
  /** Answer the next N metrics pushes with failStatus (traces are answered as failNext says). */
  failMetricsNext = 0;
  /** Delay before answering, in ms. */
  delayMs = 0;
  /** Metrics received on /v1/metrics: one entry per metric per request, with its data points as sent. */
  readonly metrics: Array<{ name: string; unit: string; kind: string; dataPoints: Array<Record<string, unknown> & { attributes: Record<string, unknown> }> }> = [];
  /** Each request's encoding and body size, in order. */
  readonly encodings: Array<'json' | 'protobuf'> = [];
  readonly bodyBytes: number[] = [];
  /** The headers of every request, in order. */
  readonly headers: IncomingHttpHeaders[] = [];
  private server: Server | null = null;
  port = 0;
  /** Serve https with this PEM key and certificate instead of http. */
  private readonly tls: { key: string | Buffer; cert: string | Buffer } | undefined;

  constructor(opts: { tls?: { key: string | Buffer; cert: string | Buffer } } = {}) {
    this.tls = opts.tls;
  }

  /** Starts listening on 127.0.0.1 (on `port` if given, to come back on the same one). */
  async start(port = 0): Promise<void> {
    const handler = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): void => {
      this.headers.push(req.headers);
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        setTimeout(() => {
          // A client that gave up (its timeout passed while we stalled) did not get an answer:
          // a collector that stalls fails the request; nothing of it is kept.
          if (res.destroyed || req.socket.destroyed) {
            this.requests.push(0);
            return;
          }
          // Both OTLP/HTTP encodings; the answer is in the request's (an empty response message).
          const body = Buffer.concat(chunks);
          const protobuf = req.headers['content-type'] === 'application/x-protobuf';
          this.encodings.push(protobuf ? 'protobuf' : 'json');
          this.bodyBytes.push(body.length);
          const answer = protobuf ? { type: 'application/x-protobuf', body: '' } : { type: 'application/json', body: '{}' };
          if (req.url === '/v1/metrics' && req.method === 'POST') {
            if (this.failMetricsNext > 0) {
              this.failMetricsNext--;
              res.writeHead(this.failStatus, { 'content-type': answer.type }).end(answer.body);
              return;
            }
            try {
              this.decodeMetrics(protobuf ? decodeMetricsRequest(body) : JSON.parse(body.toString('utf8')));
              res.writeHead(200, { 'content-type': answer.type }).end(answer.body);
            } catch (e) {
              res.writeHead(400).end(String(e));
            }
            return;
          }
          if (req.url !== '/v1/traces' || req.method !== 'POST') {
            res.writeHead(404).end();
            return;
          }
          if (this.failNext > 0) {
            this.failNext--;
            this.requests.push(this.failStatus);
            res.writeHead(this.failStatus, { 'content-type': answer.type }).end(answer.body);
            return;
          }
          try {
            this.decode(protobuf ? decodeTracesRequest(body) : JSON.parse(body.toString('utf8')));
            this.requests.push(200);
            res.writeHead(200, { 'content-type': answer.type }).end(answer.body);
          } catch (e) {
            this.requests.push(400);
            res.writeHead(400).end(String(e));
          }
        }, this.delayMs);
      });
    };
    this.server = this.tls ? createTlsServer(this.tls, handler) as unknown as Server : createServer(handler);
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  get endpoint(): string {
    return `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`;
  }

  /** Stops listening (connections are refused until start() again). */
  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private decode(body: { resourceSpans?: Array<{ resource?: { attributes?: Array<{ key: string; value: AnyValue }> }; scopeSpans?: Array<{ scope?: { name?: string }; spans?: Array<Record<string, unknown>> }> }> }): void {
    for (const rs of body.resourceSpans ?? []) {
      const resource = attrs(rs.resource?.attributes);
      for (const ss of rs.scopeSpans ?? []) {
        for (const s of ss.spans ?? []) {
          this.spans.push({
            traceId: ns(s.traceId), spanId: ns(s.spanId), parentSpanId: ns(s.parentSpanId), name: ns(s.name), kind: Number(s.kind ?? 0),
            startNs: ns(s.startTimeUnixNano), endNs: ns(s.endTimeUnixNano),
            attributes: attrs(s.attributes as Array<{ key: string; value: AnyValue }>),
            // Defaults as protobuf leaves them out: code 0, no message.
            status: status(s.status as { code?: number; message?: string } | undefined),
            events: ((s.events ?? []) as Array<{ name: string; timeUnixNano: unknown; attributes?: Array<{ key: string; value: AnyValue }> }>).map((e) => ({ name: e.name, timeNs: ns(e.timeUnixNano), attributes: attrs(e.attributes) })),
            links: ((s.links ?? []) as Array<{ traceId: string; spanId: string; attributes?: Array<{ key: string; value: AnyValue }> }>).map((l) => ({ traceId: l.traceId, spanId: l.spanId, attributes: attrs(l.attributes) })),
            resource, scope: ss.scope?.name ?? '',
          });
        }
      }
    }
  }

  private decodeMetrics(body: { resourceMetrics?: Array<{ scopeMetrics?: Array<{ metrics?: Array<Record<string, unknown>> }> }> }): void {
    for (const rm of body.resourceMetrics ?? []) {
      for (const sm of rm.scopeMetrics ?? []) {
        for (const m of sm.metrics ?? []) {
          const kind = ['histogram', 'sum', 'gauge'].find((k) => k in m) ?? 'unknown';
          const points = ((m[kind] as { dataPoints?: Array<Record<string, unknown>> } | undefined)?.dataPoints ?? [])
            .map((p) => ({ ...p, attributes: attrs(p.attributes as Array<{ key: string; value: AnyValue }>) }));
          this.metrics.push({ name: String(m.name), unit: String(m.unit ?? ''), kind, dataPoints: points });
        }
      }
    }
  }

  /** Spans grouped by span id, to count duplicates. */
  counts(): Map<string, number> {
    const m = new Map<string, number>();
    for (const s of this.spans) m.set(s.spanId, (m.get(s.spanId) ?? 0) + 1);
    return m;
  }
}
