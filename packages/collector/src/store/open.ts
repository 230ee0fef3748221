import type { StorageEngine } from './engine.js';
import { PostgresEngine, type PostgresEngineOptions } from './postgres/engine.js';
import { SqliteEngine } from './sqlite/engine.js';

export type PostgresPoolOptions = Omit<PostgresEngineOptions, 'url' | 'log'>;

/** Whether `db` names a PostgreSQL database rather than a SQLite file. */
export function isPostgresUrl(db: string): boolean {
  return /^postgres(ql)?:\/\//i.test(db);
}

/** The engine `db` names: a `postgres://` or `postgresql://` URL, or a SQLite file path. */
export function openEngine(db: string, postgres: PostgresPoolOptions, log: (message: string) => void): StorageEngine {
  return isPostgresUrl(db) ? new PostgresEngine({ ...postgres, url: db, log }) : new SqliteEngine({ path: db, log });
}

/** `db` as it can be shown in a log: without a password. */
export function describeDb(db: string): string {
  if (!isPostgresUrl(db)) return db;
  try {
    const url = new URL(db);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return 'a PostgreSQL database';
  }
}
