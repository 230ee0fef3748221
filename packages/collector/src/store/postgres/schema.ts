import type { PoolClient } from 'pg';
import { HOUR, SCHEMA_5_BIN_SCALE } from '../rollups.js';
import { spanRowColumns } from '../rows.js';

/**
 * The PostgreSQL layout. Spans live in their execution's partition: `part` is the day (since
 * the epoch, UTC) of the first span seen of the execution, or of the span itself when it belongs
 * to none, so an execution is never split and retention drops whole days. Spans are keyed by
 * `(execution, span_id)` within a part, so the tables can be distributed by execution (Citus)
 * without changing a key; who owns each span is kept apart, in `span_owners`, whose unique
 * `(trace_id, span_id)` key a partitioned table could not hold. Executions are one small row each,
 * rewritten in place; flow counts, time rollups and the trigram search index follow in the same
 * transaction. Versions are rows of
 * `flowtrace_schema`; never edit a released one, add the next.
 */
export const SCHEMA_VERSION = 8;

/** A span's SpanRow (rows.ts) from `spans` as `table`: PostgreSQL keeps the trace id on each span. */
export function spanRow(table = 'spans'): string {
  return `${spanRowColumns(table)}, ${table}.trace_id`;
}

/** The coarsest grain of `counts`, kept by the PostgreSQL engine alone: deep pages find their day by it. */
export const DAY_GRAIN = 24 * HOUR;

/** The channel that carries each commit's last change sequence number to the other collectors. */
export const CHANNEL = 'flowtrace_changes';

/** Serialises schema changes and partition upkeep across collectors (pg_advisory_xact_lock key). */
export const SCHEMA_LOCK = 0x666c6f77; // 'flow'

