import type { Context } from 'koa';
import { readBody } from '../http/body.js';
import type { Encoding } from '../otlp/decoder.js';
import { ExportTraceServiceResponse, RpcStatus } from '../otlp/schema.js';
import { OtlpDecodeError, type DecodedRequest } from '../otlp/span.js';

/** Counts since start, served by /healthz. */
export interface IngestStats {
  /** Requests stored and acknowledged. */
  accepted: number;
  spans: number;
  /** Requests answered 503 because too many were in flight. */
  busy: number;
  /** Requests refused as unreadable (400), too large (413) or of another type (415). */
  refused: number;
  /** Requests the store could not take (503). */
  failed: number;
  /** Transactions that stored them: concurrent requests share one (group commit). */
  commits: number;
}

export function emptyStats(): IngestStats {
  return { accepted: 0, spans: 0, busy: 0, refused: 0, failed: 0, commits: 0 };
}

export interface IngestOptions {
  stats: IngestStats;
  maxBodyBytes: number;
  /** Requests being read or stored at once; past it the collector answers 503 with Retry-After. */
  maxConcurrent: number;
  /** Decodes a body (on a worker thread when there are some). */
  decode(encoding: Encoding, body: Buffer): Promise<DecodedRequest>;
  /** Stores the spans durably; rejects when the store cannot take them. */
  store(decoded: DecodedRequest): Promise<void>;
}


const CONTENT_TYPES: Record<string, Encoding> = {
  'application/json': 'json',
  'application/x-protobuf': 'protobuf',
  'application/protobuf': 'protobuf',
};

/** gRPC status codes of the OTLP error body (google.rpc.Status). */
const GRPC_CODE: Record<number, number> = { 400: 3, 401: 16, 413: 8, 415: 3, 429: 8, 500: 13, 503: 14 };
const RETRY_AFTER_SECONDS = '1';

/**
 * `POST /v1/traces`: OTLP/HTTP in JSON or protobuf, optionally gzip-compressed. Answers 200
 * only after the spans are committed; errors are answered in the request's encoding as a
 * google.rpc.Status, as the OTLP/HTTP specification asks.
 */
export function ingestRoute(options: IngestOptions) {
  let inFlight = 0;
  return async (ctx: Context) => {
    const encoding = CONTENT_TYPES[(ctx.get('content-type').split(';')[0] ?? '').trim().toLowerCase()];
    const { stats } = options;
    if (!encoding) {
      stats.refused++;
      return fail(ctx, 'json', 415, 'Content-Type must be application/x-protobuf or application/json');
    }
    if (inFlight >= options.maxConcurrent) {
      stats.busy++;
      ctx.set('Retry-After', RETRY_AFTER_SECONDS);
      return fail(ctx, encoding, 503, 'the collector is busy writing: retry later');
    }
    inFlight++;
    try {
      let decoded: DecodedRequest;
      try {
        const body = await readBody(ctx, options.maxBodyBytes);
        decoded = await options.decode(encoding, body);
      } catch (error) {
        stats.refused++;
        const status = (error as { status?: number }).status;
        if (status) return fail(ctx, encoding, status, (error as Error).message);
        // Retrying a body that cannot be read would fail again: never answer it with a 5xx.
        if (!(error instanceof OtlpDecodeError)) ctx.app.emit('error', error, ctx);
        return fail(ctx, encoding, 400, error instanceof OtlpDecodeError ? error.message : 'the body could not be decoded as OTLP');
      }
      try {
        await options.store(decoded);
      } catch (error) {
        // The store refused (disk full, locked): nothing was committed, the exporter may retry.
        stats.failed++;
        ctx.app.emit('error', error, ctx);
        ctx.set('Retry-After', RETRY_AFTER_SECONDS);
        return fail(ctx, encoding, 503, 'the collector could not store the spans: retry later');
      }
      stats.accepted++;
      stats.spans += decoded.spans.length;
      respond(ctx, encoding, decoded);
    } finally {
      inFlight--;
    }
  };
}

function respond(ctx: Context, encoding: Encoding, decoded: DecodedRequest): void {
  const partialSuccess =
    decoded.rejected > 0
      ? {
          rejectedSpans: decoded.rejected,
          errorMessage: `${decoded.rejected} span(s) rejected: ${decoded.reasons.join('; ')}`,
        }
      : undefined;
  ctx.status = 200;
  if (encoding === 'json') {
    ctx.type = 'application/json';
    ctx.body = partialSuccess ? { partialSuccess } : {};
  } else {
    ctx.type = 'application/x-protobuf';
    ctx.body = Buffer.from(ExportTraceServiceResponse.encode(partialSuccess ? { partialSuccess } : {}).finish());
  }
}

function fail(ctx: Context, encoding: Encoding, status: number, message: string): void {
  ctx.status = status;
  const code = GRPC_CODE[status] ?? 2;
  if (encoding === 'json') {
    ctx.type = 'application/json';
    ctx.body = { code, message };
  } else {
    ctx.type = 'application/x-protobuf';
    ctx.body = Buffer.from(RpcStatus.encode({ code, message }).finish());
  }
  if (status === 413 || status === 400) ctx.set('Connection', 'close');
}
