/**
 * Decodes OTLP's protobuf encoding (ExportTraceServiceRequest, ExportMetricsServiceRequest)
 * into the shape of its JSON encoding (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding):
 * lowerCamelCase field names, trace and span ids as hex, 64-bit integers as decimal strings,
 * enums as numbers. So a test's receiver reads both encodings with one code path, and a
 * difference between what the two exporters send shows up as a difference in that shape.
 *
 * Written from opentelemetry-proto's .proto files (common, resource, trace, metrics v1), with
 * the protobuf wire format (varint, 64-bit, length-delimited, 32-bit) read by hand: the test
 * does not decode with the library that encoded.
 */

type Scalar = 'string' | 'hex' | 'bytes' | 'fixed32' | 'fixed64' | 'sfixed64' | 'double' | 'varint' | 'int64' | 'bool' | 'packedFixed64' | 'packedDouble';
interface Field { readonly name: string; readonly type: Scalar | Schema; readonly repeated?: boolean }
interface Schema { readonly [field: number]: Field }

// opentelemetry/proto/common/v1/common.proto
const AnyValue: Schema = {};
const KeyValue: Schema = { 1: { name: 'key', type: 'string' }, 2: { name: 'value', type: AnyValue } };
const ArrayValue: Schema = { 1: { name: 'values', type: AnyValue, repeated: true } };
const KeyValueList: Schema = { 1: { name: 'values', type: KeyValue, repeated: true } };
Object.assign(AnyValue, {
  1: { name: 'stringValue', type: 'string' }, 2: { name: 'boolValue', type: 'bool' }, 3: { name: 'intValue', type: 'int64' },
  4: { name: 'doubleValue', type: 'double' }, 5: { name: 'arrayValue', type: ArrayValue }, 6: { name: 'kvlistValue', type: KeyValueList },
  7: { name: 'bytesValue', type: 'bytes' },
});
const attributes = (n: number): Schema => ({ [n]: { name: 'attributes', type: KeyValue, repeated: true } });
const Scope: Schema = { 1: { name: 'name', type: 'string' }, 2: { name: 'version', type: 'string' }, ...attributes(3), 4: { name: 'droppedAttributesCount', type: 'varint' } };
// opentelemetry/proto/resource/v1/resource.proto
const Resource: Schema = { ...attributes(1), 2: { name: 'droppedAttributesCount', type: 'varint' } };

// opentelemetry/proto/trace/v1/trace.proto
const Event: Schema = { 1: { name: 'timeUnixNano', type: 'fixed64' }, 2: { name: 'name', type: 'string' }, ...attributes(3), 4: { name: 'droppedAttributesCount', type: 'varint' } };
const Link: Schema = {
  1: { name: 'traceId', type: 'hex' }, 2: { name: 'spanId', type: 'hex' }, 3: { name: 'traceState', type: 'string' }, ...attributes(4),
  5: { name: 'droppedAttributesCount', type: 'varint' }, 6: { name: 'flags', type: 'fixed32' },
};
const Status: Schema = { 2: { name: 'message', type: 'string' }, 3: { name: 'code', type: 'varint' } };
const Span: Schema = {
  1: { name: 'traceId', type: 'hex' }, 2: { name: 'spanId', type: 'hex' }, 3: { name: 'traceState', type: 'string' },
  4: { name: 'parentSpanId', type: 'hex' }, 16: { name: 'flags', type: 'fixed32' }, 5: { name: 'name', type: 'string' },
  6: { name: 'kind', type: 'varint' }, 7: { name: 'startTimeUnixNano', type: 'fixed64' }, 8: { name: 'endTimeUnixNano', type: 'fixed64' },
  ...attributes(9), 10: { name: 'droppedAttributesCount', type: 'varint' }, 11: { name: 'events', type: Event, repeated: true },
  12: { name: 'droppedEventsCount', type: 'varint' }, 13: { name: 'links', type: Link, repeated: true },
  14: { name: 'droppedLinksCount', type: 'varint' }, 15: { name: 'status', type: Status },
};
const ScopeSpans: Schema = { 1: { name: 'scope', type: Scope }, 2: { name: 'spans', type: Span, repeated: true }, 3: { name: 'schemaUrl', type: 'string' } };
const ResourceSpans: Schema = { 1: { name: 'resource', type: Resource }, 2: { name: 'scopeSpans', type: ScopeSpans, repeated: true }, 3: { name: 'schemaUrl', type: 'string' } };
const TracesRequest: Schema = { 1: { name: 'resourceSpans', type: ResourceSpans, repeated: true } };

