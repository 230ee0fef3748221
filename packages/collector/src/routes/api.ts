import Router from '@koa/router';
import type { Store } from '../store/store.js';
import { integer, single, status, text, time } from './params.js';

export const MAX_PAGE_SIZE = 100;
const DEFAULT_PAGE_SIZE = 20;
/** Far past any real history; keeps OFFSET arithmetic exact. */
const MAX_PAGE = 1_000_000;

/** The execution-history API the Usage tab and host apps read. */
export function apiRoutes(store: Store, now: () => number): Router {
  const router = new Router({ prefix: '/api' });

  router.get('/flows', (ctx) => {
    const includeDeleted = single(ctx, 'includeDeleted') === 'true';
    const flows = store.listFlows();
    ctx.body = { items: includeDeleted ? flows : flows.filter((f) => !f.deleted) };
  });

  router.get('/flows/:flowId/executions', (ctx) => {
    const page = integer(ctx, 'page', 1, 1, MAX_PAGE);
    const limit = integer(ctx, 'limit', DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE);
    const from = time(ctx, 'from');
    const to = time(ctx, 'to');
    if (from !== undefined && to !== undefined && from > to) ctx.throw(400, '"from" must not be after "to"');
    const query = { flowId: ctx.params.flowId!, page, limit, status: status(ctx), from, to, q: text(ctx, 'q', 200) };
    ctx.body = store.listExecutions(query);
  });

  router.get('/flows/:flowId/executions/:executionId', (ctx) => {
    const record = store.getExecution(ctx.params.executionId!);
    if (!record || record.flowId !== ctx.params.flowId) {
      ctx.throw(404, `no execution "${ctx.params.executionId}" in flow "${ctx.params.flowId}"`);
    }
    ctx.body = record;
  });

  router.get('/executions/:executionId', (ctx) => {
    const record = store.getExecution(ctx.params.executionId!);
    if (!record) ctx.throw(404, `no execution "${ctx.params.executionId}"`);
    ctx.body = record;
  });

  router.delete('/flows/:flowId', (ctx) => {
    if (!store.deleteFlow(ctx.params.flowId!, now())) ctx.throw(404, `no flow "${ctx.params.flowId}"`);
    ctx.status = 204;
  });

  router.get('/traces/:traceId', (ctx) => {
    const traceId = ctx.params.traceId!;
    if (!/^[0-9a-fA-F]{32}$/.test(traceId)) ctx.throw(400, 'a trace id is 32 hex digits');
    const spans = store.getTrace(traceId);
    if (spans.length === 0) ctx.throw(404, `no spans stored for trace "${traceId}"`);
    ctx.body = { traceId: traceId.toLowerCase(), spans };
  });

  return router;
}
