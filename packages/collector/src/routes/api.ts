import Router from '@koa/router';
import type { Store } from '../store/store.js';
import { PageNumber, PageSize } from '../contract/index.js';
import { integer, searchText, single, status, timeRange } from './params.js';

/** The execution-history API the Usage tab and host apps read. */
export function apiRoutes(store: Store, now: () => number): Router {
  const router = new Router({ prefix: '/api' });

  router.get('/flows', (ctx) => {
    const includeDeleted = single(ctx, 'includeDeleted') === 'true';
    const flows = store.listFlows();
    ctx.body = { items: includeDeleted ? flows : flows.filter((f) => !f.deleted) };
  });

  router.get('/flows/:flowId/executions', (ctx) => {
    const page = integer(ctx, 'page', PageNumber);
    const limit = integer(ctx, 'limit', PageSize);
    const { from, to } = timeRange(ctx);
    const query = { flowId: ctx.params.flowId!, page, limit, status: status(ctx), from, to, q: searchText(ctx) };
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
