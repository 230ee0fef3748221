import type { Context } from 'koa';
import { BodyRefused, readBody, type BodyLimits } from '../http/body.js';
import { FairShare } from '../ingest/fair-share.js';
import { IngestSlots } from '../ingest/slots.js';
import type { Received } from '../forward/payload.js';
import type { Encoding } from '../otlp/decoder.js';
import { ExportTraceServiceResponse, RpcStatus } from '../otlp/schema.js';
import { OtlpDecodeError, type DecodedRequest } from '../otlp/span.js';

/** Counts since start, served by /healthz. */
export interface IngestStats {
  /** Requests stored and acknowledged. */
  accepted: number;
  spans: number;
  /** Requests answered 503 because the collector was full: every slot storing, or no room to read the body. */
  busy: number;
  /** Requests answered 429 because their client already had its share of the requests in progress. */
  throttled: number;
  /** Requests answered 408 because their body stalled or took too long to arrive. */
  timedOut: number;
  /** Requests refused as unreadable (400), too large (413) or of another type (415). */
  refused: number;
  /** Requests the store could not take (503). */
  failed: number;
  /** Transactions that stored them: concurrent requests share one (group commit). */
  commits: number;
  /** Requests whose body is arriving, now (not a count since start): slow senders show here. */
  reading: number;
  /** Requests whose body has arrived, waiting for a slot, now. */
  queued: number;
  /** Spans sent for two executions (see ingest/ownership.ts). */
  conflicts: number;
}

export function emptyStats(): IngestStats {
  return { accepted: 0, spans: 0, busy: 0, throttled: 0, timedOut: 0, refused: 0, failed: 0, commits: 0, reading: 0, queued: 0, conflicts: 0 };
}

export interface IngestOptions {
  stats: IngestStats;
  /** How large a body may be, how long it may take, and how much all bodies being read may hold. */
  body: BodyLimits;
  /**
   * Requests decoded and stored at once (slots); a body takes one only once it has arrived whole.
   * Each client's share of the requests in progress is counted against it too (429 past the share).
   */
  maxConcurrent: number;
  /** Time a body that has arrived may wait for a slot; past it, 503 with Retry-After. */
  maxWaitMs: number;
  /** Decodes a body (on a worker thread when there are some). */
  decode(encoding: Encoding, body: Buffer): Promise<DecodedRequest>;
  /** Stores the spans durably (and what `received` forwards); rejects when the store cannot take them. */
  store(decoded: DecodedRequest, received: Received): Promise<void>;
}


const CONTENT_TYPES: Record<string, Encoding> = {
  'application/json': 'json',
  'application/x-protobuf': 'protobuf',
  'application/protobuf': 'protobuf',
};

/** gRPC status codes of the OTLP error body (google.rpc.Status). */
const GRPC_CODE: Record<number, number> = { 400: 3, 401: 16, 408: 4, 413: 8, 415: 3, 429: 8, 500: 13, 503: 14 };
const RETRY_AFTER_SECONDS = '1';

/**
 * `POST /v1/traces`: OTLP/HTTP in JSON or protobuf, optionally gzip-compressed. Answers 200
 * only after the spans are committed; errors are answered in the request's encoding as a
 * google.rpc.Status, as the OTLP/HTTP specification asks.
 */
export function ingestRoute(options: IngestOptions) {
  const slots = new IngestSlots(options.maxConcurrent, options.maxWaitMs);
  const share = new FairShare(options.maxConcurrent);
  return async (ctx: Context) => {
    const encoding = CONTENT_TYPES[(ctx.get('content-type').split(';')[0] ?? '').trim().toLowerCase()];
    const { stats } = options;
    if (!encoding) {
      stats.refused++;
      return fail(ctx, 'json', 415, 'Content-Type must be application/x-protobuf or application/json');
    }
    // The socket's address, or with trustProxy the address the proxy saw: behind a proxy that
    // is not trusted, all its exporters are one client.
    const client = ctx.ip;
    if (!share.enter(client)) {
      stats.throttled++;
      return fail(ctx, encoding, 429, 'this client already has its share of the requests in progress: retry later');
    }
    try {
      let body: Buffer;
      stats.reading++;
      try {
        body = await readBody(ctx, options.body);
      } catch (error) {
        if (!(error instanceof BodyRefused)) throw error;
        if (error.status === 408) stats.timedOut++;
        else if (error.status === 503) stats.busy++;
        else stats.refused++;
        return fail(ctx, encoding, error.status, error.message);
      } finally {
        stats.reading--;
      }
      if (!slots.tryTake() && !(await waitForSlot(slots, body, options))) {
        stats.busy++;
        return fail(ctx, encoding, 503, 'the collector is busy writing: retry later');
      }
      try {
        await decodeAndStore(ctx, encoding, body, options);
      } finally {
        slots.give();
      }
    } finally {
      share.leave(client);
    }
  };
}

/** Waits for a slot with the body's bytes still counted as read, so waiting bodies hold no more memory than reading ones. */
async function waitForSlot(slots: IngestSlots, body: Buffer, options: IngestOptions): Promise<boolean> {
  const { reading } = options.body;
  if (!reading.take(body.length)) return false;
  options.stats.queued++;
  try {
    return await slots.wait();
  } finally {
    options.stats.queued--;
    reading.give(body.length);
  }
}

async function decodeAndStore(ctx: Context, encoding: Encoding, body: Buffer, options: IngestOptions): Promise<void> {
  const { stats } = options;
  let decoded: DecodedRequest;
  try {
    decoded = await options.decode(encoding, body);
  } catch (error) {
    stats.refused++;
    // Retrying a body that cannot be read would fail again: never answer it with a 5xx.
    if (!(error instanceof OtlpDecodeError)) ctx.app.emit('error', error, ctx);
    return fail(ctx, encoding, 400, error instanceof OtlpDecodeError ? error.message : 'the body could not be decoded as OTLP');
  }
  try {
    await options.store(decoded, { encoding, contentType: ctx.get('content-type'), body });
  } catch (error) {
    // The store refused (disk full, locked): nothing was committed, the exporter may retry.
    stats.failed++;
    ctx.app.emit('error', error, ctx);
    return fail(ctx, encoding, 503, 'the collector could not store the spans: retry later');
  }
  stats.accepted++;
  stats.spans += decoded.spans.length;
  respond(ctx, encoding, decoded);
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
  if (status === 429 || status === 503) ctx.set('Retry-After', RETRY_AFTER_SECONDS);
  // The rest of such a request is not worth reading (or never comes): no next one on this connection.
  if (status === 400 || status === 408 || status === 413) ctx.set('Connection', 'close');
}
