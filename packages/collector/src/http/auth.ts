import { createHash, timingSafeEqual } from 'node:crypto';
import type { Middleware } from 'koa';

/**
 * Requires `Authorization: Bearer <token>` on every route but the `open` ones. The comparison
 * is constant-time (both sides hashed to equal length first), and the answer never says which
 * part was wrong.
 */
export function bearerAuth(token: string, open: readonly string[]): Middleware {
  const expected = digest(token);
  return async (ctx, next) => {
    if (ctx.method === 'OPTIONS' || open.includes(ctx.path)) return next();
    const header = ctx.get('authorization');
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (!match || !timingSafeEqual(digest(match[1]!.trim()), expected)) {
      ctx.set('WWW-Authenticate', 'Bearer realm="flowtrace"');
      ctx.throw(401, 'a valid bearer token is required (Authorization: Bearer <token>)');
    }
    return next();
  };
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
