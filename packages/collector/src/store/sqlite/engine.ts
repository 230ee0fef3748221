import Database from 'better-sqlite3';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Attributes, Span } from '../../otlp/span.js';
import { MISSED_HEARTBEATS, type ExecutionSummary, type InstanceStart, type SpanRole } from '../../records/aggregate.js';
import type { OrderKey } from '../../records/project.js';
import type { ExecutionStatus, FlowSummary } from '../../records/types.js';
import type {
  Appended,
  IncomingSpan,
  LeasedPayload,
  ListedExecution,
  LegacyHistory,
  ListQuery,
  MetricsRollup,
  MetricsQuery,
  StorageEngine,
  StoredChange,
  StoredExecution,
  WriteTx,
} from '../engine.js';
import { newHistoryId } from '../engine.js';
import { bucketOf, hourIsCut, HOUR, locatePage, MINUTE, RollupBatch, STATUS_CODE, STATUS_OF, rollupEntryOf, type RollupEntry, type RollupRow } from '../rollups.js';
import { bodyOf, decodeBody, instanceOf, ROLE_CODE, spanRowColumns, startMsOf, stepIndexOf, storedExecution, type ExecutionRow, type InstanceRow, type Origin, type SpanRow } from '../rows.js';
import { TurnBudget } from '../../turn-budget.js';
import { Idents, type IdentsSpec } from './idents.js';
import { SCHEMA, SCHEMA_3, SCHEMA_4, SCHEMA_5, SCHEMA_6, SCHEMA_7, SCHEMA_VERSION, userVersion } from './schema.js';
import { Schema1History, SCHEMA_1_ASIDE, SCHEMA_1_INSTANCES } from './upgrade-v1.js';

export interface SqliteEngineOptions {
  /** File path, or `:memory:`. */
  path: string;
  /** New ids gathered before they are merged into their index (see idents.ts; tests lower it). */
  recentIdents?: number;
  /** Search texts gathered before they go into the FTS5 index together (tests lower it). */
  searchBatch?: number;
  /** Where a failed step of background upkeep is told. */
  log?: (message: string) => void;
}

/** An execution row's columns as rows.ts reads them; rows of schema 7 on keep their id in `ident`. */
const EXECUTION_COLUMNS = 'id, coalesce(ident, execution_id) AS execution_id, summary, outcome';

const EXECUTION_IDENTS: IdentsSpec = {
  table: 'executions',
  legacyColumn: 'execution_id',
  merged: 'execution_idents',
  keyOf: (ident) => ident as string,
};

const TRACE_IDENTS: IdentsSpec = {
  table: 'traces',
  legacyColumn: 'trace_id',
  merged: 'trace_idents',
  keyOf: (ident) => (ident as Buffer).toString('hex'),
};

/** Below this offset a page is read with a plain OFFSET; deeper ones seek through the rollups. */
const DIRECT_OFFSET = 1000;
const TRACE_CACHE = 50_000;
/**
 * Identity entries (trace, span id) under one trace key. Span ids are random, so a trace's
 * entries land anywhere in its range of the identity index: past this many spans a trace goes
 * on under a new key (a segment), and a transaction adding to a huge trace rewrites one
 * segment's pages rather than the whole trace's (and journals them: twice the bytes).
 */
const SEGMENT_SPANS = 8192;
/** Past every segment's name: a segment of trace t is named t + its number (4 bytes). */
const SEGMENTS_END = Buffer.alloc(5, 0xff);
/**
 * A span's SpanRow. Its trace id is its trace row's: in `ident` since schema 7, in `trace_id`
 * before; a segment's name goes on past the id's 16 bytes.
 */
const SPAN_ROW = `${spanRowColumns('spans')}, (SELECT substr(coalesce(ident, trace_id), 1, 16) FROM traces WHERE id = spans.trace) AS trace_id`;
const MMAP_BYTES = 1 << 30;
const CACHE_KIB = 64 * 1024;
/** Beyond any real time in ms (the largest valid Date). */
const FAR = 8.64e15;
/** Step-order rows read between two looks at the turn's budget. */
const ORDER_CHUNK = 128;
/**
 * Search texts moved into the FTS5 index by one transaction, and per turn of the event loop
 * within it. FTS5 writes a segment for each transaction's texts and merges segments as they add
 * up: 1,024 texts at once wrote ~55 % fewer bytes and took ~55 % less CPU than the ~80 of an
 * ingest transaction (BENCHMARKS.md). Until then a `q` scans the pending texts, at most about
 * one batch.
 */
const SEARCH_BATCH = 1024;
const SEARCH_TURN = 128;
/**
 * Keyed search entries read once after open, newest first, so that a fresh process's first
 * searches do not fetch them a page at a time (measured on 1,000,000 executions: the first ~30
 * searches took 8–13 ms, then ~3 ms; after a 150 ms scan of the entries, ~2 ms from the first).
 * At most ~1M entries (~19 MB, under a third of the page cache), a chunk a turn of the event loop.
 */
const SEARCH_WARM_ROWS = 1 << 20;
const SEARCH_WARM_CHUNK = 8192;


/** Thrown when another process holds the database file. */
export class DatabaseInUseError extends Error {
  override name = 'DatabaseInUseError';
}

/**
 * The embedded engine: SQLite through better-sqlite3, `synchronous=FULL`, so a committed
 * transaction survives the process and the machine stopping. The file is held with an exclusive
 * lock, so a second collector on the same file is refused at start instead of corrupting the
 * change sequence.
 */
export class SqliteEngine implements StorageEngine {
  private readonly db: Database.Database;
  private readonly sql;
  private seq: number;
  private readonly history: string;
  private chain: Promise<unknown> = Promise.resolve();
  private gate: Promise<void> | undefined;
  private readonly traceKeys = new Map<string, TraceKeys>();
  private readonly originKeys = new WeakMap<object, number>();
  private readonly origins = new Map<number, Origin>();
  private readonly flowKeys = new Map<string, { key: number; name: string }>();
  private readonly instances = new Map<string, InstanceStart[]>();
  private readonly writer: WriteTx;
  /** Executions read by the transaction's keys(), for its executions() (emptied with each transaction). */
  private readonly readAhead = new Map<string, StoredExecution>();
  private readonly executionIdents: Idents;
  private readonly traceIdents: Idents;
  private maintaining: Promise<void> | undefined;
  private closing = false;
  private readonly searchBatch: number;
  /** Search entries carry flow and start (files created since keyed search; see schema.ts). */
  private readonly keyedSearch: boolean;
  private readonly log: (message: string) => void;
  /** The last upkeep failure logged: a failure that repeats is logged once. */
  private upkeepFailure: string | undefined;

