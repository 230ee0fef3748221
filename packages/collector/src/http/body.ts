import type { IncomingMessage } from 'node:http';
import { createGunzip } from 'node:zlib';
import type { Context } from 'koa';
import type { ByteBudget } from './byte-budget.js';

export interface BodyLimits {
  /** Largest body, counted after gzip inflation. */
  maxBytes: number;
  /** Time the body may go without a byte arriving. */
  idleTimeoutMs: number;
  /** Time the whole body may take to arrive, from when reading starts. */
  timeoutMs: number;
  /** Bytes that all bodies being read may hold together. */
  reading: ByteBudget;
}

/** Why a body was not read, with the status to answer. Its message is meant for the client. */
export class BodyRefused extends Error {
  readonly expose = true;
  constructor(
    readonly status: 400 | 408 | 413 | 415 | 503,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Reads a request body, inflating gzip on the fly and counting bytes **after** inflation, so a
 * small gzip bomb is refused (413) as soon as it passes the limit instead of being inflated whole.
 * A body refused part-way (too large, no room to hold it, not gzip) is read to its end and
 * dropped before the refusal is answered, so a client still sending gets the answer rather than a
 * reset; a body that stalls or takes too long is refused with 408 at once.
 */
export async function readBody(ctx: Context, limits: BodyLimits): Promise<Buffer> {
  const encoding = (ctx.get('content-encoding') || 'identity').trim().toLowerCase();
  if (encoding !== 'identity' && encoding !== 'gzip' && encoding !== 'x-gzip') {
    throw new BodyRefused(415, `Content-Encoding "${encoding}" is not supported: send the body as is or gzip-compressed`);
  }
  const declared = Number(ctx.get('content-length'));
  if (Number.isFinite(declared) && declared > limits.maxBytes) throw new BodyRefused(413, tooLarge(limits.maxBytes));
  return receive(ctx.req, encoding !== 'identity', limits);
}

function receive(req: IncomingMessage, gzip: boolean, limits: BodyLimits): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const inflate = gzip ? createGunzip() : undefined;
    const chunks: Buffer[] = [];
    let held = 0;
    let refusal: BodyRefused | undefined;
    let ended = false;
    let settled = false;

    const release = () => {
      limits.reading.give(held);
      held = 0;
      chunks.length = 0;
    };
    const settle = (error?: BodyRefused) => {
      if (settled) return;
      settled = true;
      clearTimeout(idle);
      clearTimeout(total);
      req.off('data', onData).off('end', onEnd).off('error', onGone).off('close', onGone);
      inflate?.destroy();
      if (error) {
        release();
        reject(error);
      } else {
        const body = Buffer.concat(chunks, held);
        release();
        resolve(body);
      }
    };
    const refuse = (error: BodyRefused) => {
      refusal ??= error;
      release();
      inflate?.destroy();
      if (ended) settle(refusal);
    };
    const keep = (chunk: Buffer) => {
      if (refusal) return;
      if (held + chunk.length > limits.maxBytes) return refuse(new BodyRefused(413, tooLarge(limits.maxBytes)));
      if (!limits.reading.take(chunk.length)) {
        return refuse(new BodyRefused(503, 'the collector is reading too many request bodies at once: retry later'));
      }
      held += chunk.length;
      chunks.push(chunk);
    };
    const idle = setTimeout(
      () => settle(refusal ?? new BodyRefused(408, `no part of the request body arrived for ${limits.idleTimeoutMs} ms: send the body at once`)),
      limits.idleTimeoutMs,
    );
    const total = setTimeout(
      () => settle(refusal ?? new BodyRefused(408, `the request body did not arrive whole within ${limits.timeoutMs} ms: send the body at once`)),
      limits.timeoutMs,
    );

    function onData(chunk: Buffer) {
      idle.refresh();
      if (refusal) return;
      if (inflate) inflate.write(chunk);
      else keep(chunk);
    }
    function onEnd() {
      ended = true;
      if (refusal || !inflate) settle(refusal);
      else inflate.end();
    }
    function onGone() {
      if (ended) return;
      // The client went away mid-body: nobody will read the answer, but the request must end.
      settle(refusal ?? new BodyRefused(400, 'the client closed the connection before the request body was complete'));
    }
    if (inflate) {
      inflate.on('data', keep);
      inflate.on('end', () => settle(refusal));
      inflate.on('error', (error) => refuse(new BodyRefused(400, `the body is not valid gzip data (${error.message})`)));
    }
    req.on('data', onData).on('end', onEnd).on('error', onGone).on('close', onGone);
  });
}

function tooLarge(limit: number): string {
  return `the request body is larger than the limit of ${limit} bytes (after gzip inflation): send smaller batches`;
}
