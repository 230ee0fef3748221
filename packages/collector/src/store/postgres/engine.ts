import pg from 'pg';
import type { Attributes, Span } from '../../otlp/span.js';
import type { SpanRole } from '../../records/aggregate.js';
import type { OrderKey } from '../../records/project.js';
import type { ExecutionStatus, FlowSummary } from '../../records/types.js';
import {
  StorageUnavailableError,
  type LegacyHistory,
  type ListQuery,
  type MetricsQuery,
  type MetricsRollup,
  type StorageEngine,
  type StoredChange,
  type StoredExecution,
  type WriteTx,
} from '../engine.js';
import { bucketOf, hourIsCut, HOUR, locatePage, MINUTE, STATUS_CODE, STATUS_OF } from '../rollups.js';
import { decodeBody, ROLE_CODE, storedExecution, EXECUTION_COLUMNS, type ExecutionRow, type Origin, type SpanRow } from '../rows.js';
import { createPartitions, dayOf } from './partitions.js';
import { CHANNEL, DAY_GRAIN, migrate, spanRow } from './schema.js';
import { MIN_DB_POOL } from '../../defaults.js';
import { StatementNames } from './statements.js';
import { PostgresWriteTx } from './write-tx.js';

export interface PostgresEngineOptions {
  /** `postgres://user:password@host:5432/database` (libpq URL; `?sslmode=` and the like work). */
  url: string;
  /** Connections kept by this collector. Default 10; at least {@link MIN_DB_POOL}. */
  poolSize?: number;
  /** How long to wait for a connection before answering 503. Default 5 s. */
  connectTimeoutMs?: number;
  /** Longest a statement may run before it is cancelled. Default 30 s. */
  statementTimeoutMs?: number;
  /**
   * Named (prepared) statements, parsed once per connection. Default true; false behind a pooler
   * that cannot follow them (PgBouncer before 1.21, or with `max_prepared_statements = 0`).
   */
  preparedStatements?: boolean;
  log?: (message: string) => void;
}

