import Database from 'better-sqlite3';
import type { Span } from '../otlp/span.js';
import { executionIdOf, listItem, markerOf, projectExecution, type Projection } from '../records/project.js';
import type { ExecutionListItem, ExecutionRecord, FlowSummary, Page } from '../records/types.js';
import * as sc from '@flowtrace/tracer/semconv';
import { nanosToMillis } from '../otlp/span.js';
import { migrate } from './migrations.js';
import type { ExecutionChange, ExecutionQuery, Store } from './store.js';

export interface SqliteStoreOptions {
  /** File path, or `:memory:`. */
  path: string;
  /** Budget of executions that declare none, in ms. */
  defaultTimeoutMs: number;
}

interface ExecutionRow {
  flow_id: string;
  record: string;
}

/**
 * The embedded store: SQLite through better-sqlite3, WAL journal, `synchronous=FULL` so a
 * committed transaction survives the process and the machine stopping, prepared statements on
 * the ingest path.
 */
export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly defaultTimeoutMs: number;
  private seq: number;
  private readonly sql;

  constructor(options: SqliteStoreOptions) {
    this.db = new Database(options.path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    migrate(this.db);
    this.defaultTimeoutMs = options.defaultTimeoutMs;
    const db = this.db;
    this.sql = {
      upsertSpan: db.prepare(
        `INSERT INTO spans (trace_id, span_id, execution_id, body) VALUES (?, ?, ?, ?)
         ON CONFLICT (trace_id, span_id) DO UPDATE SET execution_id = excluded.execution_id, body = excluded.body`,
      ),
      spansOfExecution: db.prepare('SELECT body FROM spans WHERE execution_id = ?').pluck(),
      spansOfTrace: db.prepare('SELECT body FROM spans WHERE trace_id = ?').pluck(),
      addInstance: db.prepare('INSERT OR IGNORE INTO instances (service_name, instance_id, started_at) VALUES (?, ?, ?)'),
      instancesOf: db.prepare('SELECT instance_id AS instanceId, started_at AS startedAt FROM instances WHERE service_name = ?'),
      pendingOfService: db.prepare(`SELECT id FROM executions WHERE status = 'pending' AND service_name = ?`).pluck(),
      pendingPastDeadline: db.prepare(`SELECT id FROM executions WHERE status = 'pending' AND deadline <= ?`).pluck(),
      execution: db.prepare('SELECT flow_id, record FROM executions WHERE id = ?'),
      upsertExecution: db.prepare(
        `INSERT INTO executions (id, flow_id, service_name, status, started_at, deadline, search, item, record, seq)
         VALUES (@id, @flowId, @serviceName, @status, @startedAt, @deadline, @search, @item, @record, @seq)
         ON CONFLICT (id) DO UPDATE SET flow_id = excluded.flow_id, service_name = excluded.service_name,
           status = excluded.status, started_at = excluded.started_at, deadline = excluded.deadline,
           search = excluded.search, item = excluded.item, record = excluded.record, seq = excluded.seq`,
      ),
      countFlow: db.prepare(
        `INSERT INTO flows (flow_id, flow_name, execution_count) VALUES (?, ?, 1)
         ON CONFLICT (flow_id) DO UPDATE SET flow_name = excluded.flow_name,
           execution_count = execution_count + 1, deleted_at = NULL`,
      ),
      renameFlow: db.prepare('UPDATE flows SET flow_name = ? WHERE flow_id = ?'),
      uncountFlow: db.prepare('UPDATE flows SET execution_count = execution_count - 1 WHERE flow_id = ?'),
      flows: db.prepare(
        `SELECT f.flow_id AS flowId, f.flow_name AS flowName, f.execution_count AS executionCount,
                f.deleted_at IS NOT NULL AS deleted, last.status AS lastStatus, last.started_at AS lastStartedAt
         FROM flows f
         LEFT JOIN executions last ON last.id = (
           SELECT id FROM executions e WHERE e.flow_id = f.flow_id ORDER BY started_at DESC, rowid DESC LIMIT 1)
         ORDER BY f.flow_name, f.flow_id`,
      ),
      deleteFlow: db.prepare('UPDATE flows SET deleted_at = ? WHERE flow_id = ?'),
      flowCount: db.prepare('SELECT execution_count FROM flows WHERE flow_id = ?').pluck(),
      changesSince: db.prepare('SELECT seq, item FROM executions WHERE seq > ? ORDER BY seq LIMIT ?'),
      changesSinceOfFlow: db.prepare('SELECT seq, item FROM executions WHERE seq > ? AND flow_id = ? ORDER BY seq LIMIT ?'),
      lastSeq: db.prepare('SELECT coalesce(max(seq), 0) FROM executions').pluck(),
    };
    this.seq = this.sql.lastSeq.get() as number;
  }

  ingest(spans: readonly Span[], now: number): ExecutionChange[] {
    return this.db.transaction(() => {
      const touched = new Set<string>();
      for (const span of spans) {
        if (markerOf(span) === sc.MARKER_INSTANCE_START) {
          this.recordInstanceStart(span, touched);
          continue;
        }
        const executionId = executionIdOf(span) ?? null;
        this.sql.upsertSpan.run(span.traceId, span.spanId, executionId, JSON.stringify(span));
        if (executionId) touched.add(executionId);
      }
      return this.reproject(touched, now);
    })();
  }

  /**
   * Writes already projected records in one transaction, as ingest would have: for importing
   * history (and seeding benchmarks) without replaying every span.
   */
  importRecords(projections: Iterable<Projection>): number {
    return this.db.transaction(() => {
      let saved = 0;
      for (const { record, startedAtMs } of projections) if (this.save(record, startedAtMs)) saved++;
      return saved;
    })();
  }

  reconcile(now: number): ExecutionChange[] {
    return this.db.transaction(() => this.reproject(new Set(this.sql.pendingPastDeadline.all(now) as string[]), now))();
  }

  /** An instance start re-evaluates the service's pending executions (the restart rule). */
  private recordInstanceStart(span: Span, touched: Set<string>): void {
    const service = span.resource[sc.ATTR_SERVICE_NAME];
    const instance = span.resource[sc.ATTR_SERVICE_INSTANCE_ID];
    if (typeof service !== 'string' || typeof instance !== 'string') return;
    this.sql.addInstance.run(service, instance, nanosToMillis(span.startTimeUnixNano));
    for (const id of this.sql.pendingOfService.all(service) as string[]) touched.add(id);
  }

  private reproject(ids: Set<string>, now: number): ExecutionChange[] {
    const changes: ExecutionChange[] = [];
    for (const id of ids) {
      const spans = (this.sql.spansOfExecution.all(id) as string[]).map((body) => JSON.parse(body) as Span);
      const first = spans[0];
      const service = first?.resource[sc.ATTR_SERVICE_NAME];
      const instanceStarts = typeof service === 'string'
        ? (this.sql.instancesOf.all(service) as Array<{ instanceId: string; startedAt: number }>)
        : [];
      const projection = projectExecution(spans, { now, defaultTimeoutMs: this.defaultTimeoutMs, instanceStarts });
      if (!projection) continue;
      const change = this.save(projection.record, projection.startedAtMs);
      if (change) changes.push(change);
    }
    return changes;
  }

  /** Writes a record when it differs from the stored one; keeps the flows' counts right. */
  private save(record: ExecutionRecord, startedAt: number): ExecutionChange | undefined {
    const text = JSON.stringify(record);
    const previous = this.sql.execution.get(record.id) as ExecutionRow | undefined;
    if (previous?.record === text) return undefined;
    if (previous?.flow_id !== record.flowId) {
      if (previous) this.sql.uncountFlow.run(previous.flow_id);
      this.sql.countFlow.run(record.flowId, record.flowName);
    } else {
      this.sql.renameFlow.run(record.flowName, record.flowId);
    }
    const item = listItem(record);
    const seq = ++this.seq;
    this.sql.upsertExecution.run({
      id: record.id,
      flowId: record.flowId,
      serviceName: record.serviceName,
      status: record.status,
      startedAt,
      deadline: startedAt + record.timeoutMs,
      search: record.initialParams === undefined ? '' : JSON.stringify(record.initialParams),
      item: JSON.stringify(item),
      record: text,
      seq,
    });
    return { seq, item };
  }

  listFlows(): FlowSummary[] {
    const rows = this.sql.flows.all() as Array<Omit<FlowSummary, 'deleted' | 'lastStartedAt'> & { deleted: number; lastStartedAt: number | null }>;
    return rows.map((row) => ({
      ...row,
      deleted: row.deleted === 1,
      lastStartedAt: row.lastStartedAt === null ? null : new Date(Math.floor(row.lastStartedAt)).toISOString(),
    }));
  }

  listExecutions(query: ExecutionQuery): Page<ExecutionListItem> {
    const where = ['flow_id = @flowId'];
    const params: Record<string, unknown> = { flowId: query.flowId, limit: query.limit, offset: (query.page - 1) * query.limit };
    if (query.status) {
      where.push('status = @status');
      params.status = query.status;
    }
    if (query.from !== undefined) {
      where.push('started_at >= @from');
      params.from = query.from;
    }
    if (query.to !== undefined) {
      where.push('started_at < @to');
      params.to = query.to;
    }
    if (query.q) {
      where.push(`search LIKE @q ESCAPE '\\'`);
      params.q = `%${query.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    }
    const clause = where.join(' AND ');
    // Statements are built from the fixed fragments above only; values are always bound.
    const filtered = where.length > 1;
    const total = filtered
      ? (this.db.prepare(`SELECT count(*) FROM executions WHERE ${clause}`).pluck().get(params) as number)
      : ((this.sql.flowCount.get(query.flowId) as number | undefined) ?? 0);
    // Page through the index alone, then read just the page's rows (a deep OFFSET stays cheap).
    const items = (
      this.db
        .prepare(
          `SELECT item FROM executions WHERE rowid IN (
             SELECT rowid FROM executions WHERE ${clause} ORDER BY started_at DESC, rowid DESC LIMIT @limit OFFSET @offset)
           ORDER BY started_at DESC, rowid DESC`,
        )
        .pluck()
        .all(params) as string[]
    ).map((item) => JSON.parse(item) as ExecutionListItem);
    return { items, page: query.page, limit: query.limit, total, totalPages: Math.ceil(total / query.limit) };
  }

  getExecution(id: string): ExecutionRecord | undefined {
    const row = this.sql.execution.get(id) as ExecutionRow | undefined;
    return row ? (JSON.parse(row.record) as ExecutionRecord) : undefined;
  }

  deleteFlow(flowId: string, now: number): boolean {
    return this.sql.deleteFlow.run(now, flowId).changes > 0;
  }

  getTrace(traceId: string): Span[] {
    return (this.sql.spansOfTrace.all(traceId.toLowerCase()) as string[]).map((body) => JSON.parse(body) as Span);
  }

  changesSince(seq: number, flowId: string | undefined, limit: number): ExecutionChange[] {
    const rows = (
      flowId === undefined ? this.sql.changesSince.all(seq, limit) : this.sql.changesSinceOfFlow.all(seq, flowId, limit)
    ) as Array<{ seq: number; item: string }>;
    return rows.map((row) => ({ seq: row.seq, item: JSON.parse(row.item) as ExecutionListItem }));
  }

  lastSeq(): number {
    return this.seq;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