const MIGRATIONS: Record<number, string> = {
  1: `
    CREATE EXTENSION IF NOT EXISTS pg_trgm;

    -- The resource and scope spans came with, stored once, found by a digest of both (a
    -- resource can be longer than a b-tree entry may be).
    CREATE TABLE origins (
      id       serial PRIMARY KEY,
      digest   text NOT NULL UNIQUE,
      resource text NOT NULL,
      scope    text NOT NULL
    );

    -- role: 0 step, 1 the execution's own span, 2 its start marker, 3 anything else, 4 a step's start marker.
    -- execution is 0 for a span of no execution. format: 1 protobuf, 2 JSON, 3 stored protobuf (stored-body.ts; as in SQLite).
    CREATE TABLE spans (
      part       integer NOT NULL,
      execution  bigint NOT NULL,
      span_id    bytea NOT NULL,
      trace_id   bytea NOT NULL,
      role       smallint NOT NULL,
      parent_id  bytea,
      step_index integer,
      start_ms   double precision NOT NULL,
      origin     integer NOT NULL,
      format     smallint NOT NULL,
      body       bytea NOT NULL,
      PRIMARY KEY (part, execution, span_id)
    ) PARTITION BY RANGE (part);
    CREATE TABLE spans_default PARTITION OF spans DEFAULT;
    CREATE INDEX spans_of_trace ON spans (trace_id);

    CREATE TABLE flows (
      id         serial PRIMARY KEY,
      flow_id    text NOT NULL UNIQUE,
      flow_name  text NOT NULL,
      pending    bigint NOT NULL DEFAULT 0,
      fulfilled  bigint NOT NULL DEFAULT 0,
      error      bigint NOT NULL DEFAULT 0,
      deleted_at double precision
    );

    -- As in SQLite: flow and status stay NULL until the execution's head arrives. part is set by
    -- its first spans. Rows are rewritten as spans arrive: every index here costs each rewrite.
    CREATE TABLE executions (
      id           bigserial PRIMARY KEY,
      execution_id text NOT NULL UNIQUE,
      part         integer,
      flow         integer,
      status       smallint,
      started_at   double precision,
      duration_ms  double precision,
      deadline     double precision,
      service      text,
      seq          bigint,
      summary      text NOT NULL,
      outcome      text
    );
    CREATE INDEX executions_list ON executions (flow, started_at DESC, id DESC) WHERE flow IS NOT NULL;
    CREATE INDEX executions_list_status ON executions (flow, status, started_at DESC, id DESC) WHERE flow IS NOT NULL;
    CREATE INDEX executions_pending_deadline ON executions (deadline) WHERE status = 0;
    CREATE INDEX executions_pending_service ON executions (service) WHERE status = 0;
    CREATE UNIQUE INDEX executions_seq ON executions (seq) WHERE seq IS NOT NULL;

    -- The text of each execution's parameters that q matches, apart from the execution's row: it
    -- changes once or twice per execution, the row with every span, and a trigram index is the
    -- dearest to keep.
    CREATE TABLE search (
      execution bigint PRIMARY KEY,
      params    text NOT NULL
    );
    CREATE INDEX search_params ON search USING gin (params gin_trgm_ops);

    -- One row: the last change sequence number handed out. Its row lock, held from handing out
    -- numbers to commit, makes the numbers commit in order across collectors.
    CREATE TABLE changes (
      one boolean PRIMARY KEY DEFAULT true CHECK (one),
      seq bigint NOT NULL
    );
    INSERT INTO changes (seq) VALUES (0);

    CREATE TABLE counts (
      flow   integer NOT NULL,
      grain  integer NOT NULL,
      bucket double precision NOT NULL,
      status smallint NOT NULL,
      n      bigint NOT NULL,
      PRIMARY KEY (flow, grain, bucket, status)
    );

    CREATE TABLE durations (
      flow   integer NOT NULL,
      grain  integer NOT NULL,
      bucket double precision NOT NULL,
      bin    integer NOT NULL,
      n      bigint NOT NULL,
      PRIMARY KEY (flow, grain, bucket, bin)
    );

    CREATE TABLE instances (
      service_name text NOT NULL,
      instance_id  text NOT NULL,
      started_at   double precision NOT NULL,
      PRIMARY KEY (service_name, instance_id)
    );
  `,
  2: `
    -- One row: the history's id (16 hex digits, as StorageEngine.historyId describes), made with
    -- the database, so live-stream clients of another database are told apart.
    CREATE TABLE history (
      one boolean PRIMARY KEY DEFAULT true CHECK (one),
      id  text NOT NULL
    );
    INSERT INTO history (id) VALUES (substr(md5(random()::text || clock_timestamp()::text), 1, 16));
  `,
  3: `
    -- Replicas and liveness: a start's replica id (the restart rule compares replicas), and per
    -- process that promised heartbeats, the last one seen and whether it was taken as gone.
    ALTER TABLE instances ADD COLUMN replica_id text;
    CREATE TABLE liveness (
      service_name text NOT NULL,
      instance_id  text NOT NULL,
      heartbeat_ms double precision NOT NULL,
      last_seen_at double precision NOT NULL,
      gone_at      double precision,
      PRIMARY KEY (service_name, instance_id)
    );
  `,
  4: `
    -- A span's identity (trace, span id), looked up before each append: a span belongs to one
    -- execution, and a partitioned table cannot hold that as a unique key. It serves trace reads too.
    CREATE INDEX spans_identity ON spans (trace_id, span_id);
    DROP INDEX spans_of_trace;
  `,
  5: `
    -- The forwarding outbox, as in SQLite: one row per payload and destination, queued by the
    -- transaction that stores its spans; leased_until (ms) holds it while a collector sends it.
    CREATE TABLE outbox (
      id           bigserial PRIMARY KEY,
      destination  text NOT NULL,
      queued_at    double precision NOT NULL,
      leased_until double precision NOT NULL DEFAULT 0,
      content_type text NOT NULL,
      bytes        integer NOT NULL,
      payload      bytea NOT NULL
    );
    CREATE INDEX outbox_queue ON outbox (destination, id) INCLUDE (bytes);
    CREATE INDEX outbox_age ON outbox (queued_at);
  `,
  6: `
    -- Duration bins 2 % wide (were 10 %): each stored bin moves to the new bin of its middle,
    -- summed per bucket, in one statement (the insert sees none of the rows its CTE deletes).
    -- Converted history keeps its old ±5 % (about ±6 % with the new bin's 1 %); new durations get ±1 %.
    WITH old AS (DELETE FROM durations RETURNING flow, grain, bucket, bin, n)
    INSERT INTO durations (flow, grain, bucket, bin, n)
      SELECT flow, grain, bucket, floor((bin + 0.5) * ${SCHEMA_5_BIN_SCALE})::integer, sum(n)
      FROM old GROUP BY 1, 2, 3, 4 HAVING sum(n) <> 0;
  `,
  7: `
    -- Who owns each span (trace, span id), apart from the partitioned spans: here the pair can be
    -- a unique key, so a span is claimed by INSERT … ON CONFLICT and the key makes two collectors
    -- claiming one span take turns (migration 4's advisory locks and its probe of every day
    -- partition's index go). part and execution find the stored copy.
    CREATE TABLE span_owners (
      trace_id  bytea NOT NULL,
      span_id   bytea NOT NULL,
      execution bigint NOT NULL,
      part      integer NOT NULL,
      PRIMARY KEY (trace_id, span_id)
    );
    -- Retention removes the rows of dropped day partitions through it.
    CREATE INDEX span_owners_part ON span_owners (part);
    -- The stored copy the ownership rule keeps (one of an execution over one of none, then the
    -- smallest execution id), so claims made after the upgrade are decided as before it.
    INSERT INTO span_owners (trace_id, span_id, execution, part)
      SELECT DISTINCT ON (s.trace_id, s.span_id) s.trace_id, s.span_id, s.execution, s.part
      FROM spans s LEFT JOIN executions e ON e.id = s.execution
      ORDER BY s.trace_id, s.span_id, s.execution = 0, e.execution_id COLLATE "C";
    DROP INDEX spans_identity;
    -- Each search entry with its execution's flow and start: q counts, orders and pages its
    -- matches from the entries alone and reads only the page's executions. Made anew rather than
    -- updated: an update of every row would insert each one's trigrams into the index again.
    CREATE TABLE search_7 AS
      SELECT s.execution, s.params, e.flow, e.started_at FROM search s LEFT JOIN executions e ON e.id = s.execution;
    DROP TABLE search;
    ALTER TABLE search_7 RENAME TO search;
    ALTER TABLE search ALTER COLUMN execution SET NOT NULL, ALTER COLUMN params SET NOT NULL, ADD PRIMARY KEY (execution);
    CREATE INDEX search_params ON search USING gin (params gin_trgm_ops);
    -- Day counts beside the hour ones: a deep page reads ~30 day rows and ~24 hour rows to find
    -- where it starts, not every hour of the history.
    INSERT INTO counts (flow, grain, bucket, status, n)
      SELECT flow, ${DAY_GRAIN}, floor(bucket / ${DAY_GRAIN}) * ${DAY_GRAIN}, status, sum(n)
      FROM counts WHERE grain = ${HOUR} GROUP BY flow, 3, status HAVING sum(n) <> 0;
  `,
  // Spans stored from now on leave out of their body the ids their row keeps and code common
  // keys (format 3, stored-body.ts): no data changes, but a collector that knows only format 1
  // must not read them.
  8: `
    COMMENT ON COLUMN spans.format IS '1 protobuf, 2 JSON, 3 protobuf without the ids in span_id, trace_id and parent_id, common keys coded';
  `,
};

/**
 * Creates or upgrades the schema in one transaction under an advisory lock, so collectors
 * started at once take turns and the later ones find it done.
 */
export async function migrate(client: PoolClient): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
    // An upgrade rewrites tables as large as the history: it may take longer than a request.
    await client.query('SET LOCAL statement_timeout = 0');
    await client.query('CREATE TABLE IF NOT EXISTS flowtrace_schema (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
    const { rows } = await client.query<{ version: number | null }>('SELECT max(version) AS version FROM flowtrace_schema');
    const version = rows[0]?.version ?? 0;
    if (version > SCHEMA_VERSION) {
      throw new Error(
        `the database was written by a newer flowtrace collector (schema ${version}, this one knows ${SCHEMA_VERSION}); upgrade the collector`,
      );
    }
    for (let next = version + 1; next <= SCHEMA_VERSION; next++) {
      await client.query(MIGRATIONS[next]!);
      await client.query('INSERT INTO flowtrace_schema (version) VALUES ($1)', [next]);
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}
