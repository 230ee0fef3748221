import { PassThrough } from 'node:stream';
import type { Context } from 'koa';
import type { ExecutionReader } from '../read/executions.js';
import type { StorageEngine } from '../store/engine.js';
import type { LiveStreams } from './live-streams.js';
import { single } from './params.js';
import { CONNECTED, resetEvent, resumePointOf, type ResumePoint } from './stream-events.js';

/** Changes replayed to a client that resumes; one that missed more is told to read everything again. */
export const REPLAY_LIMIT = 10_000;
export const NOT_OF_THIS_HISTORY = 'this id is not of this history';
/** Seconds a client refused at the cap is asked to wait. */
const RETRY_AFTER_SECONDS = '10';

/**
 * `GET /api/stream?flowId=`: Server-Sent Events. Each `execution` event carries a list item and,
 * as its id, the history and sequence number of its change, so a client that reconnects with
 * `Last-Event-ID` is first sent every record that changed since. When that cannot be done — it
 * missed more than REPLAY_LIMIT changes, or its id is not of this history (a database replaced
 * or reset, or a plain number from before ids named their history) — a `reset` event says so:
 * the client reads everything again, and follows on. Fan-out, the slow-reader rule and the cap
 * are {@link LiveStreams}'.
 */
export function streamRoute(streams: LiveStreams, engine: StorageEngine, reader: ExecutionReader) {
  return async (ctx: Context) => {
    const flowId = single(ctx, 'flowId');
    const resumeFrom = resumePoint(ctx);
    const history = await engine.historyId();
    if (!streams.admit()) {
      ctx.status = 503;
      ctx.set('Retry-After', RETRY_AFTER_SECONDS);
      ctx.body = {
        error: 'unavailable',
        message: `the collector already serves ${streams.maxStreams} live streams, its limit: retry in a few seconds, or close Usage tabs no one watches`,
      };
      return;
    }
    ctx.req.socket.setTimeout(0);
    ctx.req.socket.setNoDelay(true);
    ctx.set({ 'Cache-Control': 'no-cache, no-transform', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    ctx.type = 'text/event-stream';
    ctx.status = 200;
    const stream = new PassThrough();
    ctx.body = stream;
    // Added before reading where to start, so nothing committed in between is missed.
    const client = streams.add(stream, ctx.res, flowId, history);
    stream.write(CONNECTED);
    const last = await engine.lastSeq();
    if (resumeFrom === undefined) return streams.follow(client, last);
    const ours = resumeFrom.history === history && resumeFrom.seq <= last;
    const replay = ours ? await engine.changesSince(resumeFrom.seq, flowId, REPLAY_LIMIT) : undefined;
    if (replay && replay.length < REPLAY_LIMIT) {
      // Written as the client takes it, after this handler returns and Koa starts sending.
      void streams.catchUp(client, resumeFrom.seq, replay.map(({ seq, execution }) => ({ seq, item: reader.item(execution) })));
      return;
    }
    // Unless it was dropped meanwhile, with a reset of its own.
    if (client.done) return;
    stream.write(resetEvent(history, last, replay ? `more than ${REPLAY_LIMIT} changes were missed` : NOT_OF_THIS_HISTORY));
    streams.follow(client, last);
  };
}

function resumePoint(ctx: Context): ResumePoint | undefined {
  const raw = ctx.get('last-event-id') || single(ctx, 'lastEventId');
  if (!raw) return undefined;
  return resumePointOf(raw) ?? ctx.throw(400, 'Last-Event-ID must be the id of an event this stream sent');
}
