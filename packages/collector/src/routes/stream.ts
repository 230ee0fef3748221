import { PassThrough } from 'node:stream';
import type { EventEmitter } from 'node:events';
import type { Context } from 'koa';
import { CHANGE_EVENT } from '../read/change-feed.js';
import type { ExecutionReader } from '../read/executions.js';
import type { ExecutionChange, StorageEngine } from '../store/engine.js';
import { single } from './params.js';
const KEEP_ALIVE_MS = 15_000;
/** Changes replayed to a client that resumes; one that missed more is told to read everything again. */
export const REPLAY_LIMIT = 10_000;

/**
 * `GET /api/stream?flowId=`: Server-Sent Events. Each `execution` event carries a list item and
 * the sequence number of its change as the event id, so a client that reconnects with
 * `Last-Event-ID` is first sent every record that changed since. When that cannot be done — it
 * missed more than REPLAY_LIMIT changes, or its id is not of this history (a database replaced
 * or reset) — a `reset` event says so: the client reads everything again, and follows on.
 */
export function streamRoute(engine: StorageEngine, reader: ExecutionReader, changes: EventEmitter) {
  return async (ctx: Context) => {
    const flowId = single(ctx, 'flowId');
    const resumeFrom = lastEventId(ctx);
    ctx.req.socket.setTimeout(0);
    ctx.req.socket.setNoDelay(true);
    ctx.set({ 'Cache-Control': 'no-cache, no-transform', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    ctx.type = 'text/event-stream';
    ctx.status = 200;
    const stream = new PassThrough();
    ctx.body = stream;

    let sent = resumeFrom ?? 0;
    const send = (change: ExecutionChange) => {
      if (change.seq <= sent || (flowId !== undefined && change.item.flowId !== flowId)) return;
      sent = change.seq;
      stream.write(`id: ${change.seq}\nevent: execution\ndata: ${JSON.stringify(change.item)}\n\n`);
    };
    // Listen before reading where to start, so nothing committed in between is missed; changes
    // that arrive meanwhile wait, and `sent` drops repeats.
    let waiting: ExecutionChange[] | undefined = [];
    const onChange = (change: ExecutionChange) => (waiting ? waiting.push(change) : send(change));
    changes.on(CHANGE_EVENT, onChange);
    stream.write(`retry: 2000\n: connected\n\n`);
    const last = await engine.lastSeq();
    if (resumeFrom === undefined) {
      sent = last;
    } else {
      const replay = resumeFrom <= last ? await engine.changesSince(resumeFrom, flowId, REPLAY_LIMIT) : undefined;
      if (replay && replay.length < REPLAY_LIMIT) {
        for (const { seq, execution } of replay) send({ seq, item: reader.item(execution) });
      } else {
        sent = last;
        const reason = replay ? `more than ${REPLAY_LIMIT} changes were missed` : 'this id is not of this history';
        stream.write(`id: ${last}\nevent: reset\ndata: ${JSON.stringify({ reason })}\n\n`);
      }
    }
    for (const change of waiting) send(change);
    waiting = undefined;
    const keepAlive = setInterval(() => stream.write(': keep-alive\n\n'), KEEP_ALIVE_MS);
    const stop = () => {
      clearInterval(keepAlive);
      changes.off(CHANGE_EVENT, onChange);
      stream.end();
    };
    ctx.req.on('close', stop);
    stream.on('error', stop);
  };
}

function lastEventId(ctx: Context): number | undefined {
  const raw = ctx.get('last-event-id') || single(ctx, 'lastEventId');
  if (!raw) return undefined;
  if (!/^\d+$/.test(raw)) ctx.throw(400, 'Last-Event-ID must be the id of an event this stream sent');
  return Number(raw);
}
