import { Type, type Static } from '@sinclair/typebox';
import { Count } from './scalars.js';

/** GET /healthz: liveness, what ingest did since start, and how responsive the event loop has been. */
export const Health = Type.Object(
  {
    status: Type.Literal('ok'),
    ingest: Type.Object({
      accepted: Count,
      spans: Count,
      busy: Count,
      throttled: Type.Integer({ minimum: 0, description: 'Requests answered 429: their client already had its share of the requests in progress' }),
      timedOut: Type.Integer({ minimum: 0, description: 'Requests answered 408: their body stalled or took too long to arrive' }),
      refused: Count,
      failed: Count,
      commits: Type.Integer({ minimum: 0, description: 'Transactions that stored them: concurrent requests share one' }),
      reading: Type.Integer({ minimum: 0, description: 'Requests whose body is arriving, now' }),
      readingBytes: Type.Integer({ minimum: 0, description: 'Bytes those bodies hold, now (after inflation), with the bodies queued for a slot' }),
      queued: Type.Integer({ minimum: 0, description: 'Requests whose body has arrived, waiting for a decoding/storing slot, now' }),
      waiting: Type.Integer({ minimum: 0, description: 'Spans received and waiting for the next transaction, now' }),
      conflicts: Type.Integer({
        minimum: 0,
        description: 'Spans sent again under another execution than a stored copy: each stays with one execution (the smaller id) and is logged',
      }),
    }),
    reconcile: Type.Object(
      {
        passes: Type.Integer({ minimum: 0, description: 'Timeout passes this collector completed' }),
        decided: Type.Integer({ minimum: 0, description: 'Executions those passes decided (timed out); each is decided by one collector only' }),
        failed: Type.Integer({ minimum: 0, description: 'Passes that could not run (database unreachable)' }),
      },
      { description: 'The timeout rule, run every few seconds' },
    ),
    streams: Type.Object(
      {
        open: Type.Integer({ minimum: 0, description: 'Live streams connected now (one dropped counts until its connection closes)' }),
        dropped: Type.Integer({ minimum: 0, description: 'Streams closed because their client fell behind (sent `reset` first)' }),
        refused: Type.Integer({ minimum: 0, description: 'Streams refused with 503 because as many as the limit were open' }),
        queuedBytes: Type.Integer({ minimum: 0, description: 'Bytes written for stream clients and not yet sent, now' }),
      },
      { description: 'GET /api/stream since start' },
    ),
    connections: Type.Object(
      { refused: Type.Integer({ minimum: 0, description: 'Connections answered 503 and closed because as many as the limit were open' }) },
      { description: 'Connections since start' },
    ),
    forward: Type.Array(
      Type.Object({
        destination: Type.String({ description: 'The OTLP traces URL, without credentials, query or fragment' }),
        queued: Type.Integer({ minimum: 0, description: 'Payloads waiting for this destination, now (all collectors sharing the database)' }),
        queuedBytes: Type.Integer({ minimum: 0, description: 'Bytes those payloads hold, now' }),
        sent: Type.Integer({ minimum: 0, description: 'Payloads the destination took (2xx), since start' }),
        refused: Type.Integer({ minimum: 0, description: 'Payloads the destination refused for good (4xx but 429) and that were dropped, since start' }),
        dropped: Type.Integer({ minimum: 0, description: 'Oldest payloads dropped because the outbox was over its byte cap, since start' }),
        lastError: Type.Union([Type.String(), Type.Null()], { description: 'The last failure or refusal (status or network error; never a header)' }),
      }),
      { description: 'Forwarding (--forward), per destination' },
    ),
    eventLoop: Type.Object(
      { maxMs: Type.Number({ minimum: 0 }), p99Ms: Type.Number({ minimum: 0 }) },
      { description: "The collector's event-loop delay since it started (perf_hooks.monitorEventLoopDelay)" },
    ),
  },
  { title: 'Health' },
);
export type Health = Static<typeof Health>;
