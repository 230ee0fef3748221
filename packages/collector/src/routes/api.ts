import Router from '@koa/router';
import { METRICS_BUCKET_MS, NodePageSize, PageNumber, PageSize } from '../contract/index.js';
import { BadCursorError, type ExecutionReader } from '../read/executions.js';
import type { FlowMetrics } from '../records/types.js';
import type { StorageEngine } from '../store/engine.js';
import { summarizeBins } from '../store/rollups.js';
import { badCursor, cursor, integer, metricsWindow, searchText, single, statuses, timeRange } from './params.js';

export interface ApiDeps {
  engine: StorageEngine;
  reader: ExecutionReader;
  now: () => number;
}

/** The execution-history API the Usage tab and host apps read. */
export function apiRoutes({ engine, reader, now }: ApiDeps): Router {
  const router = new Router({ prefix: '/api' });

  router.get('/flows', async (ctx) => {
    const includeDeleted = single(ctx, 'includeDeleted') === 'true';
    const flows = await engine.listFlows();
    ctx.body = { items: includeDeleted ? flows : flows.filter((f) => !f.deleted) };
  });

  router.get('/flows/:flowId/executions', async (ctx) => {
    const page = integer(ctx, 'page', PageNumber);
    const limit = integer(ctx, 'limit', PageSize);
    const { from, to } = timeRange(ctx);
    const query = { flowId: ctx.params.flowId!, offset: (page - 1) * limit, limit, statuses: statuses(ctx), from, to, q: searchText(ctx) };
    const { executions, total } = await engine.listExecutions(query);
    ctx.body = { items: executions.map((e) => reader.item(e)), page, limit, total, totalPages: Math.ceil(total / limit) };
  });

  router.get('/flows/:flowId/executions/:executionId', async (ctx) => {
    const record = await reader.detail(ctx.params.executionId!, now());
    if (!record || record.flowId !== ctx.params.flowId) {
      ctx.throw(404, `no execution "${ctx.params.executionId}" in flow "${ctx.params.flowId}"`);
    }
    ctx.body = record;
  });

  router.get('/executions/:executionId', async (ctx) => {
    const record = await reader.detail(ctx.params.executionId!, now());
    if (!record) ctx.throw(404, `no execution "${ctx.params.executionId}"`);
    ctx.body = record;
  });

  router.get('/executions/:executionId/nodes', async (ctx) => {
    const limit = integer(ctx, 'limit', NodePageSize);
    const after = cursor(ctx);
    let page;
    try {
      page = await reader.nodes(ctx.params.executionId!, after, limit, now());
    } catch (error) {
      if (error instanceof BadCursorError) badCursor(ctx, after!);
      throw error;
    }
    if (!page) ctx.throw(404, `no execution "${ctx.params.executionId}"`);
    ctx.body = page;
  });

  router.get('/flows/:flowId/metrics', async (ctx) => {
    const { from, to, bucket } = metricsWindow(ctx, now());
    const flowId = ctx.params.flowId!;
    const rollups = await engine.metrics({ flowId, from, to, bucketMs: METRICS_BUCKET_MS[bucket] });
    const body: FlowMetrics = {
      flowId,
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
      bucket,
      buckets: rollups.map((b) => {
        const finished = b.counts.fulfilled + b.counts.error;
        return {
          start: new Date(b.start).toISOString(),
          counts: b.counts,
          errorRate: finished === 0 ? null : b.counts.error / finished,
          durationMs: summarizeBins(b.durationBins),
        };
      }),
    };
    ctx.body = body;
  });

  router.delete('/flows/:flowId', async (ctx) => {
    const deleted = await engine.transaction((tx) => tx.deleteFlow(ctx.params.flowId!, now()));
    if (!deleted) ctx.throw(404, `no flow "${ctx.params.flowId}"`);
    ctx.status = 204;
  });

  router.get('/traces/:traceId', async (ctx) => {
    const traceId = ctx.params.traceId!;
    if (!/^[0-9a-fA-F]{32}$/.test(traceId)) ctx.throw(400, 'a trace id is 32 hex digits');
    const spans = await engine.trace(traceId);
    if (spans.length === 0) ctx.throw(404, `no spans stored for trace "${traceId}"`);
    ctx.body = { traceId: traceId.toLowerCase(), spans };
  });

  return router;
}
