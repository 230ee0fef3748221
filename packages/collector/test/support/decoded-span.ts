import type { Span } from '../../src/otlp/span.js';

/** A span as the decoders hand it to ingest: ended, status OK, scope `flowtrace`. */
export function decodedSpan(fields: {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  serviceName: string;
  /** Start, ms since the epoch (whole ms). */
  startMs: number;
  durationMs: number;
  attributes: Span['attributes'];
}): Span {
  const start = BigInt(fields.startMs) * 1_000_000n;
  const span: Span = {
    traceId: fields.traceId,
    spanId: fields.spanId,
    name: fields.name,
    kind: 1,
    startTimeUnixNano: String(start),
    endTimeUnixNano: String(start + BigInt(Math.round(fields.durationMs * 1e6))),
    attributes: fields.attributes,
    events: [],
    links: [],
    status: { code: 1 },
    resource: { 'service.name': fields.serviceName },
    scope: { name: 'flowtrace' },
  };
  if (fields.parentSpanId) span.parentSpanId = fields.parentSpanId;
  return span;
}
