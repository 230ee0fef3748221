import type Database from 'better-sqlite3';

/**
 * Random ids (execution ids, trace ids) to dense keys, without a random index insert per new id.
 *
 * A unique index over random ids puts each new id on a page of its own once the index outgrows
 * a transaction's pages: with the rollback journal's copy, ~8 KiB written per id whatever the
 * execution's size. So a new row keeps its id in an unindexed `ident` column, and is found
 * through a map of the rows added since the last merge (rebuilt at start from those rows
 * alone: they are the rows past the `through` key). Once that map holds enough ids, they are
 * merged into a `*_idents` table in key order, a chunk a transaction: each page of that index
 * is then rewritten once for many ids. Rows written before schema 7 keep their ids in the old
 * unique column (`legacy`: keys up to that one); new rows put a placeholder there that sorts
 * after (or before) every real id and grows with the key, so that index only grows at one end.
 */
export interface IdentsSpec {
  /** The table the rows live in, and its unique column of schema 6 (ids of rows up to `legacy`). */
  table: 'executions' | 'traces';
  legacyColumn: 'execution_id' | 'trace_id';
  /** The merged index: (ident, id) WITHOUT ROWID. */
  merged: 'execution_idents' | 'trace_idents';
  /** The map's key for an id as SQLite holds it (traces: bytes as hex). */
  keyOf(ident: string | Buffer): string;
}

/** Idents merged per transaction: each chunk's commit stays a few milliseconds. */
const MERGE_CHUNK = 1024;
/** Merge once the map holds this many ids, or an eighth of those merged, whichever is more. */
const RECENT_IDENTS = 32_768;

export class Idents {
  private readonly recent = new Map<string, number>();
  /** Map entries made in the open transaction, undone if it rolls back. */
  private added: string[] = [];
  private readonly legacy: number;
  private through: number;
  private merge: MergeRun | undefined;
  private readonly sql;

  constructor(
    db: Database.Database,
    private readonly spec: IdentsSpec,
    private readonly minimum = RECENT_IDENTS,
  ) {
    const { table, legacyColumn, merged } = spec;
    const marks = db.prepare('SELECT legacy, through FROM ident_merges WHERE directory = ?').get(table) as { legacy: number; through: number };
    this.legacy = marks.legacy;
    this.through = marks.through;
    this.sql = {
      merged: db.prepare(`SELECT id FROM ${merged} WHERE ident = ?`).pluck(),
      legacy: db.prepare(`SELECT id FROM ${table} WHERE ${legacyColumn} = ?`).pluck(),
      mergedRange: db.prepare(`SELECT id FROM ${merged} WHERE ident >= ? AND ident < ? ORDER BY ident`).pluck(),
      legacyRange: db.prepare(`SELECT id FROM ${table} WHERE ${legacyColumn} >= ? AND ${legacyColumn} < ? ORDER BY ${legacyColumn}`).pluck(),
      mergeOne: db.prepare(`INSERT OR IGNORE INTO ${merged} (ident, id) SELECT ident, id FROM ${table} WHERE id = ?`),
      forget: db.prepare(`DELETE FROM ${merged} WHERE ident = ?`),
      mergedThrough: db.prepare('UPDATE ident_merges SET through = ? WHERE directory = ?'),
    };
    for (const row of db.prepare(`SELECT id, ident FROM ${table} WHERE id > ?`).raw().iterate(this.through) as Iterable<[number, string | Buffer]>) {
      this.recent.set(spec.keyOf(row[1]), row[0]);
    }
  }

  /** The key of the row with this id, if there is one. */
  find(ident: string | Buffer): number | undefined {
    const key = this.recent.get(this.spec.keyOf(ident));
    if (key !== undefined) return key;
    return (this.sql.merged.get(ident) as number | undefined) ?? (this.legacy > 0 ? (this.sql.legacy.get(ident) as number | undefined) : undefined);
  }

