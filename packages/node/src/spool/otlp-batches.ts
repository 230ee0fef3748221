import { createHash } from 'node:crypto';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPExporterError, type IOtlpExportDelegate } from '@opentelemetry/otlp-exporter-base';
import { convertLegacyHttpOptions, createOtlpHttpExportDelegate } from '@opentelemetry/otlp-exporter-base/node-http';
import { JsonTraceSerializer, ProtobufTraceSerializer, type IExportTraceServiceResponse, type ISerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { buildFor, type Destination } from '../exporters.js';
import type { SegmentEncoding } from './segment-format.js';
import type { SendBatch, SendOutcome } from './sender.js';

/**
 * The spool stores each batch as the OTLP request its destination receives, serialized once by
 * the SDK's own serializer, and sends those bytes with the SDK's own OTLP/HTTP transport (its
 * headers, compression, certificates, `OTEL_EXPORTER_OTLP_*` handling, and retries within the
 * exporter's timeout). So a resent batch is byte for byte what the live exporter would have sent,
 * and survives a restart whole: nothing is rebuilt from a JSON copy of the spans.
 */

interface Batch {
  payload: Uint8Array;
  spans: number;
}

const SERIALIZERS = { protobuf: ProtobufTraceSerializer, json: JsonTraceSerializer };
const CONTENT_TYPES = { protobuf: 'application/x-protobuf', json: 'application/json' };
// Refusals that repeat whatever the timing; other failures (401/403 until the token is fixed,
// 5xx, 408, 429, the network) leave the batch spooled to try again.
const PERMANENT = (status: number) => status >= 400 && status < 500 && ![401, 403, 408, 429].includes(status);

export function encodingOf(destination: Destination): SegmentEncoding {
  return destination.protocol === 'http/json' ? 'json' : 'protobuf';
}

/** The OTLP request of `spans`, as the destination's exporter would have sent it. */
export function serializeSpans(encoding: SegmentEncoding, spans: ReadableSpan[]): Uint8Array {
  const bytes = SERIALIZERS[encoding].serializeRequest(spans);
  if (!bytes) throw new Error('the OTLP serializer returned nothing');
  return bytes;
}

/** The spool folder's name for a destination: `collector`, or the endpoint's host, port and a hash of its URL. */
export function destinationFolder(destination: Destination): string {
  if (destination.collector) return 'collector';
  const url = buildFor(destination, (config) => convertLegacyHttpOptions(config, 'TRACES', 'v1/traces', {}).url);
  const parsed = new URL(url);
  const hash = createHash('sha256').update(url).digest('hex').slice(0, 8);
  return `otlp-${`${parsed.hostname}-${parsed.port || parsed.protocol.replace(':', '')}`.replace(/[^\w.-]+/g, '_')}-${hash}`;
}

/**
 * Sends spooled batches to `destination`. Segments carry their encoding, so a batch spooled by an
 * earlier run with the other protocol still goes out with its own content type.
 */
export function otlpBatchSender(destination: Destination): SendBatch {
  const delegates = new Map<SegmentEncoding, IOtlpExportDelegate<Batch>>();
  const delegate = (encoding: SegmentEncoding) => {
    let built = delegates.get(encoding);
    if (!built) {
      const serializer: ISerializer<Batch, IExportTraceServiceResponse> = {
        serializeRequest: (batch) => batch.payload,
        deserializeResponse: (data) => SERIALIZERS[encoding].deserializeResponse(data),
      };
      built = buildFor(destination, (config) =>
        createOtlpHttpExportDelegate(
          convertLegacyHttpOptions(config, 'TRACES', 'v1/traces', { 'Content-Type': CONTENT_TYPES[encoding] }),
          serializer,
          'flowtrace_spool_sender',
          { name: 'span', countItems: (batch: Batch) => batch.spans },
          undefined,
        ),
      );
      delegates.set(encoding, built);
    }
    return built;
  };
  // No shutdown needed: the SDK's HTTP transport holds nothing that outlives a request.
  return (payload, spans, encoding) => new Promise((resolve) => delegate(encoding).export({ payload, spans }, (result) => resolve(outcome(result))));
}

function outcome(result: ExportResult): SendOutcome {
  if (result.code === ExportResultCode.SUCCESS) return { kind: 'sent' };
  const status = result.error instanceof OTLPExporterError ? result.error.code : undefined;
  if (status !== undefined && PERMANENT(status)) return { kind: 'rejected', error: result.error };
  return { kind: 'retry', error: result.error };
}
