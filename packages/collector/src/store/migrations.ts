import type Database from 'better-sqlite3';

/**
 * Versioned schema changes, applied in order inside one transaction each; the database's
 * `user_version` is the last one applied. Never edit a released migration: add the next one.
 */
const migrations: ReadonlyArray<{ version: number; sql: string }> = [
  {
    version: 1,
    sql: `
      -- Every span received, flowtrace's or not, keyed as OTLP keys it: re-delivery overwrites.
      CREATE TABLE spans (
        trace_id     TEXT NOT NULL,
        span_id      TEXT NOT NULL,
        execution_id TEXT,
        body         TEXT NOT NULL,
        PRIMARY KEY (trace_id, span_id)
      ) WITHOUT ROWID;
      CREATE INDEX spans_by_execution ON spans (execution_id) WHERE execution_id IS NOT NULL;

      -- One row per execution: the projected record, and the columns the list filters on. Tracers
      -- stamp starts to the millisecond, so executions started in the same millisecond are
      -- ordered by arrival: the rowid, which an upsert keeps.
      CREATE TABLE executions (
        id                  TEXT PRIMARY KEY,
        flow_id             TEXT NOT NULL,
        service_name        TEXT NOT NULL,
        status              TEXT NOT NULL,
        started_at          REAL NOT NULL,
        deadline            REAL NOT NULL,
        search              TEXT NOT NULL,
        item                TEXT NOT NULL,
        record              TEXT NOT NULL,
        seq                 INTEGER NOT NULL
      );
      CREATE INDEX executions_by_flow ON executions (flow_id, started_at DESC);
      CREATE INDEX executions_by_flow_status ON executions (flow_id, status, started_at DESC);
      CREATE INDEX executions_pending_deadline ON executions (deadline) WHERE status = 'pending';
      CREATE INDEX executions_pending_service ON executions (service_name) WHERE status = 'pending';
      CREATE UNIQUE INDEX executions_by_seq ON executions (seq);

      CREATE TABLE flows (
        flow_id         TEXT PRIMARY KEY,
        flow_name       TEXT NOT NULL,
        execution_count INTEGER NOT NULL DEFAULT 0,
        deleted_at      REAL
      );

      -- Process starts announced by tracers, for the restart rule.
      CREATE TABLE instances (
        service_name TEXT NOT NULL,
        instance_id  TEXT NOT NULL,
        started_at   REAL NOT NULL,
        PRIMARY KEY (service_name, instance_id)
      ) WITHOUT ROWID;
    `,
  },
];

export const SCHEMA_VERSION = migrations.at(-1)!.version;

export function migrate(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > SCHEMA_VERSION) {
    throw new Error(
      `the database was written by a newer flowtrace collector (schema ${current}, this one knows ${SCHEMA_VERSION}); upgrade the collector`,
    );
  }
  for (const { version, sql } of migrations) {
    if (version <= current) continue;
    db.transaction(() => {
      db.exec(sql);
      db.pragma(`user_version = ${version}`);
    })();
  }
}