  /**
   * Keys of the rows whose ids are in [from, to), in id order, up to the first one still only in
   * the map; `next(i)` names the i-th id of the range for the map to be asked in turn. Rows of
   * one range (a trace's segments) are made in id order, so the older ones are merged first.
   */
  range(from: Buffer, to: Buffer, next: (index: number) => Buffer): number[] {
    const keys = [...(this.legacy > 0 ? (this.sql.legacyRange.all(from, to) as number[]) : []), ...(this.sql.mergedRange.all(from, to) as number[])];
    for (let key = this.recent.get(this.spec.keyOf(next(keys.length))); key !== undefined; key = this.recent.get(this.spec.keyOf(next(keys.length)))) {
      keys.push(key);
    }
    return keys;
  }

  /** A row just made with this id. */
  add(ident: string | Buffer, key: number): void {
    const mapKey = this.spec.keyOf(ident);
    this.recent.set(mapKey, key);
    this.added.push(mapKey);
  }

  /** A row deleted (retention): its id no longer names it. */
  removed(ident: string | Buffer): void {
    this.recent.delete(this.spec.keyOf(ident));
    this.sql.forget.run(ident);
  }

  /** The open transaction committed: its ids stay, and a merge's progress with them. */
  committed(): void {
    this.added = [];
    const run = this.merge;
    if (!run?.staged) return;
    run.cursor = run.staged;
    run.staged = undefined;
    if (run.cursor.bucket < run.buckets.length) return;
    for (const bucket of run.buckets) for (const key of bucket) if (this.recent.get(key)! <= run.target) this.recent.delete(key);
    this.through = run.target;
    this.merge = undefined;
  }

  rolledBack(): void {
    for (const key of this.added) this.recent.delete(key);
    this.added = [];
    if (this.merge) this.merge.staged = undefined;
  }

  /** A new row's key must be above this: rows at or below it are looked for in the index alone. */
  get floor(): number {
    return Math.max(this.through, this.merge?.target ?? 0);
  }

  /** Whether enough ids have gathered for a merge, or one is under way. */
  get merging(): boolean {
    return this.merge !== undefined || this.recent.size >= Math.max(this.minimum, this.through / 8);
  }

  /**
   * Merges the next chunk of the map into the index, in id order, inside the caller's
   * transaction. After the last one commits, the map lets those ids go.
   */
  mergeChunk(): void {
    const run = (this.merge ??= this.plan());
    let { bucket, offset } = run.cursor;
    let left = MERGE_CHUNK;
    while (left > 0 && bucket < run.buckets.length) {
      // Each bucket is sorted when its turn comes, so no one sort holds the event loop long.
      const keys = run.buckets[bucket]!;
      if (offset === 0) keys.sort();
      const end = Math.min(keys.length, offset + left);
      for (let i = offset; i < end; i++) this.sql.mergeOne.run(this.recent.get(keys[i]!) ?? -1);
      left -= end - offset;
      if (end === keys.length) [bucket, offset] = [bucket + 1, 0];
      else offset = end;
    }
    run.staged = { bucket, offset };
    if (bucket === run.buckets.length) this.sql.mergedThrough.run(run.target, this.spec.table);
  }

  private plan(): MergeRun {
    let target = this.through;
    const byPrefix = new Map<number, string[]>();
    for (const [key, row] of this.recent) {
      if (row > target) target = row;
      // Buckets by the first two characters, in string order ('a' before 'a\0').
      const prefix = key.charCodeAt(0) * 65537 + (key.length > 1 ? key.charCodeAt(1) + 1 : 0);
      let bucket = byPrefix.get(prefix);
      if (!bucket) byPrefix.set(prefix, (bucket = []));
      bucket.push(key);
    }
    const buckets = [...byPrefix.keys()].sort((a, b) => a - b).map((prefix) => byPrefix.get(prefix)!);
    return { target, buckets, cursor: { bucket: 0, offset: 0 } };
  }
}

interface MergeRun {
  /** Rows up to this key are merged once the run is done. */
  target: number;
  /** The map's keys by prefix, in prefix order; each bucket sorted when it is reached. */
  buckets: string[][];
  /** Where the next chunk starts, as committed; `staged`: where the open transaction's chunk ends. */
  cursor: { bucket: number; offset: number };
  staged?: { bucket: number; offset: number };
}