// opentelemetry/proto/metrics/v1/metrics.proto
const Exemplar: Schema = { 2: { name: 'timeUnixNano', type: 'fixed64' }, 3: { name: 'asDouble', type: 'double' }, 6: { name: 'asInt', type: 'sfixed64' } };
const NumberDataPoint: Schema = {
  ...attributes(7), 2: { name: 'startTimeUnixNano', type: 'fixed64' }, 3: { name: 'timeUnixNano', type: 'fixed64' },
  4: { name: 'asDouble', type: 'double' }, 6: { name: 'asInt', type: 'sfixed64' }, 5: { name: 'exemplars', type: Exemplar, repeated: true },
  8: { name: 'flags', type: 'varint' },
};
const HistogramDataPoint: Schema = {
  ...attributes(9), 2: { name: 'startTimeUnixNano', type: 'fixed64' }, 3: { name: 'timeUnixNano', type: 'fixed64' },
  4: { name: 'count', type: 'fixed64' }, 5: { name: 'sum', type: 'double' }, 6: { name: 'bucketCounts', type: 'packedFixed64' },
  7: { name: 'explicitBounds', type: 'packedDouble' }, 8: { name: 'exemplars', type: Exemplar, repeated: true },
  10: { name: 'flags', type: 'varint' }, 11: { name: 'min', type: 'double' }, 12: { name: 'max', type: 'double' },
};
const Gauge: Schema = { 1: { name: 'dataPoints', type: NumberDataPoint, repeated: true } };
const Sum: Schema = { 1: { name: 'dataPoints', type: NumberDataPoint, repeated: true }, 2: { name: 'aggregationTemporality', type: 'varint' }, 3: { name: 'isMonotonic', type: 'bool' } };
const Histogram: Schema = { 1: { name: 'dataPoints', type: HistogramDataPoint, repeated: true }, 2: { name: 'aggregationTemporality', type: 'varint' } };
const Metric: Schema = {
  1: { name: 'name', type: 'string' }, 2: { name: 'description', type: 'string' }, 3: { name: 'unit', type: 'string' },
  5: { name: 'gauge', type: Gauge }, 7: { name: 'sum', type: Sum }, 9: { name: 'histogram', type: Histogram }, ...attributes(12),
};
const ScopeMetrics: Schema = { 1: { name: 'scope', type: Scope }, 2: { name: 'metrics', type: Metric, repeated: true }, 3: { name: 'schemaUrl', type: 'string' } };
const ResourceMetrics: Schema = { 1: { name: 'resource', type: Resource }, 2: { name: 'scopeMetrics', type: ScopeMetrics, repeated: true }, 3: { name: 'schemaUrl', type: 'string' } };
const MetricsRequest: Schema = { 1: { name: 'resourceMetrics', type: ResourceMetrics, repeated: true } };

/** A cursor over protobuf bytes. Every read checks its bounds: a short body throws. */
class Reader {
  readonly buf: Uint8Array;
  readonly end: number;
  pos: number;
  constructor(buf: Uint8Array, start: number, end: number) {
    this.buf = buf;
    this.pos = start;
    this.end = end;
  }

  varint(): bigint {
    let v = 0n;
    for (let shift = 0n; ; shift += 7n) {
      if (this.pos >= this.end) throw new Error('protobuf: truncated varint');
      if (shift > 63n) throw new Error('protobuf: varint longer than 10 bytes');
      const b = this.buf[this.pos++]!;
      v |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return v;
    }
  }

