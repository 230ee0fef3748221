import type Database from 'better-sqlite3';
import { SCHEMA_5_BIN_SCALE } from '../rollups.js';

/**
 * The SQLite layout (schema 2). Spans are appended to a rowid table as they came (a protobuf
 * span's own bytes; since schema 8 without the ids the row keeps, common keys coded), keyed for re-delivery by a dense trace key and the span id, so appends
 * stay near the end of every b-tree. Each execution is one small row (summary, list row) that
 * ingest rewrites in place; counts, rollups and the search index follow it in the same
 * transaction. Versions are `user_version`; never edit a released one: add the next. One
 * exception, for files created from here on: since schema 7 the id columns of `traces` and
 * `executions` carry no unique index (ids are found as idents.ts says; a file made before keeps
 * its indexes, which new rows fill with placeholders at their end). Keyed search, the same way:
 * since 2026-12-02 a new file's `search` entries carry their execution's flow and start
 * (FTS5 `contentless_unindexed`, SQLite 3.47+), so `q` filters and orders its matches without
 * reading each one's execution row; a file made before keeps the plain index and reads them.
 */
export const SCHEMA_VERSION = 8;

/** The durations rollup's columns and key: the layout of schema 2, which schema 6 makes again. */
const DURATIONS_TABLE = `(
    flow   INTEGER NOT NULL,
    grain  INTEGER NOT NULL,
    bucket INTEGER NOT NULL,
    bin    INTEGER NOT NULL,
    n      INTEGER NOT NULL,
    PRIMARY KEY (flow, grain, bucket, bin)
  ) WITHOUT ROWID;`;

export const SCHEMA = `
  CREATE TABLE traces (
    id       INTEGER PRIMARY KEY,
    trace_id BLOB NOT NULL
  );

  -- The resource and scope spans came with, stored once.
  CREATE TABLE origins (
    id       INTEGER PRIMARY KEY,
    resource TEXT NOT NULL,
    scope    TEXT NOT NULL,
    UNIQUE (resource, scope)
  );

  -- role: 0 step, 1 the execution's own span, 2 its start marker, 3 anything else, 4 a step's start marker.
  -- format: 1 the span's protobuf encoding, 2 the span as JSON (without resource and scope),
  -- 3 (since schema 8) its protobuf encoding without the ids this row keeps (trace, span_id,
  -- parent_id), common attribute keys coded (otlp/stored-body.ts).
  -- parent_id, step_index and start_ms order a large execution's steps without decoding them.
  CREATE TABLE spans (
    id         INTEGER PRIMARY KEY,
    trace      INTEGER NOT NULL,
    span_id    BLOB NOT NULL,
    execution  INTEGER,
    role       INTEGER NOT NULL,
    parent_id  BLOB,
    step_index INTEGER,
    start_ms   REAL NOT NULL,
    origin     INTEGER NOT NULL,
    format     INTEGER NOT NULL,
    body       BLOB NOT NULL
  );
  CREATE UNIQUE INDEX spans_identity ON spans (trace, span_id);
  CREATE INDEX spans_of_execution ON spans (execution, role) WHERE execution IS NOT NULL;

  CREATE TABLE flows (
    id         INTEGER PRIMARY KEY,
    flow_id    TEXT NOT NULL UNIQUE,
    flow_name  TEXT NOT NULL,
    pending    INTEGER NOT NULL DEFAULT 0,
    fulfilled  INTEGER NOT NULL DEFAULT 0,
    error      INTEGER NOT NULL DEFAULT 0,
    deleted_at REAL
  );

  -- flow and status stay NULL until the execution's head arrives (its steps may come first).
  -- status: 0 pending, 1 fulfilled, 2 error. seq: the change sequence of the last change.
  -- summary: the fold of its spans; outcome: the rules' decision. The list row is made from both.
  CREATE TABLE executions (
    id           INTEGER PRIMARY KEY,
    execution_id TEXT NOT NULL,
    flow         INTEGER,
    status       INTEGER,
    started_at   REAL,
    duration_ms  REAL,
    deadline     REAL,
    service      TEXT,
    seq          INTEGER,
    summary      TEXT NOT NULL,
    outcome      TEXT
  );
  CREATE INDEX executions_list ON executions (flow, started_at DESC, id DESC) WHERE flow IS NOT NULL;
  CREATE INDEX executions_list_status ON executions (flow, status, started_at DESC, id DESC) WHERE flow IS NOT NULL;
  CREATE INDEX executions_pending_deadline ON executions (deadline) WHERE status = 0;
  CREATE INDEX executions_pending_service ON executions (service) WHERE status = 0;
  CREATE UNIQUE INDEX executions_seq ON executions (seq) WHERE seq IS NOT NULL;

  CREATE TABLE counts (
    flow   INTEGER NOT NULL,
    grain  INTEGER NOT NULL,
    bucket INTEGER NOT NULL,
    status INTEGER NOT NULL,
    n      INTEGER NOT NULL,
    PRIMARY KEY (flow, grain, bucket, status)
  ) WITHOUT ROWID;

  CREATE TABLE durations ${DURATIONS_TABLE}

  -- The q search: trigrams of each execution's parameters, rowid = executions.id, with the
  -- execution's flow and start kept beside the entry (see the note above on keyed search).
  CREATE VIRTUAL TABLE search USING fts5 (
    params, flow UNINDEXED, started_at UNINDEXED,
    content = '', contentless_delete = 1, contentless_unindexed = 1, tokenize = 'trigram'
  );

  -- Process starts announced by tracers, for the restart rule.
  CREATE TABLE instances (
    service_name TEXT NOT NULL,
    instance_id  TEXT NOT NULL,
    started_at   REAL NOT NULL,
    PRIMARY KEY (service_name, instance_id)
  ) WITHOUT ROWID;
`;