  constructor(options: SqliteEngineOptions) {
    this.db = new Database(options.path);
    const db = this.db;
    if (options.path !== ':memory:') {
      db.pragma('locking_mode = EXCLUSIVE');
      db.pragma('busy_timeout = 200');
      try {
        db.exec('BEGIN IMMEDIATE');
        db.exec('COMMIT');
      } catch (error) {
        db.close();
        if ((error as { code?: string }).code?.startsWith('SQLITE_BUSY')) {
          throw new DatabaseInUseError(
            `${options.path} is in use by another process (a second flowtrace collector?). One collector writes a SQLite file; stop the other or give this one another --db.`,
          );
        }
        throw error;
      }
    }
    // A rollback journal, not WAL: this process is the file's only reader and writer, so WAL's
    // concurrent readers buy nothing, while its checkpoints write every page a second time.
    db.pragma('journal_mode = TRUNCATE');
    db.pragma('synchronous = FULL');
    db.pragma('busy_timeout = 5000');
    // Reads come through memory maps and a larger page cache: a list page, or the step order of
    // a 50,000-step execution, touches many pages that a read() per page would make slow.
    db.pragma(`mmap_size = ${MMAP_BYTES}`);
    db.pragma(`cache_size = -${CACHE_KIB}`);
    this.migrate();
    this.keyedSearch = (db.pragma('table_info(search)') as Array<{ name: string }>).some((column) => column.name === 'flow');
    this.sql = statements(db, this.keyedSearch);
    this.executionIdents = new Idents(db, EXECUTION_IDENTS, options.recentIdents);
    this.traceIdents = new Idents(db, TRACE_IDENTS, options.recentIdents);
    this.searchBatch = options.searchBatch ?? SEARCH_BATCH;
    this.log = options.log ?? (() => {});
    // Pending search texts are matched as FTS5 matches them: a substring, case folded.
    db.function('flowtrace_contains', { deterministic: true }, (text, needle) => ((text as string).toLowerCase().includes(needle as string) ? 1 : 0));
    // Upkeep an earlier process left unfinished goes on.
    this.maintain();
    void this.warmSearchKeys();
    this.seq = this.sql.lastSeq.get() as number;
    this.history = db.prepare('SELECT id FROM history').pluck().get() as string;
    this.writer = this.writeTx();
    // The file is this process's alone: a lease left by an earlier one (stopped mid-send) is void.
    this.sql.releaseAllOutbox.run();
  }

  /** Creates or upgrades the schema; schema 1's data is kept aside for {@link legacy}. */
  private migrate(): void {
    const version = userVersion(this.db);
    if (version > SCHEMA_VERSION) {
      throw new Error(
        `the database was written by a newer flowtrace collector (schema ${version}, this one knows ${SCHEMA_VERSION}); upgrade the collector`,
      );
    }
    if (version === SCHEMA_VERSION) return;
    this.db.transaction(() => {
      if (version < 2) {
        if (version === 1) this.db.exec(SCHEMA_1_ASIDE);
        this.db.exec(SCHEMA);
        if (version === 1) this.db.exec(SCHEMA_1_INSTANCES);
      }
      if (version < 3) {
        this.db.exec(SCHEMA_3);
        this.db.prepare('INSERT INTO history (one, id) VALUES (1, ?)').run(newHistoryId());
      }
      if (version < 4) this.db.exec(SCHEMA_4);
      if (version < 5) this.db.exec(SCHEMA_5);
      // Schemas 2 to 5 wrote 10 % duration bins; a new database's durations are empty.
      if (version >= 2 && version < 6) this.db.exec(SCHEMA_6);
      if (version < 7) this.db.exec(SCHEMA_7);
      // Schema 8 writes span bodies without the ids their row keeps, common keys coded (format
      // 3): no data changes, but a collector that knows only format 1 must refuse the file.
      this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
    })();
  }

  legacy(): LegacyHistory | undefined {
    const aside = this.db.prepare(`SELECT 1 FROM sqlite_master WHERE name = 'v1_executions'`).get();
    return aside ? new Schema1History(this.db) : undefined;
  }

