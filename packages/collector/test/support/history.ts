import type { Collector } from '../../src/app.js';
import type { OwnershipConflict } from '../../src/ingest/ownership.js';
import { ExecutionRules } from '../../src/ingest/rules.js';
import { routeSpans } from '../../src/ingest/route.js';
import type { Span } from '../../src/otlp/span.js';
import { ExecutionReader } from '../../src/read/executions.js';
import type { ExecutionStatus } from '../../src/records/types.js';
import type { StorageEngine } from '../../src/store/engine.js';
import { SqliteEngine } from '../../src/store/sqlite/engine.js';

export interface PageQuery {
  flowId: string;
  page: number;
  limit: number;
  status?: ExecutionStatus;
}

/**
 * The collector's history as the tests read and write it: the real rules, reader and engine,
 * with an explicit clock, called the way the HTTP routes call them.
 */
export function historyOf(
  engine: StorageEngine,
  defaultTimeoutMs: number,
  clock: () => number = Date.now,
  onConflict?: (conflict: OwnershipConflict) => void,
) {
  const rules = new ExecutionRules(engine, defaultTimeoutMs, onConflict);
  const reader = new ExecutionReader(engine, defaultTimeoutMs);
  return {
    engine,
    ingest: (spans: Span[], now = clock()) => rules.ingest(routeSpans({ spans, rejected: 0, reasons: [] }), now),
    reconcile: (now = clock()) => rules.reconcile(now),
    getExecution: (id: string, now = clock()) => reader.detail(id, now),
    nodes: (id: string, cursor: string | undefined, limit: number, now = clock()) => reader.nodes(id, cursor, limit, now),
    async listExecutions(query: PageQuery) {
      const { executions, total } = await engine.listExecutions({
        flowId: query.flowId,
        offset: (query.page - 1) * query.limit,
        limit: query.limit,
        ...(query.status ? { statuses: [query.status] } : {}),
      });
      return { items: executions.map((e) => reader.item(e)), total };
    },
    listFlows: () => engine.listFlows(),
    getTrace: (traceId: string) => engine.trace(traceId),
    close: () => engine.close(),
  };
}

/** A fresh in-memory history. */
export function memoryHistory(defaultTimeoutMs = 300_000) {
  return historyOf(new SqliteEngine({ path: ':memory:' }), defaultTimeoutMs);
}

/** The history behind a running collector (its engine, its default budget, its clock). */
export function history(collector: Collector) {
  return historyOf(collector.engine, collector.defaultTimeoutMs, collector.now);
}