/** Schema 3: the history's id (one row), made with the database; see StorageEngine.historyId. */
export const SCHEMA_3 = `
  CREATE TABLE history (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    id  TEXT NOT NULL
  );
`;

/**
 * Schema 4: replicas and liveness. A start's replica id (the restart rule compares replicas),
 * and per process that promised heartbeats, the last one seen and whether it was taken as gone.
 */
export const SCHEMA_4 = `
  ALTER TABLE instances ADD COLUMN replica_id TEXT;
  CREATE TABLE liveness (
    service_name TEXT NOT NULL,
    instance_id  TEXT NOT NULL,
    heartbeat_ms REAL NOT NULL,
    last_seen_at REAL NOT NULL,
    gone_at      REAL,
    PRIMARY KEY (service_name, instance_id)
  ) WITHOUT ROWID;
`;

/**
 * Schema 5: the forwarding outbox. One row per payload and destination, queued by the
 * transaction that stores its spans; leased_until (ms) holds it while a sender tries it.
 */
export const SCHEMA_5 = `
  CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY,
    destination  TEXT NOT NULL,
    queued_at    REAL NOT NULL,
    leased_until REAL NOT NULL DEFAULT 0,
    content_type TEXT NOT NULL,
    bytes        INTEGER NOT NULL,
    payload      BLOB NOT NULL
  );
  -- bytes included: a destination's size is read from the index alone.
  CREATE INDEX outbox_queue ON outbox (destination, id, bytes);
  CREATE INDEX outbox_age ON outbox (queued_at);
`;

/**
 * Schema 6: duration bins 2 % wide (were 10 %). Each stored bin moves to the new bin of its
 * middle, summed per bucket; converted history keeps its old ±5 % (about ±6 % with the new
 * bin's 1 %), new durations get ±1 %. One INSERT … SELECT fills a fresh table that takes the old
 * one's place (an UPDATE of the key could collide with rows not yet moved).
 */
export const SCHEMA_6 = `
  CREATE TABLE durations_2pc ${DURATIONS_TABLE}
  INSERT INTO durations_2pc (flow, grain, bucket, bin, n)
    SELECT flow, grain, bucket, CAST((bin + 0.5) * ${SCHEMA_5_BIN_SCALE} AS INTEGER), sum(n)
    FROM durations GROUP BY 1, 2, 3, 4 HAVING sum(n) <> 0;
  DROP TABLE durations;
  ALTER TABLE durations_2pc RENAME TO durations;
`;

/**
 * Schema 7: ids of new executions and traces leave the random unique indexes (see idents.ts).
 * A new row keeps its id in `ident` and a placeholder in the old unique column that grows with
 * the key — a BLOB for executions (after every TEXT id), an INTEGER for traces (before every
 * BLOB id) — and is found through a map until its id is merged into `*_idents` in id order.
 * `ident_merges`: rows up to `legacy` are found by the old column, up to `through` in `*_idents`.
 * Also `search_pending`: see the engine's search batches.
 */
export const SCHEMA_7 = `
  ALTER TABLE executions ADD COLUMN ident TEXT;
  ALTER TABLE traces ADD COLUMN ident BLOB;
  CREATE TABLE execution_idents (ident TEXT PRIMARY KEY, id INTEGER NOT NULL) WITHOUT ROWID;
  CREATE TABLE trace_idents (ident BLOB PRIMARY KEY, id INTEGER NOT NULL) WITHOUT ROWID;
  CREATE TABLE ident_merges (
    directory TEXT PRIMARY KEY,
    legacy    INTEGER NOT NULL,
    through   INTEGER NOT NULL
  ) WITHOUT ROWID;
  INSERT INTO ident_merges SELECT 'executions', coalesce(max(id), 0), coalesce(max(id), 0) FROM executions;
  INSERT INTO ident_merges SELECT 'traces', coalesce(max(id), 0), coalesce(max(id), 0) FROM traces;

  -- Search text not in the FTS5 index yet (id = executions.id), moved there in batches: an FTS5
  -- flush a transaction rewrote its segments over and over. An execution's text is in one of the two.
  CREATE TABLE search_pending (
    id     INTEGER PRIMARY KEY,
    params TEXT NOT NULL
  );
  -- FTS5 merges 8 segments of a level, not 4: ~20 % fewer bytes rewritten, lookups as fast.
  INSERT INTO search (search, rank) VALUES ('automerge', 8);
`;

export function userVersion(db: Database.Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}
