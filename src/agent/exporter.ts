/**
 * The OTLP/HTTP trace exporter (@opentelemetry/exporter-trace-otlp-http, JSON encoding) as a
 * promise that never rejects: the agent needs to know, per batch, whether the collector
 * accepted it, to advance its checkpoint only then. Error texts never carry header values.
 */
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtobufTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { readFileSync } from 'node:fs';
import type { AgentConfig, OtlpProtocol } from './config.ts';

export type ExportOutcome = { ok: true } | { ok: false; error: string; retryable: boolean };

export interface SpanSink {
  exportSpans(spans: ReadableSpan[]): Promise<ExportOutcome>;
  shutdown(): Promise<void>;
}

/** HTTP statuses a retry cannot fix (the request itself is wrong): the batch is dropped. */
function permanent(status: number | undefined): boolean {
  return status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429;
}

/** The PEM files of the TLS settings, read now so a wrong path fails at start, naming the setting. */
export function tlsOptions(tls: AgentConfig['tls']): { ca?: Buffer; cert?: Buffer; key?: Buffer } | undefined {
  const entries = Object.entries(tls).filter(([, path]) => path);
  if (entries.length === 0) return undefined;
  const names: Record<string, string> = { ca: '--certificate', cert: '--client-certificate', key: '--client-key' };
  return Object.fromEntries(entries.map(([k, path]) => {
    try {
      return [k, readFileSync(path!)];
    } catch (e) {
      throw new Error(`${names[k]}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
    }
  }));
}

// Stryker disable next-line StringLiteral: any protocol but http/protobuf is JSON, so an empty default is the same
export function otlpSink(url: string, headers: Readonly<Record<string, string>>, timeoutMillis = 10_000, tls: AgentConfig['tls'] = {}, protocol: OtlpProtocol = 'http/json'): SpanSink {
  const agentOptions = tlsOptions(tls);
  const Exporter = protocol === 'http/protobuf' ? ProtobufTraceExporter : JsonTraceExporter;
  const exporter = new Exporter({ url, headers: { ...headers }, timeoutMillis, ...(agentOptions ? { httpAgentOptions: { keepAlive: true, ...agentOptions } } : {}) });
  return {
    exportSpans: (spans) => new Promise((resolve) => {
      exporter.export(spans, (result) => {
        if (result.code === ExportResultCode.SUCCESS) return resolve({ ok: true });
        const err = result.error as (Error & { code?: number; data?: string }) | undefined;
        // The status and what the collector said (its reason, often), on one line.
        // Only text: a protobuf Status or other bytes would print as garbage, or as escapes.
        // The SDK passes an error with every failed result: `err?.` and `err.` read the same.
        // Stryker disable next-line OptionalChaining: see above
        const said = typeof err?.data === 'string' ? err.data.replace(/\s+/g, ' ').trim().slice(0, 300) : '';
        const reason = /[\u0000-\u001f\u007f-\u009f\ufffd]/.test(said) ? '' : said;
        // Stryker disable next-line OptionalChaining: see above
        let text = `${err?.code ? `HTTP ${err.code} ` : ''}${err?.message ?? 'export failed'}${reason ? `: ${reason}` : ''}`;
        for (const v of Object.values(headers)) if (v) text = text.replaceAll(v, '***');
        // Stryker disable next-line OptionalChaining: see above
        resolve({ ok: false, error: `${url}: ${text}`, retryable: !permanent(err?.code) });
      });
    }),
    shutdown: () => exporter.shutdown(),
  };
}