  bytes(n: number): Uint8Array {
    if (n < 0 || this.pos + n > this.end) throw new Error('protobuf: field runs past the end of its message');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  view(n: number): DataView {
    const b = this.bytes(n);
    return new DataView(b.buffer, b.byteOffset, n);
  }
}

function scalar(type: Scalar, wire: number, r: Reader): unknown {
  const want = (w: number): void => { if (wire !== w) throw new Error(`protobuf: a ${type} field with wire type ${wire}`); };
  switch (type) {
    case 'string': want(2); return new TextDecoder('utf-8', { fatal: true }).decode(r.bytes(Number(r.varint())));
    case 'hex': want(2); return Buffer.from(r.bytes(Number(r.varint()))).toString('hex');
    case 'bytes': want(2); return Buffer.from(r.bytes(Number(r.varint()))).toString('base64');
    case 'fixed32': want(5); return r.view(4).getUint32(0, true);
    case 'fixed64': want(1); return r.view(8).getBigUint64(0, true).toString();
    case 'sfixed64': want(1); return r.view(8).getBigInt64(0, true).toString();
    case 'double': want(1); return r.view(8).getFloat64(0, true);
    case 'varint': want(0); return Number(r.varint());
    case 'int64': want(0); return BigInt.asIntN(64, r.varint()).toString();
    case 'bool': want(0); return r.varint() !== 0n;
    case 'packedFixed64': case 'packedDouble': {
      // Readers must take a repeated scalar packed or not: one element per field when not.
      if (wire === 1) return [type === 'packedDouble' ? r.view(8).getFloat64(0, true) : r.view(8).getBigUint64(0, true).toString()];
      want(2);
      const v = r.view(Number(r.varint()));
      if (v.byteLength % 8 !== 0) throw new Error('protobuf: a packed 64-bit field whose length is not a multiple of 8');
      return Array.from({ length: v.byteLength / 8 }, (_, i) => type === 'packedDouble' ? v.getFloat64(i * 8, true) : v.getBigUint64(i * 8, true).toString());
    }
  }
}

function message(schema: Schema, r: Reader): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  while (r.pos < r.end) {
    const key = Number(r.varint());
    const num = key >>> 3;
    const wire = key & 7;
    const field = schema[num];
    if (!field) { // unknown field: skip it, as protobuf readers must
      if (wire === 0) r.varint();
      else if (wire === 1) r.bytes(8);
      else if (wire === 2) r.bytes(Number(r.varint()));
      else if (wire === 5) r.bytes(4);
      else throw new Error(`protobuf: wire type ${wire} (field ${num}) is not one OTLP uses`);
      continue;
    }
    let value: unknown;
    if (field.type === 'packedFixed64' || field.type === 'packedDouble') {
      out[field.name] = [...(out[field.name] as unknown[] | undefined ?? []), ...(scalar(field.type, wire, r) as unknown[])];
      continue;
    }
    if (typeof field.type === 'string') value = scalar(field.type, wire, r);
    else {
      if (wire !== 2) throw new Error(`protobuf: message field ${field.name} with wire type ${wire}`);
      const len = Number(r.varint());
      const sub = new Reader(r.buf, r.pos, r.pos + len);
      if (sub.end > r.end) throw new Error(`protobuf: ${field.name} runs past the end of its message`);
      value = message(field.type, sub);
      r.pos = sub.end;
    }
    if (field.repeated) ((out[field.name] ??= []) as unknown[]).push(value);
    else out[field.name] = value;
  }
  return out;
}

/** An ExportTraceServiceRequest, as its JSON encoding would have it. */
export function decodeTracesRequest(body: Uint8Array): Record<string, unknown> {
  return message(TracesRequest, new Reader(body, 0, body.length));
}

/** An ExportMetricsServiceRequest, as its JSON encoding would have it. */
export function decodeMetricsRequest(body: Uint8Array): Record<string, unknown> {
  return message(MetricsRequest, new Reader(body, 0, body.length));
}
