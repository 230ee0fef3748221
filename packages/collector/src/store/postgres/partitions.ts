import type { PoolClient } from 'pg';
import { SCHEMA_LOCK } from './schema.js';

export const DAY = 86_400_000;

/** The partition key of a time: whole days since the epoch, UTC. */
export function dayOf(ms: number): number {
  return Math.floor(ms / DAY);
}

/** spans_2026_11_30 holds part 20422. */
function nameOf(day: number): string {
  return `spans_${new Date(day * DAY).toISOString().slice(0, 10).replace(/-/g, '_')}`;
}

function dayOfName(name: string): number | undefined {
  const match = /^spans_(\d{4})_(\d{2})_(\d{2})$/.exec(name);
  return match ? dayOf(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]))) : undefined;
}

/** The day partitions of `spans` that exist. */
export async function dayPartitions(client: PoolClient): Promise<number[]> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'spans'::regclass`,
  );
  return rows.flatMap((row) => dayOfName(row.name) ?? []);
}

/**
 * Creates the day partitions of `days` that are missing, ahead of need: a span of a day without
 * one goes to the default partition, and a day whose spans already sit there cannot get one
 * (those stay in the default partition, and retention deletes them row by row). Runs in its own
 * transaction under the schema lock, so collectors take turns.
 */
export async function createPartitions(client: PoolClient, days: readonly number[], log: (message: string) => void): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
    const existing = new Set(await dayPartitions(client));
    for (const day of days) {
      if (existing.has(day)) continue;
      await client.query('SAVEPOINT partition');
      try {
        await client.query(`CREATE TABLE ${nameOf(day)} PARTITION OF spans FOR VALUES FROM (${day}) TO (${day + 1})`);
        await client.query('RELEASE SAVEPOINT partition');
      } catch (error) {
        await client.query('ROLLBACK TO SAVEPOINT partition');
        log(`no partition for ${nameOf(day)}: ${(error as Error).message}`);
      }
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}

/** Drops the day partitions that end at or before `day`; runs inside the caller's transaction. */
export async function dropPartitionsBefore(client: PoolClient, day: number): Promise<number> {
  await client.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
  let dropped = 0;
  for (const partition of await dayPartitions(client)) {
    if (partition + 1 > day) continue;
    await client.query(`DROP TABLE ${nameOf(partition)}`);
    dropped++;
  }
  return dropped;
}