  transaction<T>(work: (tx: WriteTx) => Promise<T>): Promise<T> {
    const run = async () => {
      let release!: () => void;
      this.gate = new Promise((resolve) => (release = resolve));
      const seqBefore = this.seq;
      this.db.exec('BEGIN IMMEDIATE');
      try {
        const result = await work(this.writer);
        // The commit writes and syncs the transaction's pages in one call: it gets a turn of
        // the event loop of its own rather than adding to the last turn of `work`.
        await nextTurn();
        this.db.exec('COMMIT');
        this.executionIdents.committed();
        this.traceIdents.committed();
        this.maintain();
        return result;
      } catch (error) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        this.seq = seqBefore;
        this.executionIdents.rolledBack();
        this.traceIdents.rolledBack();
        // Cached keys may name rows the rollback removed.
        this.traceKeys.clear();
        this.flowKeys.clear();
        this.instances.clear();
        throw error;
      } finally {
        this.gate = undefined;
        this.readAhead.clear();
        release();
      }
    };
    const next = this.chain.then(run, run);
    this.chain = next.catch(() => {});
    return next;
  }

  /**
   * Background upkeep, a transaction at a time queued behind the writes already waiting: gathered
   * ids merged into their indexes, pending search texts moved into the FTS5 index. A failed step
   * changes nothing (ids stay found through the map, texts through the scan), is logged, and is
   * tried again after the next commit.
   */
  private maintain(): void {
    if (this.maintaining) return;
    const first = this.upkeepDue();
    if (!first) return;
    this.maintaining = (async () => {
      // Asked again after every step: what gathered meanwhile is done by this same run.
      for (let step: typeof first | undefined = first; step && !this.closing; step = this.upkeepDue()) await this.transaction(step);
      this.upkeepFailure = undefined;
    })()
      .catch((error: unknown) => {
        const message = error instanceof Error ? error.message : String(error);
        if (message !== this.upkeepFailure) this.log(`SQLite background upkeep failed (tried again after the next commit): ${message}`);
        this.upkeepFailure = message;
      })
      .finally(() => (this.maintaining = undefined));
  }

  private upkeepDue(): (() => Promise<void>) | undefined {
    const idents = [this.executionIdents, this.traceIdents].find((i) => i.merging);
    if (idents) return async () => idents.mergeChunk();
    if ((this.sql.searchPendingCount.get() as number) >= this.searchBatch) return () => this.indexSearchBatch();
    return undefined;
  }

  /** The oldest pending search texts into the FTS5 index, in turns of the event loop within one transaction. */
  private async indexSearchBatch(): Promise<void> {
    for (let moved = 0; moved < this.searchBatch; moved += SEARCH_TURN) {
      const turn = Math.min(SEARCH_TURN, this.searchBatch - moved);
      this.sql.indexPendingSearch.run(turn);
      this.sql.dropIndexedSearch.run(turn);
      await nextTurn();
    }
  }

  /**
   * Reads the keyed search entries' flow and start (FTS5 keeps them in its `search_content`
   * table), newest first, in the background: see {@link SEARCH_WARM_ROWS}. Nothing depends on
   * it; a failure is logged.
   */
  private async warmSearchKeys(): Promise<void> {
    const warm = this.sql.warmSearchKeys;
    if (!warm) return;
    try {
      let before = FAR;
      for (let read = 0; read < SEARCH_WARM_ROWS; read += SEARCH_WARM_CHUNK) {
        await nextTurn();
        if (this.closing) return;
        const oldest = warm.get(before, SEARCH_WARM_CHUNK) as number | null;
        if (oldest === null) return;
        before = oldest;
      }
    } catch (error) {
      this.log(`SQLite search warm-up stopped: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  /** Resolves once no write transaction and no upkeep is under way (for tests and benchmarks). */
  async idle(): Promise<void> {
    for (;;) {
      await (this.maintaining ?? this.chain);
      if (!this.maintaining) return;
    }
  }

  /** Reads wait for a write transaction in progress: they must never see uncommitted rows. */
  private async read<T>(fn: () => T): Promise<T> {
    while (this.gate) await this.gate;
    return fn();
  }

  private writeTx(): WriteTx {
    const sql = () => this.sql;
    // One writer: nothing to lock, and a new execution is made in the transaction that names it.
    const executions = (ids: readonly string[]) => {
      const found = new Map<string, StoredExecution>();
      for (const id of ids) {
        const row = this.executionRow(id);
        if (row) found.set(id, storedExecution(row));
        else {
          const key = Number(sql().insertExecution.run(id, this.executionIdents.floor).lastInsertRowid);
          this.executionIdents.add(id, key);
          found.set(id, { key, id, summary: { steps: 0 } });
        }
      }
      return found;
    };
    return {
      // The rows are read once, with the keys; nothing else writes them before executions() asks.
      keys: async (ids) => {
        const found = executions(ids);
        for (const [id, execution] of found) this.readAhead.set(id, execution);
        return new Map([...found.values()].map((e) => [e.id, e.key]));
      },
      executions: async (ids) => {
        const ahead = ids.every((id) => this.readAhead.has(id));
        const found = ahead ? new Map(ids.map((id) => [id, this.readAhead.get(id)!])) : executions(ids);
        this.readAhead.clear();
        return found;
      },
      appendSpans: async (spans, keys) => spans.map((incoming) => this.appendSpan(incoming, keys)),
      moveSpan: async (incoming, to) => {
        const { span } = incoming;
        const { keys } = this.traceOf(span.traceId);
        sql().moveSpan.over(keys.length).run(...this.spanColumns(incoming, to), ...keys, Buffer.from(span.spanId, 'hex'));
      },
      executionSpans: async (key) => (sql().spansOfExecution.all(key) as SpanRow[]).map((row) => this.decode(row)),
      putExecutions: async (updates) => {
        const rollups = new RollupBatch();
        const changes = updates.flatMap((update) => {
          if (update.listed) return [this.putExecution(update.key, update.summary, update.listed, rollups)];
          if (update.unlisted) {
            rollups.move(rollupEntryOf(sql().rollupEntry.get(update.key) as RollupRow), undefined);
            sql().unlistExecution.run(JSON.stringify(update.summary), update.key);
            this.forgetSearch(update.key);
          } else {
            sql().updateSummary.run(JSON.stringify(update.summary), update.key);
          }
          return [];
        });
        this.applyRollups(rollups);
        return changes;
      },
      addInstanceStart: async ({ serviceName, instanceId, startedAt, replicaId }) => {
        if (sql().addInstance.run(serviceName, instanceId, startedAt, replicaId ?? null).changes > 0) this.instances.delete(serviceName);
      },
      instanceStarts: async (serviceName) => this.instanceStarts(serviceName),
      instanceSeen: async ({ serviceName, instanceId, heartbeatMs, at }) => {
        sql().instanceSeen.run(serviceName, instanceId, heartbeatMs, at);
        this.instances.delete(serviceName);
      },
      livenessOf: async (now) => (sql().livenessOf.all(MISSED_HEARTBEATS, now) as InstanceRow[]).map(instanceOf),
      markGone: async (instances, now) => {
        for (const { serviceName, instanceId } of instances) sql().markGone.run(now, serviceName, instanceId);
      },
      pendingPastDeadline: async (now, limit) => (sql().pendingPastDeadline.all(now, limit) as ExecutionRow[]).map(storedExecution),
      pendingOfService: async (serviceName) => (sql().pendingOfService.all(serviceName) as ExecutionRow[]).map(storedExecution),
      deleteFlow: async (flowId, now) => sql().deleteFlow.run(now, flowId).changes > 0,
      removeStartedBefore: async (cutoff, limit) => this.removeStartedBefore(cutoff, limit),
      enqueueOutbox: async (entries, now) => {
        for (const { destination, contentType, payload } of entries) sql().enqueueOutbox.run(destination, now, contentType, payload.byteLength, payload);
      },
      leaseOutbox: async (destination, limit, until, now) => {
        const rows = sql().leasable.all(destination, now, limit) as Array<{ id: number; content_type: string; payload: Buffer }>;
        for (const row of rows) sql().leaseOutbox.run(until, row.id);
        return rows.map((row): LeasedPayload => ({ id: row.id, contentType: row.content_type, payload: row.payload }));
      },
      releaseOutbox: async (ids) => {
        for (const id of ids) sql().releaseOutbox.run(id);
      },
      deleteOutbox: async (ids) => {
        for (const id of ids) sql().deleteOutbox.run(id);
      },
      trimOutbox: async (destination, maxBytes) => sql().trimOutbox.run(destination, destination, maxBytes).changes,
      removeOutboxBefore: async (cutoff) => sql().removeOutboxBefore.run(cutoff).changes,
    };
  }

  private appendSpan(incoming: IncomingSpan, keys: ReadonlyMap<string, number>): Appended {
    const { span, executionId } = incoming;
    const trace = this.traceOf(span.traceId);
    const spanId = Buffer.from(span.spanId, 'hex');
    const key = executionId === undefined ? null : (keys.get(executionId) ?? null);
    // A copy in an earlier segment is found first: the unique index only guards the latest.
    const earlier = trace.keys.slice(0, -1);
    const latest = trace.keys.at(-1)!;
    let holder = earlier.length > 0 ? (this.sql.spanHolder.over(earlier.length).get(...earlier, spanId) as { key: number | null } | undefined) : undefined;
    if (!holder) {
      if (this.sql.appendSpan.run(latest, spanId, ...this.spanColumns(incoming, key)).changes > 0) {
        this.counted(trace);
        return 'new';
      }
      if (key === null) return 'again';
      holder = this.sql.spanHolder.over(1).get(latest, spanId) as { key: number | null };
    }
    if (key === null || holder.key === key) return 'again';
    if (holder.key === null) return { heldBy: { key: 0 } };
    return { heldBy: { key: holder.key, id: this.sql.executionIdOf.get(holder.key) as string } };
  }

  /** A span's columns after its identity (trace, span id), as appendSpan and moveSpan write them. */
  private spanColumns({ span, role, wire }: IncomingSpan, execution: number | null) {
    const { format, body } = bodyOf(span, wire);
    return [
      execution,
      ROLE_CODE[role],
      span.parentSpanId ? Buffer.from(span.parentSpanId, 'hex') : null,
      stepIndexOf(span),
      startMsOf(span),
      this.originKey(span.resource, span.scope),
      format,
      body,
    ] as const;
  }

  /** The keys a trace's spans are stored under, one per segment, made for a trace never seen. */
  private traceOf(traceId: string): TraceKeys {
    const cached = this.traceKeys.get(traceId);
    if (cached !== undefined) return cached;
    const name = Buffer.from(traceId, 'hex');
    const keys = this.segmentKeys(name);
    const trace: TraceKeys =
      keys.length === 0 ? { name, keys: [this.insertTrace(name)], latestSpans: 0 } : { name, keys, latestSpans: this.sql.spansUnder.get(keys.at(-1)) as number };
    if (this.traceKeys.size >= TRACE_CACHE) this.traceKeys.clear();
    this.traceKeys.set(traceId, trace);
    return trace;
  }

  /** A trace's keys in segment order (its own name sorts before its segments'). */
  private segmentKeys(name: Buffer): number[] {
    return this.traceIdents.range(name, Buffer.concat([name, SEGMENTS_END]), (segment) => segmentName(name, segment));
  }

  private insertTrace(name: Buffer): number {
    const key = Number(this.sql.insertTrace.run(name, this.traceIdents.floor).lastInsertRowid);
    this.traceIdents.add(name, key);
    return key;
  }

  private executionRow(id: string): ExecutionRow | undefined {
    const key = this.executionIdents.find(id);
    return key === undefined ? undefined : (this.sql.executionByKey.get(key) as ExecutionRow | undefined);
  }

  /** One more span in the trace's latest segment; a full one is followed by a new segment. */
  private counted(trace: TraceKeys): void {
    if (++trace.latestSpans < SEGMENT_SPANS) return;
    trace.keys.push(this.insertTrace(segmentName(trace.name, trace.keys.length)));
    trace.latestSpans = 0;
  }

  /** Spans decoded from one scope of one request share their resource and scope objects. */
  private originKey(resource: Attributes, scope: Span['scope']): number {
    const cached = this.originKeys.get(scope);
    if (cached !== undefined) return cached;
    const resourceText = JSON.stringify(resource);
    const scopeText = JSON.stringify(scope);
    let key = this.sql.originKey.get(resourceText, scopeText) as number | undefined;
    if (key === undefined) key = Number(this.sql.insertOrigin.run(resourceText, scopeText).lastInsertRowid);
    this.originKeys.set(scope, key);
    return key;
  }

  private putExecution(key: number, summary: ExecutionSummary, update: ListedExecution, rollups: RollupBatch): number {
    const before = this.sql.rollupEntry.get(key) as RollupRow;
    const flowKey = this.flowKey(update.flowId, update.flowName);
    const seq = ++this.seq;
    this.sql.updateExecution.run({
      key,
      flow: flowKey,
      status: STATUS_CODE[update.outcome.status],
      startedAt: update.startedAtMs,
      durationMs: update.durationMs ?? null,
      deadline: update.outcome.status === 'pending' ? update.deadline : null,
      service: update.serviceName,
      seq,
      summary: JSON.stringify(summary),
      outcome: JSON.stringify(update.outcome),
    });
    const after: RollupEntry = { flowKey, startedAtMs: update.startedAtMs, status: update.outcome.status };
    if (update.durationMs !== undefined) after.durationMs = update.durationMs;
    rollups.move(rollupEntryOf(before), after);
    if (update.searchText !== undefined) {
      if (update.replacesSearch) this.forgetSearch(key);
      this.sql.insertSearch.run(key, update.searchText);
    } else if (before.flow !== null && (before.flow !== flowKey || before.started_at !== update.startedAtMs)) {
      // A listed execution's entry follows it (a pending text takes them when it is indexed).
      this.sql.moveSearch?.run(flowKey, update.startedAtMs, key);
    }
    return seq;
  }

  /** An execution's search text goes: pending, or else in the FTS5 index (never both). */
  private forgetSearch(key: number): void {
    if (this.sql.deletePendingSearch.run(key).changes === 0) this.sql.deleteSearch.run(key);
  }

  private applyRollups(rollups: RollupBatch): void {
    for (const c of rollups.counts.values()) if (c.n !== 0) this.sql.addCount.run(c.flowKey, c.grain, c.bucket, c.status, c.n);
    for (const d of rollups.durations.values()) if (d.n !== 0) this.sql.addDuration.run(d.flowKey, d.grain, d.bucket, d.bin, d.n);
    for (const f of rollups.flows.values()) if (f.n !== 0) this.sql.flowCount[f.status].run(f.n, f.flowKey);
  }

  /** A flow's key; the latest name wins. */
  private flowKey(flowId: string, flowName: string): number {
    const cached = this.flowKeys.get(flowId);
    if (cached && cached.name === flowName) return cached.key;
    const key = this.sql.upsertFlow.get(flowId, flowName) as number;
    this.flowKeys.set(flowId, { key, name: flowName });
    return key;
  }

  private instanceStarts(serviceName: string): InstanceStart[] {
    let starts = this.instances.get(serviceName);
    if (!starts) {
      starts = (this.sql.instancesOf.all(serviceName) as InstanceRow[]).map(instanceOf);
      this.instances.set(serviceName, starts);
    }
    return starts;
  }

  private removeStartedBefore(cutoff: number, limit: number): number {
    const rows = this.sql.startedBefore.all(cutoff, limit) as Array<{ id: number; ident: string; flow: number; status: number; started_at: number; duration_ms: number | null }>;
    const traces = new Set<string>();
    const rollups = new RollupBatch();
    for (const row of rows) {
      for (const name of this.sql.tracesOfExecution.all(row.id) as Buffer[]) traces.add(name.subarray(0, 16).toString('hex'));
      this.sql.deleteSpansOfExecution.run(row.id);
      this.forgetSearch(row.id);
      rollups.move(rollupEntryOf(row), undefined);
      this.sql.deleteExecution.run(row.id);
      this.executionIdents.removed(row.ident);
    }
    this.applyRollups(rollups);
    for (const trace of traces) {
      const keys = this.segmentKeys(Buffer.from(trace, 'hex'));
      this.sql.deleteOrphanSpans.over(keys.length).run(...keys, ...keys);
    }
    return rows.length;
  }

  // Reads

  execution(id: string): Promise<StoredExecution | undefined> {
    return this.read(() => {
      const row = this.executionRow(id);
      return row ? storedExecution(row) : undefined;
    });
  }

  executionSpans(key: number, roles?: readonly SpanRole[]): Promise<Span[]> {
    return this.read(() => {
      const rows = roles
        ? [...new Set(roles.map((r) => ROLE_CODE[r]))].flatMap((role) => this.sql.spansOfExecutionInRole.all(key, role) as SpanRow[])
        : (this.sql.spansOfExecution.all(key) as SpanRow[]);
      return rows.map((row) => this.decode(row));
    });
  }

  async stepOrder(key: number, role: 'step' | 'step-marker' = 'step'): Promise<OrderKey[]> {
    // In chunks, the event loop's turn budget looked at between them: a 50,000-step execution
    // read at once held the loop for hundreds of milliseconds. Ids come as hex text, not as a
    // Buffer a row.
    const order: OrderKey[] = [];
    const budget = new TurnBudget();
    for (let after = 0; ; ) {
      const rows = await this.read(() => this.sql.stepOrder.all(key, ROLE_CODE[role], after, ORDER_CHUNK) as OrderRow[]);
      for (const row of rows) order.push({ spanId: row.span_id, parentSpanId: row.parent_id || null, index: row.step_index, startMs: row.start_ms, ref: row.id });
      if (rows.length < ORDER_CHUNK) return order;
      after = rows.at(-1)!.id;
      await budget.pause();
    }
  }

  stepSpans(_key: number, steps: readonly OrderKey[]): Promise<Span[]> {
    return this.read(() => steps.map((step) => this.decode(this.sql.spanByRef.get(step.ref) as SpanRow)));
  }

  listExecutions(query: ListQuery): Promise<{ executions: StoredExecution[]; total: number }> {
    return this.read(() => {
      const flow = this.sql.flowKeyOf.get(query.flowId) as number | undefined;
      if (flow === undefined) return { executions: [], total: 0 };
      const statuses = query.statuses && query.statuses.length < STATUS_OF.length ? query.statuses.map((s) => STATUS_CODE[s]) : undefined;
      const where = ['flow = @flow'];
      const params: Record<string, unknown> = { flow, limit: query.limit, offset: query.offset };
      // Statements are built from these fixed fragments only; every value is bound.
      if (query.from !== undefined) {
        where.push('started_at >= @from');
        params.from = query.from;
      }
      if (query.to !== undefined) {
        where.push('started_at < @to');
        params.to = query.to;
      }
      if (query.q !== undefined) return this.search(where, statuses, { ...params, match: `"${query.q.replace(/"/g, '""')}"`, needle: query.q.toLowerCase() });
      const counted = this.countsByHour(flow, statuses, query.from, query.to);
      const total = counted.reduce((sum, [, n]) => sum + n, 0);
      if (query.offset < DIRECT_OFFSET) return { executions: this.page(where, statuses, params), total };
      const start = locatePage(counted, query.offset, query.to);
      if (!start) return { executions: [], total };
      const clause = [...where.filter((w) => !w.startsWith('started_at <')), 'started_at < @before'];
      return { executions: this.page(clause, statuses, { ...params, ...start }), total };
    });
  }

  /**
   * A page in list order. Several statuses are read as one index range each and merged: an IN
   * over the status index cannot keep the order, and would sort every match.
   */
  private page(where: string[], statuses: number[] | undefined, params: Record<string, unknown>): StoredExecution[] {
    const order = 'ORDER BY started_at DESC, id DESC';
    if (!statuses || statuses.length === 1) {
      const clause = statuses ? [...where, `status = ${statuses[0]}`] : where;
      const rows = this.db.prepare(`SELECT ${EXECUTION_COLUMNS} FROM executions WHERE ${clause.join(' AND ')} ${order} LIMIT @limit OFFSET @offset`).all(params);
      return (rows as ExecutionRow[]).map(storedExecution);
    }
    const wanted = (params.offset as number) + (params.limit as number);
    const rows = statuses.flatMap(
      (status) =>
        this.db
          .prepare(`SELECT started_at, ${EXECUTION_COLUMNS} FROM executions WHERE ${[...where, `status = ${status}`].join(' AND ')} ${order} LIMIT ${wanted}`)
          .all(params) as Array<ExecutionRow & { started_at: number }>,
    );
    rows.sort((a, b) => b.started_at - a.started_at || b.id - a.id);
    return rows.slice(params.offset as number, wanted).map(storedExecution);
  }

  /**
   * `q`: the search index names the matches — with their flow and start where its entries keep
   * them, else read from each match's execution (CROSS JOIN keeps SQLite from walking the flow's
   * list instead) — and the pending texts not in it yet are scanned; each is checked against the
   * other filters, then counted and paged. Only the page's executions are read whole.
   */
  private search(where: string[], statuses: number[] | undefined, params: Record<string, unknown>) {
    const clause = where.map((w) => `e.${w}`);
    if (statuses) clause.push(`e.status IN (${statuses.join(', ')})`);
    // Keyed entries answer flow and time filters themselves; a status (which changes after the
    // entry is written) still reads each match's execution.
    const indexed =
      this.keyedSearch && !statuses
        ? `SELECT rowid, started_at FROM search WHERE ${[...where, 'search MATCH @match'].join(' AND ')}`
        : `SELECT e.id, e.started_at FROM search CROSS JOIN executions e ON e.id = search.rowid WHERE ${[...clause, 'search MATCH @match'].join(' AND ')}`;
    const matches = this.db
      .prepare(
        `${indexed}
         UNION ALL
         SELECT e.id, e.started_at FROM search_pending p CROSS JOIN executions e ON e.id = p.id WHERE ${[...clause, 'flowtrace_contains(p.params, @needle)'].join(' AND ')}`,
      )
      .raw()
      .all(params) as Array<[number, number]>;
    matches.sort((a, b) => b[1] - a[1] || b[0] - a[0]);
    const page = matches.slice(params.offset as number, (params.offset as number) + (params.limit as number));
    return { executions: page.map(([id]) => storedExecution(this.sql.executionByKey.get(id) as ExecutionRow)), total: matches.length };
  }

  /** Executions per hour, newest hour first; hours cut by `from`/`to` are counted exactly. */
  private countsByHour(flow: number, statuses: number[] | undefined, from: number | undefined, to: number | undefined): Array<[number, number]> {
    const statusClause = statuses ? `AND status IN (${statuses.join(', ')})` : '';
    const rows = this.db
      .prepare(
        `SELECT bucket, sum(n) AS n FROM counts WHERE flow = ? AND grain = ${HOUR} ${statusClause} AND bucket >= ? AND bucket < ?
         GROUP BY bucket HAVING sum(n) > 0 ORDER BY bucket DESC`,
      )
      .raw()
      .all(flow, from === undefined ? -FAR : bucketOf(from, HOUR), to === undefined ? FAR : to) as Array<[number, number]>;
    const exact = (hour: number) =>
      this.db
        .prepare(`SELECT count(*) FROM executions WHERE flow = ? ${statusClause} AND started_at >= ? AND started_at < ?`)
        .pluck()
        .get(flow, Math.max(hour, from ?? -FAR), Math.min(hour + HOUR, to ?? FAR)) as number;
    return rows
      .map(([hour, n]): [number, number] => (hourIsCut(hour, from, to) ? [hour, exact(hour)] : [hour, n]))
      .filter(([, n]) => n > 0);
  }

  listFlows(): Promise<FlowSummary[]> {
    return this.read(() =>
      (this.sql.flows.all() as Array<{ id: number; flow_id: string; flow_name: string; n: number; deleted_at: number | null }>).map((row) => {
        const last = this.sql.lastOfFlow.get(row.id) as { status: number; started_at: number } | undefined;
        return {
          flowId: row.flow_id,
          flowName: row.flow_name,
          executionCount: row.n,
          lastStatus: last ? STATUS_OF[last.status]! : null,
          lastStartedAt: last ? new Date(Math.floor(last.started_at)).toISOString() : null,
          deleted: row.deleted_at !== null,
          deletedAt: row.deleted_at === null ? null : new Date(Math.floor(row.deleted_at)).toISOString(),
        };
      }),
    );
  }

  trace(traceId: string): Promise<Span[]> {
    return this.read(() => {
      const keys = this.segmentKeys(Buffer.from(traceId, 'hex'));
      return keys.flatMap((key) => this.sql.spansOfTrace.all(key) as SpanRow[]).map((row) => this.decode(row));
    });
  }

  changesSince(seq: number, flowId: string | undefined, limit: number): Promise<StoredChange[]> {
    return this.read(() => {
      const rows = (
        flowId === undefined ? this.sql.changesSince.all(seq, limit) : this.sql.changesSinceOfFlow.all(seq, flowId, limit)
      ) as Array<ExecutionRow & { seq: number }>;
      return rows.map((row) => ({ seq: row.seq, execution: storedExecution(row) }));
    });
  }

  historyId(): Promise<string> {
    return Promise.resolve(this.history);
  }

  outboxSize(destination: string): Promise<{ payloads: number; bytes: number }> {
    return this.read(() => this.sql.outboxSize.get(destination) as { payloads: number; bytes: number });
  }

  lastSeq(): Promise<number> {
    return this.read(() => this.seq);
  }

  metrics(query: MetricsQuery): Promise<MetricsRollup[]> {
    return this.read(() => {
      const first = bucketOf(query.from, query.bucketMs);
      const buckets: MetricsRollup[] = [];
      for (let start = first; start < query.to; start += query.bucketMs) {
        buckets.push({ start, counts: { pending: 0, fulfilled: 0, error: 0 }, durationBins: new Map() });
      }
      const flow = this.sql.flowKeyOf.get(query.flowId) as number | undefined;
      if (flow === undefined) return buckets;
      const grain = query.bucketMs >= HOUR && query.bucketMs % HOUR === 0 ? HOUR : MINUTE;
      const at = (bucket: number) => buckets[Math.floor((bucket - first) / query.bucketMs)];
      for (const [bucket, status, n] of this.sql.countsIn.raw().all(flow, grain, first, query.to) as Array<[number, number, number]>) {
        const target = at(bucket);
        if (target) target.counts[STATUS_OF[status] as ExecutionStatus] += n;
      }
      for (const [bucket, bin, n] of this.sql.durationsIn.raw().all(flow, grain, first, query.to) as Array<[number, number, number]>) {
        const target = at(bucket);
        if (target && n > 0) target.durationBins.set(bin, (target.durationBins.get(bin) ?? 0) + n);
      }
      return buckets;
    });
  }

  private decode(row: SpanRow): Span {
    let origin = this.origins.get(row.origin);
    if (!origin) {
      const texts = this.sql.origin.get(row.origin) as { resource: string; scope: string };
      origin = { resource: JSON.parse(texts.resource) as Attributes, scope: JSON.parse(texts.scope) as Span['scope'] };
      this.origins.set(row.origin, origin);
    }
    return decodeBody(row, origin);
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.chain;
    if (this.db.open) this.db.close();
  }
}