const DIRECT_OFFSET = 1000;
const FAR = 8.64e15;
/** Days of span partitions kept made ahead (and one behind), so a day never starts without one. */
const DAYS_AHEAD = 2;
const ATTEMPTS = 5;
/** How long a statement run outside the calling transaction waits for a lock (see withoutWaitingForDisk). */
const OUTSIDE_LOCK_TIMEOUT_MS = 1000;
/** Partitions of executions read lately (an execution's never changes once set). */
const PART_CACHE = 50_000;
/** SQLSTATE classes and codes that mean "the database is not there", not "the request is wrong". */
const UNAVAILABLE_CODES = new Set(['57P01', '57P02', '57P03', '53300', '08000', '08001', '08003', '08004', '08006', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN']);
/** Conflicts between concurrent collectors: the transaction is run again. */
/** Serialization failure, deadlock, and a lock not granted in time (see withoutWaitingForDisk). */
const RETRY_CODES = new Set(['40001', '40P01', '55P03']);
const LOCK_NOT_AVAILABLE = '55P03';


/** bigint columns come back as numbers: keys and sequence numbers stay far below 2^53. */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === 20 ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

/**
 * The engine for several collectors on one PostgreSQL database (node-postgres, a pool). Rows
 * every writer touches are locked in one order — the executions a transaction changes first,
 * sorted, then the change counter, which also makes change numbers commit in order — so
 * concurrent collectors serialise only where they share rows; a deadlock or serialization
 * failure left over is retried whole.
 */
export class PostgresEngine implements StorageEngine {
  private readonly pool: pg.Pool;
  private readonly names: StatementNames;
  private readonly log: (message: string) => void;
  private schema: Promise<void> | undefined;
  private partitionsFor = -1;
  private readonly origins = new Map<number, Origin>();
  private readonly originKeys = new Map<string, number>();
  private readonly flowKeys = new Map<string, { key: number; name: string }>();
  private readonly parts = new Map<number, number>();
  private listener: pg.Client | undefined;
  private history: string | undefined;
  private closed = false;

  constructor(private readonly options: PostgresEngineOptions) {
    this.log = options.log ?? (() => {});
    this.names = new StatementNames(options.preparedStatements ?? true);
    this.pool = new pg.Pool({
      connectionString: options.url,
      max: Math.max(MIN_DB_POOL, options.poolSize ?? 10),
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
      statement_timeout: options.statementTimeoutMs ?? 30_000,
      application_name: 'flowtrace-collector',
      types,
    });
    // An idle connection the server dropped (a restart) is replaced on next use.
    this.pool.on('error', (error) => this.log(`database connection lost: ${error.message}`));
  }

  /** Resolves once the schema is in place; until then every operation tries to create it. */
  ready(): Promise<void> {
    this.schema ??= this.withClient(async (client) => {
      await migrate(client);
      await this.upkeep(client);
    }).catch((error: unknown) => {
      this.schema = undefined;
      throw error;
    });
    return this.schema;
  }

  /** Makes the day partitions around today, once a day. */
  private async upkeep(client: pg.PoolClient): Promise<void> {
    const today = dayOf(Date.now());
    if (today === this.partitionsFor) return;
    const days = [];
    for (let day = today - 1; day <= today + DAYS_AHEAD; day++) days.push(day);
    await createPartitions(client, days, this.log);
    this.partitionsFor = today;
  }

  private async withClient<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw unavailable(error);
    }
    let broken: Error | undefined;
    // A connection the server ends while it is checked out says so as an event: without a
    // listener it would end the process.
    const lost = (error: Error) => (broken = error);
    client.on('error', lost);
    try {
      return await fn(client);
    } catch (error) {
      if (isUnavailable(error)) broken ??= error as Error;
      throw unavailable(error);
    } finally {
      client.off('error', lost);
      client.release(broken);
    }
  }

  /**
   * One statement in a transaction of its own that commits without waiting for the disk
   * (`synchronous_commit = off` for it alone). For rows only a later, durable transaction makes
   * use of: that commit flushes the log up to itself, this statement's changes included, and a
   * crash before it loses nothing anyone was told of. It saves an fsync a request.
   *
   * Its wait for a lock is bounded: the transaction that called it waits on it from another
   * connection, so PostgreSQL cannot see a cycle through the two (a writer that makes executions
   * inside its transaction, as collectors before this one did, and then waits on a row this
   * transaction holds). A lock not granted in time fails the transaction, which is retried.
   */
  private withoutWaitingForDisk(text: string, values: unknown[]): Promise<void> {
    return this.withClient(async (client) => {
      await client.query('BEGIN');
      try {
        await client.query(`SET LOCAL synchronous_commit = off; SET LOCAL lock_timeout = ${OUTSIDE_LOCK_TIMEOUT_MS}`);
        await client.query(this.names.config(text, values));
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      }
    });
  }

  private async query<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
    await this.ready();
    try {
      return (await this.pool.query<R>(this.names.config(text, values))).rows;
    } catch (error) {
      throw unavailable(error);
    }
  }

  legacy(): LegacyHistory | undefined {
    return undefined;
  }

  async transaction<T>(work: (tx: WriteTx) => Promise<T>): Promise<T> {
    await this.ready();
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.withClient(async (client) => {
          await this.upkeep(client);
          const outside = (text: string, values: unknown[]) => this.withoutWaitingForDisk(text, values);
          const tx = new PostgresWriteTx(client, this.flowKeys, this.originKeys, (rows) => this.decodeAll(rows, client), this.names, outside);
          await client.query('BEGIN');
          try {
            const result = await work(tx);
            await client.query('COMMIT');
            tx.committed();
            return result;
          } catch (error) {
            await client.query('ROLLBACK').catch(() => {});
            throw error;
          }
        });
      } catch (error) {
        const code = (error as { code?: string }).code ?? '';
        if (attempt < ATTEMPTS && RETRY_CODES.has(code)) continue;
        if (code === LOCK_NOT_AVAILABLE) {
          throw new StorageUnavailableError(`the PostgreSQL database kept a lock this request needs for ${ATTEMPTS} tries (another writer's open transaction); retry later`);
        }
        throw error;
      }
    }
  }

  watch(onCommit: (seq: number | undefined) => void): void {
    const connect = async (delay: number): Promise<void> => {
      if (this.closed) return;
      const client = new pg.Client({ connectionString: this.options.url, connectionTimeoutMillis: this.options.connectTimeoutMs ?? 5000 });
      const retry = () => {
        if (this.listener === client) this.listener = undefined;
        client.end().catch(() => {});
        if (!this.closed) setTimeout(() => void connect(Math.min(delay * 2, 5000)), delay).unref();
      };
      client.on('error', retry);
      client.on('notification', (message) => onCommit(message.payload ? Number(message.payload) : undefined));
      try {
        await client.connect();
        await client.query(`LISTEN ${CHANNEL}`);
        if (this.closed) return void client.end();
        this.listener = client;
        // Commits made while not listening were not heard: catch up.
        onCommit(undefined);
      } catch (error) {
        this.log(`cannot listen for other collectors' changes: ${(error as Error).message}; retrying`);
        retry();
      }
    };
    void connect(100);
  }

  // Reads

  async outboxSize(destination: string): Promise<{ payloads: number; bytes: number }> {
    const [row] = await this.query<{ payloads: number; bytes: number }>(
      'SELECT count(*)::int AS payloads, coalesce(sum(bytes), 0)::float8 AS bytes FROM outbox WHERE destination = $1',
      [destination],
    );
    return row!;
  }

  async execution(id: string): Promise<StoredExecution | undefined> {
    const [row] = await this.query<ExecutionRow>(`SELECT ${EXECUTION_COLUMNS} FROM executions WHERE execution_id = $1`, [id]);
    return row ? storedExecution(row) : undefined;
  }

  /** The partition an execution's spans are in; fixed once its first spans arrive. */
  private async partOf(key: number): Promise<number | undefined> {
    const cached = this.parts.get(key);
    if (cached !== undefined) return cached;
    const [row] = await this.query<{ part: number | null }>('SELECT part FROM executions WHERE id = $1', [key]);
    if (row?.part == null) return undefined;
    if (this.parts.size >= PART_CACHE) this.parts.clear();
    this.parts.set(key, row.part);
    return row.part;
  }

  async executionSpans(key: number, roles?: readonly SpanRole[]): Promise<Span[]> {
    const part = await this.partOf(key);
    if (part === undefined) return [];
    const codes = roles ? [...new Set(roles.map((r) => ROLE_CODE[r]))] : undefined;
    const rows = await this.query<SpanRow>(
      `SELECT ${spanRow()} FROM spans WHERE part = $1 AND execution = $2 ${codes ? 'AND role = ANY($3)' : ''}`,
      codes ? [part, key, codes] : [part, key],
    );
    return this.decodeAll(rows);
  }

  async stepOrder(key: number, role: 'step' | 'step-marker' = 'step'): Promise<OrderKey[]> {
    const part = await this.partOf(key);
    if (part === undefined) return [];
    // Ids as hex text: a Buffer a row is costly to make and to collect at 50,000 steps.
    const rows = await this.query<{ span_id: string; parent_id: string | null; step_index: number | null; start_ms: number }>(
      `SELECT encode(span_id, 'hex') AS span_id, encode(parent_id, 'hex') AS parent_id, step_index, start_ms FROM spans WHERE part = $1 AND execution = $2 AND role = $3`,
      [part, key, ROLE_CODE[role]],
    );
    return rows.map((row) => ({ spanId: row.span_id, parentSpanId: row.parent_id, index: row.step_index, startMs: row.start_ms }));
  }

  async stepSpans(key: number, steps: readonly OrderKey[]): Promise<Span[]> {
    const part = await this.partOf(key);
    if (part === undefined || steps.length === 0) return [];
    const rows = await this.query<SpanRow>(
      `SELECT ${spanRow()} FROM spans WHERE part = $1 AND execution = $2 AND span_id = ANY($3::bytea[])`,
      [part, key, steps.map((s) => Buffer.from(s.spanId, 'hex'))],
    );
    const decoded = await this.decodeAll(rows);
    const byId = new Map(decoded.map((span) => [span.spanId, span]));
    return steps.flatMap((s) => byId.get(s.spanId) ?? []);
  }

  async trace(traceId: string): Promise<Span[]> {
    if (!/^[0-9a-fA-F]{32}$/.test(traceId)) return [];
    // Through the owners, which know where each span of the trace is stored: spans have no trace index.
    return this.decodeAll(
      await this.query<SpanRow>(
        `SELECT ${spanRow('s')} FROM span_owners o
         JOIN spans s ON s.part = o.part AND s.execution = o.execution AND s.span_id = o.span_id WHERE o.trace_id = $1`,
        [Buffer.from(traceId, 'hex')],
      ),
    );
  }

  async listExecutions(query: ListQuery): Promise<{ executions: StoredExecution[]; total: number }> {
    const [flowRow] = await this.query<{ id: number } & Record<ExecutionStatus, number>>(
      'SELECT id, pending, fulfilled, error FROM flows WHERE flow_id = $1',
      [query.flowId],
    );
    if (!flowRow) return { executions: [], total: 0 };
    const flow = flowRow.id;
    const statuses = query.statuses && query.statuses.length < STATUS_OF.length ? query.statuses.map((s) => STATUS_CODE[s]) : undefined;
    if (query.q !== undefined) return this.searchPage(flow, query.q, query, statuses);
    // Statements are built from fixed fragments; every value is bound.
    const values: unknown[] = [flow];
    const bind = (value: unknown) => `$${values.push(value)}`;
    const where = ['flow = $1', 'flow IS NOT NULL'];
    if (query.from !== undefined) where.push(`started_at >= ${bind(query.from)}`);
    if (query.from === undefined && query.to === undefined) {
      // The flow's counters give the total; a deep page finds its hour by a running sum.
      const total = (statuses ?? [0, 1, 2]).reduce((sum, code) => sum + flowRow[STATUS_OF[code]!], 0);
      let offset = query.offset;
      if (offset >= DIRECT_OFFSET) {
        const start = await this.hourOf(flow, statuses, offset);
        if (!start) return { executions: [], total };
        where.push(`started_at < ${bind(start.before)}`);
        offset = start.offset;
      }
      return { executions: await this.page(where, values, statuses, offset, query.limit), total };
    }
    const counted = await this.countsByHour(flow, statuses, query.from, query.to);
    const total = counted.reduce((sum, [, n]) => sum + n, 0);
    let before = query.to;
    let offset = query.offset;
    if (query.offset >= DIRECT_OFFSET) {
      const start = locatePage(counted, query.offset, query.to);
      if (!start) return { executions: [], total };
      ({ before, offset } = start);
    }
    if (before !== undefined) where.push(`started_at < ${bind(before)}`);
    return { executions: await this.page(where, values, statuses, offset, query.limit), total };
  }

  /**
   * A page of the flow's executions whose parameters contain `q`, and how many there are. The
   * search entries carry flow and start, so the matches are counted and ordered from them alone
   * and only the page's executions are read (a status filter reads the matches' executions too).
   */
  private async searchPage(flow: number, q: string, query: ListQuery, statuses: number[] | undefined): Promise<{ executions: StoredExecution[]; total: number }> {
    const values: unknown[] = [flow];
    const bind = (value: unknown) => `$${values.push(value)}`;
    const where = ['flow = $1', this.searchMatches(q, bind)];
    if (query.from !== undefined) where.push(`started_at >= ${bind(query.from)}`);
    if (query.to !== undefined) where.push(`started_at < ${bind(query.to)}`);
    const hits = statuses
      ? `SELECT m.execution, m.started_at FROM matches m JOIN executions e ON e.id = m.execution WHERE e.status = ANY(${bind(statuses)})`
      : 'SELECT execution, started_at FROM matches';
    // One row even past the last page: the total.
    const rows = await this.query<ExecutionRow & { total: number }>(
      `WITH matches AS MATERIALIZED (SELECT execution, started_at FROM search WHERE ${where.join(' AND ')}),
            hits AS MATERIALIZED (${hits})
       SELECT t.total, page.* FROM (SELECT count(*)::int AS total FROM hits) t LEFT JOIN LATERAL (
         SELECT ${EXECUTION_COLUMNS}, h.started_at AS at
         FROM (SELECT execution, started_at FROM hits ORDER BY started_at DESC, execution DESC LIMIT ${bind(query.limit)} OFFSET ${bind(query.offset)}) h
         JOIN executions ON executions.id = h.execution
       ) page ON true ORDER BY page.at DESC, page.id DESC`,
      values,
    );
    return { executions: rows.filter((row) => row.id !== null).map(storedExecution), total: rows[0]!.total };
  }

  /**
   * The condition on a search entry for parameters containing `q`. The trigram index is asked
   * for the longest run of letters and digits only: the trigrams of a one-letter word or of
   * punctuation are in nearly every row, and reading their posting lists costs more than
   * checking the few rows left.
   */
  private searchMatches(q: string, bind: (value: unknown) => string): string {
    const pattern = (text: string) => `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    const longest = (q.match(/[\p{L}\p{N}]+/gu) ?? []).reduce((a, b) => (b.length > a.length ? b : a), '');
    if (longest.length < 3 || longest === q) return `params ILIKE ${bind(pattern(q))}`;
    // `params || ''` keeps the full pattern out of the index condition.
    return `params ILIKE ${bind(pattern(longest))} AND (params || '') ILIKE ${bind(pattern(q))}`;
  }

  /**
   * Where the page at `offset` starts: the hour it falls in (newest first) and how far into it.
   * A running sum over the day counts finds the day, one over that day's hours the hour: ~30 and
   * ~24 rows, however deep the page and however long the history.
   */
  private async hourOf(flow: number, statuses: number[] | undefined, offset: number): Promise<{ before: number; offset: number } | undefined> {
    const status = (alias: string) => (statuses ? `AND ${alias}status = ANY($5)` : '');
    const [row] = await this.query<{ bucket: number; skipped: number }>(
      `WITH day AS (
         SELECT bucket, acc - n AS skipped FROM (
           SELECT bucket, sum(n) AS n, sum(sum(n)) OVER (ORDER BY bucket DESC) AS acc
           FROM counts WHERE flow = $1 AND grain = $2 ${status('')} GROUP BY bucket
         ) days WHERE acc > $4 ORDER BY bucket DESC LIMIT 1)
       SELECT bucket, (acc - n)::bigint AS skipped FROM (
         SELECT h.bucket, sum(h.n) AS n, day.skipped + sum(sum(h.n)) OVER (ORDER BY h.bucket DESC) AS acc
         FROM day JOIN counts h ON h.flow = $1 AND h.grain = $3 AND h.bucket >= day.bucket AND h.bucket < day.bucket + $2 ${status('h.')}
         GROUP BY h.bucket, day.skipped
       ) hours WHERE acc > $4 ORDER BY bucket DESC LIMIT 1`,
      statuses ? [flow, DAY_GRAIN, HOUR, offset, statuses] : [flow, DAY_GRAIN, HOUR, offset],
    );
    return row ? { before: row.bucket + HOUR, offset: offset - row.skipped } : undefined;
  }

  /** A page in list order; several statuses are read as one index range each, merged by the database. */
  private async page(where: string[], values: unknown[], statuses: number[] | undefined, offset: number, limit: number): Promise<StoredExecution[]> {
    const order = 'ORDER BY started_at DESC, id DESC';
    const bind = (value: unknown) => `$${values.push(value)}`;
    if (!statuses || statuses.length === 1) {
      const clause = statuses ? [...where, `status = ${bind(statuses[0])}`] : where;
      return (await this.query<ExecutionRow>(`SELECT ${EXECUTION_COLUMNS} FROM executions WHERE ${clause.join(' AND ')} ${order} LIMIT ${bind(limit)} OFFSET ${bind(offset)}`, values)).map(storedExecution);
    }
    const wanted = bind(offset + limit);
    const ranges = statuses.map(
      (status) => `(SELECT started_at, ${EXECUTION_COLUMNS} FROM executions WHERE ${[...where, `status = ${bind(status)}`].join(' AND ')} ${order} LIMIT ${wanted})`,
    );
    const rows = await this.query<ExecutionRow>(
      `SELECT ${EXECUTION_COLUMNS} FROM (${ranges.join(' UNION ALL ')}) merged ${order} LIMIT ${bind(limit)} OFFSET ${bind(offset)}`,
      values,
    );
    return rows.map(storedExecution);
  }

  /** Executions per hour, newest first, from the rollups; hours cut by `from`/`to` counted exactly. */
  private async countsByHour(flow: number, statuses: number[] | undefined, from: number | undefined, to: number | undefined): Promise<Array<[number, number]>> {
    const statusClause = statuses ? 'AND status = ANY($5)' : '';
    const lower = from === undefined ? -FAR : bucketOf(from, HOUR);
    const upper = to ?? FAR;
    const rows = await this.query<{ bucket: number; n: number }>(
      `SELECT bucket, sum(n)::bigint AS n FROM counts WHERE flow = $1 AND grain = $2 AND bucket >= $3 AND bucket < $4 ${statusClause}
       GROUP BY bucket HAVING sum(n) > 0 ORDER BY bucket DESC`,
      statuses ? [flow, HOUR, lower, upper, statuses] : [flow, HOUR, lower, upper],
    );
    const counted: Array<[number, number]> = [];
    for (const { bucket, n } of rows) {
      if (!hourIsCut(bucket, from, to)) {
        counted.push([bucket, n]);
        continue;
      }
      const [exact] = await this.query<{ n: number }>(
        `SELECT count(*) AS n FROM executions WHERE flow = $1 AND flow IS NOT NULL AND started_at >= $2 AND started_at < $3 ${statusClause.replace('$5', '$4')}`,
        statuses ? [flow, Math.max(bucket, from ?? -FAR), Math.min(bucket + HOUR, to ?? FAR), statuses] : [flow, Math.max(bucket, from ?? -FAR), Math.min(bucket + HOUR, to ?? FAR)],
      );
      if (exact!.n > 0) counted.push([bucket, exact!.n]);
    }
    return counted;
  }

  async listFlows(): Promise<FlowSummary[]> {
    const rows = await this.query<{ flow_id: string; flow_name: string; n: number; deleted_at: number | null; status: number | null; started_at: number | null }>(
      `SELECT f.flow_id, f.flow_name, f.pending + f.fulfilled + f.error AS n, f.deleted_at, last.status, last.started_at
       FROM flows f LEFT JOIN LATERAL (
         SELECT status, started_at FROM executions e WHERE e.flow = f.id AND e.flow IS NOT NULL ORDER BY started_at DESC, id DESC LIMIT 1
       ) last ON true
       ORDER BY f.flow_name, f.flow_id`,
    );
    return rows.map((row) => ({
      flowId: row.flow_id,
      flowName: row.flow_name,
      executionCount: row.n,
      lastStatus: row.status === null ? null : STATUS_OF[row.status]!,
      lastStartedAt: row.started_at === null ? null : new Date(Math.floor(row.started_at)).toISOString(),
      deleted: row.deleted_at !== null,
      deletedAt: row.deleted_at === null ? null : new Date(Math.floor(row.deleted_at)).toISOString(),
    }));
  }

  async changesSince(seq: number, flowId: string | undefined, limit: number): Promise<StoredChange[]> {
    const rows =
      flowId === undefined
        ? await this.query<ExecutionRow & { seq: number }>(`SELECT seq, ${EXECUTION_COLUMNS} FROM executions WHERE seq > $1 ORDER BY seq LIMIT $2`, [seq, limit])
        : await this.query<ExecutionRow & { seq: number }>(
            `SELECT seq, ${EXECUTION_COLUMNS} FROM executions WHERE seq > $1 AND flow = (SELECT id FROM flows WHERE flow_id = $2) ORDER BY seq LIMIT $3`,
            [seq, flowId, limit],
          );
    return rows.map((row) => ({ seq: row.seq, execution: storedExecution(row) }));
  }

  async historyId(): Promise<string> {
    this.history ??= (await this.query<{ id: string }>('SELECT id FROM history'))[0]!.id;
    return this.history;
  }

  async lastSeq(): Promise<number> {
    const [row] = await this.query<{ seq: number }>('SELECT seq FROM changes');
    return row!.seq;
  }

  async metrics(query: MetricsQuery): Promise<MetricsRollup[]> {
    const first = bucketOf(query.from, query.bucketMs);
    const buckets: MetricsRollup[] = [];
    for (let start = first; start < query.to; start += query.bucketMs) {
      buckets.push({ start, counts: { pending: 0, fulfilled: 0, error: 0 }, durationBins: new Map() });
    }
    const [flowRow] = await this.query<{ id: number }>('SELECT id FROM flows WHERE flow_id = $1', [query.flowId]);
    if (!flowRow) return buckets;
    const grain = query.bucketMs >= HOUR && query.bucketMs % HOUR === 0 ? HOUR : MINUTE;
    const at = (bucket: number) => buckets[Math.floor((bucket - first) / query.bucketMs)];
    const range = [flowRow.id, grain, first, query.to];
    for (const { bucket, status, n } of await this.query<{ bucket: number; status: number; n: number }>(
      'SELECT bucket, status, n FROM counts WHERE flow = $1 AND grain = $2 AND bucket >= $3 AND bucket < $4',
      range,
    )) {
      const target = at(bucket);
      if (target) target.counts[STATUS_OF[status] as ExecutionStatus] += n;
    }
    for (const { bucket, bin, n } of await this.query<{ bucket: number; bin: number; n: number }>(
      'SELECT bucket, bin, n FROM durations WHERE flow = $1 AND grain = $2 AND bucket >= $3 AND bucket < $4',
      range,
    )) {
      const target = at(bucket);
      if (target && n > 0) target.durationBins.set(bin, (target.durationBins.get(bin) ?? 0) + n);
    }
    return buckets;
  }

  /** Decodes stored spans; `client`: a transaction's connection, which sees the origins it added. */
  private async decodeAll(rows: SpanRow[], client?: pg.PoolClient): Promise<Span[]> {
    const missing = [...new Set(rows.map((r) => r.origin).filter((o) => !this.origins.has(o)))];
    if (missing.length > 0) {
      const text = 'SELECT id, resource, scope FROM origins WHERE id = ANY($1)';
      type OriginRow = { id: number; resource: string; scope: string };
      for (const row of client ? (await client.query<OriginRow>(text, [missing])).rows : await this.query<OriginRow>(text, [missing])) {
        this.origins.set(row.id, { resource: JSON.parse(row.resource) as Attributes, scope: JSON.parse(row.scope) as Span['scope'] });
      }
    }
    return rows.map((row) => decodeBody(row, this.origins.get(row.origin)!));
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.listener?.end().catch(() => {});
    await this.pool.end();
  }
}

function isUnavailable(error: unknown): boolean {
  if (error instanceof StorageUnavailableError) return true;
  const { code, message } = error as { code?: string; message?: string };
  return (code !== undefined && UNAVAILABLE_CODES.has(code)) || /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(message ?? '');
}

/** A lost or refused connection becomes a {@link StorageUnavailableError}; anything else is left as it is. */
function unavailable(error: unknown): unknown {
  if (!isUnavailable(error) || error instanceof StorageUnavailableError) return error;
  return new StorageUnavailableError(`the PostgreSQL database cannot be reached (${(error as Error).message}); retry later`);
}
