import { createGunzip } from 'node:zlib';
import type { Context } from 'koa';

/**
 * Reads a request body, inflating gzip on the fly and counting bytes **after** inflation, so a
 * small gzip bomb is refused (413) as soon as it passes the limit instead of being inflated whole.
 */
export async function readBody(ctx: Context, limit: number): Promise<Buffer> {
  const encoding = (ctx.get('content-encoding') || 'identity').trim().toLowerCase();
  if (encoding !== 'identity' && encoding !== 'gzip' && encoding !== 'x-gzip') {
    ctx.throw(415, `Content-Encoding "${encoding}" is not supported: send the body as is or gzip-compressed`);
  }
  const declared = Number(ctx.get('content-length'));
  if (Number.isFinite(declared) && declared > limit) ctx.throw(413, tooLarge(limit));

  const source = encoding === 'identity' ? ctx.req : ctx.req.pipe(createGunzip());
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) {
        source.destroy();
        ctx.throw(413, tooLarge(limit));
      }
      chunks.push(chunk);
    }
  } catch (error) {
    if ((error as { status?: number }).status) throw error;
    const code = (error as { code?: string }).code ?? '';
    if (code.startsWith('Z_')) ctx.throw(400, `the body is not valid gzip data (${(error as Error).message})`);
    ctx.throw(400, `the request body could not be read (${(error as Error).message})`);
  }
  return Buffer.concat(chunks, size);
}

function tooLarge(limit: number): string {
  return `the request body is larger than the limit of ${limit} bytes (after gzip inflation): send smaller batches`;
}
