import Router from '@koa/router';
import type { ExecutionRules } from '../ingest/rules.js';
import { BadCursorError, MAX_NODES_PAGE, type ExecutionReader } from '../read/executions.js';
import type { StorageEngine } from '../store/engine.js';
import { percentileOfBins } from '../store/rollups.js';
import { bucket, integer, searchText, single, statuses, text, time } from './params.js';

export const MAX_PAGE_SIZE = 100;
const DEFAULT_PAGE_SIZE = 20;
/** Far past any real history; keeps OFFSET arithmetic exact. */
const MAX_PAGE = 1_000_000;
const DEFAULT_NODES_PAGE = 500;
const MAX_METRIC_BUCKETS = 1000;
const DAY = 86_400_000;

export interface ApiDeps {
  engine: StorageEngine;
  reader: ExecutionReader;
  rules: ExecutionRules;
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
    const page = integer(ctx, 'page', 1, 1, MAX_PAGE);
    const limit = integer(ctx, 'limit', DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE);
    const from = time(ctx, 'from');
    const to = time(ctx, 'to');
    if (from !== undefined && to !== undefined && from > to) ctx.throw(400, '"from" must not be after "to"');
    const query = { flowId: ctx.params.flowId!, offset: (page - 1) * limit, limit, statuses: statuses(ctx), from, to, q: searchText(ctx) };
    const { items, total } = await engine.listExecutions(query);
    ctx.body = { items, page, limit, total, totalPages: Math.ceil(total / limit) };
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
    const limit = integer(ctx, 'limit', DEFAULT_NODES_PAGE, 1, MAX_NODES_PAGE);
    const cursor = text(ctx, 'cursor', 64);
    let page;
    try {
      page = await reader.nodes(ctx.params.executionId!, cursor, limit);
    } catch (error) {
      if (error instanceof BadCursorError) ctx.throw(400, error.message);
      throw error;
    }
    if (!page) ctx.throw(404, `no execution "${ctx.params.executionId}"`);
    ctx.body = page;
  });

  router.get('/flows/:flowId/metrics', async (ctx) => {
    const bucketMs = bucket(ctx);
    const to = time(ctx, 'to') ?? now();
    const from = time(ctx, 'from') ?? to - DAY;
    if (from > to) ctx.throw(400, '"from" must not be after "to"');
    if ((to - from) / bucketMs > MAX_METRIC_BUCKETS) ctx.throw(400, `the range holds more than ${MAX_METRIC_BUCKETS} buckets: choose a larger "bucket"`);
    const flowId = ctx.params.flowId!;
    const buckets = await engine.metrics({ flowId, from, to, bucketMs });
    ctx.body = {
      flowId,
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
      bucket: single(ctx, 'bucket') ?? '1h',
      buckets: buckets.map((b) => {
        const p50 = percentileOfBins(b.durationBins, 50);
        return {
          start: new Date(b.start).toISOString(),
          counts: b.counts,
          durationMs: p50 === null ? null : { p50, p90: percentileOfBins(b.durationBins, 90)!, p99: percentileOfBins(b.durationBins, 99)! },
        };
      }),
    };
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