/** The name of a trace's segment: the trace id, then past the first the segment's number (4 bytes). */
function segmentName(name: Buffer, segment: number): Buffer {
  if (segment === 0) return name;
  const suffix = Buffer.alloc(4);
  suffix.writeUInt32BE(segment);
  return Buffer.concat([name, suffix]);
}

/** A step's order columns, ids as lowercase hex ('' for no parent). */
interface OrderRow {
  id: number;
  span_id: string;
  parent_id: string;
  step_index: number | null;
  start_ms: number;
}

/** A trace's keys (see SEGMENT_SPANS), the latest last, and how many spans that one holds. */
interface TraceKeys {
  name: Buffer;
  keys: number[];
  latestSpans: number;
}

/** A statement over a trace's keys (`$keys` becomes `?, …`), prepared once per number of keys. */
class OverKeys {
  private readonly prepared = new Map<number, Database.Statement>();

  constructor(
    private readonly db: Database.Database,
    private readonly text: string,
  ) {}

  over(keys: number): Database.Statement {
    let statement = this.prepared.get(keys);
    if (!statement) {
      statement = this.db.prepare(this.text.replaceAll('$keys', Array(keys).fill('?').join(', ')));
      this.prepared.set(keys, statement);
    }
    return statement;
  }
}

function statements(db: Database.Database, keyedSearch: boolean) {
  const flowCount = (column: ExecutionStatus) => db.prepare(`UPDATE flows SET ${column} = ${column} + ? WHERE id = ?`);
  const executionColumns = EXECUTION_COLUMNS;
  return {
    lastSeq: db.prepare('SELECT coalesce(max(seq), 0) FROM executions').pluck(),
    executionByKey: db.prepare(`SELECT ${executionColumns} FROM executions WHERE id = ?`),
    executionIdOf: db.prepare('SELECT coalesce(ident, execution_id) FROM executions WHERE id = ?').pluck(),
    // Keys above the idents' floor; the old unique column gets a placeholder growing with the key.
    insertExecution: db.prepare(
      `INSERT INTO executions (id, execution_id, ident, summary)
       SELECT k, unhex(printf('%016X', k)), ?, '{"steps":0}' FROM (SELECT max((SELECT coalesce(max(id), 0) FROM executions), ?) + 1 AS k)`,
    ),
    spansUnder: db.prepare('SELECT count(*) FROM spans WHERE trace = ?').pluck(),
    insertTrace: db.prepare(
      'INSERT INTO traces (id, trace_id, ident) SELECT k, k, ? FROM (SELECT max((SELECT coalesce(max(id), 0) FROM traces), ?) + 1 AS k)',
    ),
    originKey: db.prepare('SELECT id FROM origins WHERE resource = ? AND scope = ?').pluck(),
    insertOrigin: db.prepare('INSERT INTO origins (resource, scope) VALUES (?, ?)'),
    origin: db.prepare('SELECT resource, scope FROM origins WHERE id = ?'),
    appendSpan: db.prepare(
      `INSERT INTO spans (trace, span_id, execution, role, parent_id, step_index, start_ms, origin, format, body)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (trace, span_id) DO NOTHING`,
    ),
    spanHolder: new OverKeys(
      db,
      'SELECT execution AS key FROM spans WHERE trace IN ($keys) AND span_id = ?',
    ),
    moveSpan: new OverKeys(
      db,
      `UPDATE spans SET execution = ?, role = ?, parent_id = ?, step_index = ?, start_ms = ?, origin = ?, format = ?, body = ?
       WHERE trace IN ($keys) AND span_id = ?`,
    ),
    updateSummary: db.prepare('UPDATE executions SET summary = ? WHERE id = ?'),
    unlistExecution: db.prepare(
      `UPDATE executions SET flow = NULL, status = NULL, started_at = NULL, duration_ms = NULL, deadline = NULL, service = NULL,
         seq = NULL, outcome = NULL, summary = ? WHERE id = ?`,
    ),
    rollupEntry: db.prepare('SELECT flow, status, started_at, duration_ms FROM executions WHERE id = ?'),
    updateExecution: db.prepare(
      `UPDATE executions SET flow = @flow, status = @status, started_at = @startedAt, duration_ms = @durationMs,
         deadline = @deadline, service = @service, seq = @seq, summary = @summary, outcome = @outcome
       WHERE id = @key`,
    ),
    upsertFlow: db
      .prepare(
        `INSERT INTO flows (flow_id, flow_name) VALUES (?, ?)
         ON CONFLICT (flow_id) DO UPDATE SET flow_name = excluded.flow_name RETURNING id`,
      )
      .pluck(),
    flowCount: { pending: flowCount('pending'), fulfilled: flowCount('fulfilled'), error: flowCount('error') },
    addCount: db.prepare(
      `INSERT INTO counts (flow, grain, bucket, status, n) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (flow, grain, bucket, status) DO UPDATE SET n = n + excluded.n`,
    ),
    addDuration: db.prepare(
      `INSERT INTO durations (flow, grain, bucket, bin, n) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (flow, grain, bucket, bin) DO UPDATE SET n = n + excluded.n`,
    ),
    deleteSearch: db.prepare('DELETE FROM search WHERE rowid = ?'),
    insertSearch: db.prepare('INSERT INTO search_pending (id, params) VALUES (?, ?)'),
    deletePendingSearch: db.prepare('DELETE FROM search_pending WHERE id = ?'),
    searchPendingCount: db.prepare('SELECT count(*) FROM search_pending').pluck(),
    indexPendingSearch: db.prepare(
      keyedSearch
        ? `INSERT INTO search (rowid, params, flow, started_at)
             SELECT p.id, p.params, e.flow, e.started_at FROM search_pending p CROSS JOIN executions e ON e.id = p.id ORDER BY p.id LIMIT ?`
        : 'INSERT INTO search (rowid, params) SELECT id, params FROM search_pending ORDER BY id LIMIT ?',
    ),
    /** The oldest of the next keyed search entries read (loading their pages), or null past the last. */
    warmSearchKeys: keyedSearch
      ? db.prepare('SELECT min(id) FROM (SELECT id, c1, c2 FROM search_content WHERE id < ? ORDER BY id DESC LIMIT ?)').pluck()
      : undefined,
    /** An indexed entry follows its execution to another flow or start (keyed search only). */
    moveSearch: keyedSearch ? db.prepare('UPDATE search SET flow = ?, started_at = ? WHERE rowid = ?') : undefined,
    dropIndexedSearch: db.prepare('DELETE FROM search_pending WHERE id IN (SELECT id FROM search_pending ORDER BY id LIMIT ?)'),
    addInstance: db.prepare('INSERT OR IGNORE INTO instances (service_name, instance_id, started_at, replica_id) VALUES (?, ?, ?, ?)'),
    instancesOf: db.prepare(
      `SELECT i.service_name AS serviceName, i.instance_id AS instanceId, i.started_at AS startedAt, i.replica_id AS replicaId,
              l.heartbeat_ms AS heartbeatMs, l.last_seen_at AS lastSeenAt
         FROM instances i LEFT JOIN liveness l ON l.service_name = i.service_name AND l.instance_id = i.instance_id
        WHERE i.service_name = ?`,
    ),
    // A late heartbeat never moves the last-seen time back, nor revives a process it was not after.
    instanceSeen: db.prepare(
      `INSERT INTO liveness (service_name, instance_id, heartbeat_ms, last_seen_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (service_name, instance_id) DO UPDATE SET
         heartbeat_ms = excluded.heartbeat_ms,
         gone_at = CASE WHEN excluded.last_seen_at > last_seen_at THEN NULL ELSE gone_at END,
         last_seen_at = max(last_seen_at, excluded.last_seen_at)`,
    ),
    livenessOf: db.prepare(
      `SELECT l.service_name AS serviceName, l.instance_id AS instanceId, i.started_at AS startedAt, i.replica_id AS replicaId,
              l.heartbeat_ms AS heartbeatMs, l.last_seen_at AS lastSeenAt
         FROM liveness l LEFT JOIN instances i ON i.service_name = l.service_name AND i.instance_id = l.instance_id
        WHERE l.gone_at IS NULL AND l.last_seen_at + ? * l.heartbeat_ms < ?`,
    ),
    markGone: db.prepare('UPDATE liveness SET gone_at = ? WHERE service_name = ? AND instance_id = ?'),
    pendingPastDeadline: db.prepare(`SELECT ${executionColumns} FROM executions WHERE status = 0 AND deadline <= ? LIMIT ?`),
    pendingOfService: db.prepare(`SELECT ${executionColumns} FROM executions WHERE status = 0 AND service = ?`),
    deleteFlow: db.prepare('UPDATE flows SET deleted_at = ? WHERE flow_id = ?'),
    // Per flow, through the list index: no index of its own to keep up on every write.
    startedBefore: db.prepare(
      `SELECT id, coalesce(ident, execution_id) AS ident, flow, status, started_at, duration_ms FROM executions
       WHERE flow IN (SELECT id FROM flows) AND started_at < ? ORDER BY flow, started_at LIMIT ?`,
    ),
    tracesOfExecution: db.prepare('SELECT DISTINCT coalesce(t.ident, t.trace_id) FROM spans s JOIN traces t ON t.id = s.trace WHERE s.execution = ?').pluck(),
    deleteSpansOfExecution: db.prepare('DELETE FROM spans WHERE execution = ?'),
    deleteExecution: db.prepare('DELETE FROM executions WHERE id = ?'),
    deleteOrphanSpans: new OverKeys(
      db,
      `DELETE FROM spans WHERE trace IN ($keys) AND execution IS NULL
         AND NOT EXISTS (SELECT 1 FROM spans WHERE trace IN ($keys) AND execution IS NOT NULL)`,
    ),
    spansOfExecution: db.prepare(`SELECT ${SPAN_ROW} FROM spans WHERE execution = ?`),
    spansOfExecutionInRole: db.prepare(`SELECT ${SPAN_ROW} FROM spans WHERE execution = ? AND role = ?`),
    stepOrder: db.prepare(
      'SELECT id, lower(hex(span_id)) AS span_id, lower(hex(parent_id)) AS parent_id, step_index, start_ms FROM spans WHERE execution = ? AND role = ? AND id > ? ORDER BY id LIMIT ?',
    ),
    spanByRef: db.prepare(`SELECT ${SPAN_ROW} FROM spans WHERE id = ?`),
    spansOfTrace: db.prepare(`SELECT ${SPAN_ROW} FROM spans WHERE trace = ?`),
    flowKeyOf: db.prepare('SELECT id FROM flows WHERE flow_id = ?').pluck(),
    flows: db.prepare(
      `SELECT id, flow_id, flow_name, pending + fulfilled + error AS n, deleted_at FROM flows ORDER BY flow_name, flow_id`,
    ),
    lastOfFlow: db.prepare('SELECT status, started_at FROM executions WHERE flow = ? ORDER BY started_at DESC, id DESC LIMIT 1'),
    changesSince: db.prepare(`SELECT seq, ${EXECUTION_COLUMNS} FROM executions WHERE seq > ? ORDER BY seq LIMIT ?`),
    changesSinceOfFlow: db.prepare(
      `SELECT seq, ${EXECUTION_COLUMNS} FROM executions WHERE seq > ? AND flow = (SELECT id FROM flows WHERE flow_id = ?) ORDER BY seq LIMIT ?`,
    ),
    countsIn: db.prepare('SELECT bucket, status, n FROM counts WHERE flow = ? AND grain = ? AND bucket >= ? AND bucket < ?'),
    durationsIn: db.prepare('SELECT bucket, bin, n FROM durations WHERE flow = ? AND grain = ? AND bucket >= ? AND bucket < ?'),
    ...outboxStatements(db),
  };
}

