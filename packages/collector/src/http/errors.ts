import type { Middleware } from 'koa';

/**
 * Turns thrown errors into JSON answers: `{ error, message }` with the error's status. Client
 * errors carry their message; anything else is logged and answered with a generic 500, so no
 * internals leak. Unmatched routes and methods get the same shape.
 */
export function jsonErrors(log: (message: string) => void): Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.body == null && (ctx.status === 404 || ctx.status === 405)) {
        const status = ctx.status;
        const allow = ctx.response.get('allow');
        ctx.body = {
          error: statusName(status),
          message: status === 404 ? `no route ${ctx.method} ${ctx.path}` : `${ctx.method} is not allowed here; use ${allow}`,
        };
        ctx.status = status;
      }
    } catch (caught) {
      const error = caught as { status?: number; expose?: boolean; message?: string; headers?: Record<string, string> };
      const status = error.status && error.status >= 400 && error.status < 600 ? error.status : 500;
      if (status >= 500) log(`${ctx.method} ${ctx.path} failed: ${(caught as Error)?.stack ?? String(caught)}`);
      ctx.status = status;
      if (error.headers) ctx.set(error.headers);
      ctx.body = {
        error: statusName(status),
        message: error.expose && error.message ? error.message : 'internal error: see the collector log',
      };
    }
  };
}

function statusName(status: number): string {
  return (
    {
      400: 'bad_request',
      401: 'unauthorized',
      404: 'not_found',
      405: 'method_not_allowed',
      413: 'payload_too_large',
      415: 'unsupported_media_type',
      429: 'too_many_requests',
      503: 'unavailable',
    }[status] ?? (status >= 500 ? 'internal_error' : 'error')
  );
}