function outboxStatements(db: Database.Database) {
  return {
    enqueueOutbox: db.prepare('INSERT INTO outbox (destination, queued_at, content_type, bytes, payload) VALUES (?, ?, ?, ?, ?)'),
    leasable: db.prepare('SELECT id, content_type, payload FROM outbox WHERE destination = ? AND leased_until <= ? ORDER BY id LIMIT ?'),
    leaseOutbox: db.prepare('UPDATE outbox SET leased_until = ? WHERE id = ?'),
    releaseOutbox: db.prepare('UPDATE outbox SET leased_until = 0 WHERE id = ?'),
    releaseAllOutbox: db.prepare('UPDATE outbox SET leased_until = 0 WHERE leased_until > 0'),
    deleteOutbox: db.prepare('DELETE FROM outbox WHERE id = ?'),
    // The newest payloads whose bytes add up to at most the cap are kept; the first one past it and older go.
    trimOutbox: db.prepare(
      `DELETE FROM outbox WHERE destination = ? AND id <= (
         SELECT id FROM (SELECT id, sum(bytes) OVER (ORDER BY id DESC) AS newer FROM outbox WHERE destination = ?)
         WHERE newer > ? ORDER BY id DESC LIMIT 1)`,
    ),
    removeOutboxBefore: db.prepare('DELETE FROM outbox WHERE queued_at < ?'),
    outboxSize: db.prepare('SELECT count(*) AS payloads, coalesce(sum(bytes), 0) AS bytes FROM outbox WHERE destination = ?'),
  };
}
