import pg from 'pg';
import * as sc from '@flowtrace/semconv';
import { startPostgres, type PostgresServer } from '@flowtrace/test-servers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routeSpans } from '../src/ingest/route.js';
import { ExecutionRules } from '../src/ingest/rules.js';
import type { Span } from '../src/otlp/span.js';
import { CHANGE_EVENT, ChangeFeed } from '../src/read/change-feed.js';
import { ExecutionReader } from '../src/read/executions.js';
import { StorageUnavailableError, type ExecutionChange } from '../src/store/engine.js';
import { PostgresEngine } from '../src/store/postgres/engine.js';
import { createPartitions, dayOf, DAY } from '../src/store/postgres/partitions.js';
import { bucketOf, GRAINS, summarizeBins } from '../src/store/rollups.js';
import { engineContract } from './support/engine-contract.js';
import { schema5Histogram, SPREAD_DURATIONS } from './support/schema-5-bins.js';
import { checkoutSpans, memoryProvider, normalized } from './support/traced.js';

let server: PostgresServer;
beforeAll(async () => {
  server = await startPostgres();
}, 120_000);
afterAll(async () => {
  await server?.close();
});

engineContract('PostgreSQL', async () => {
  const engine = new PostgresEngine({ url: await server.createDatabase() });
  return { engine, cleanup: async () => {} };
});

// As behind a pooler that cannot follow prepared statements (--db-no-prepare).
engineContract('PostgreSQL, unnamed statements', async () => {
  const engine = new PostgresEngine({ url: await server.createDatabase(), preparedStatements: false });
  return { engine, cleanup: async () => {} };
});

/** The statements prepared on the connection of `engine`'s pool that ran its last work (pg-pool hands out the last one released). */
async function preparedOn(engine: PostgresEngine): Promise<string[]> {
  const client = await (engine as unknown as { pool: pg.Pool }).pool.connect();
  try {
    return (await client.query<{ name: string }>('SELECT name FROM pg_prepared_statements ORDER BY name')).rows.map((row) => row.name);
  } finally {
    client.release();
  }
}

/** Takes a database at schema 8 back to schema 6, as a collector of that release left it. */
async function backToSchema6(url: string): Promise<void> {
  await sql(url, 'DROP TABLE span_owners');
  await sql(url, 'CREATE INDEX spans_identity ON spans (trace_id, span_id)');
  await sql(url, 'DELETE FROM counts WHERE grain = $1', [DAY]);
  await sql(url, 'ALTER TABLE search DROP COLUMN flow, DROP COLUMN started_at');
  await sql(url, 'DELETE FROM flowtrace_schema WHERE version >= 7');
}

async function sql<R extends pg.QueryResultRow>(url: string, text: string, values: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}

describe('the PostgreSQL schema', () => {
  it('is created once when several collectors start at once, and kept by later starts', async () => {
    const url = await server.createDatabase();
    const engines = Array.from({ length: 4 }, () => new PostgresEngine({ url }));
    await Promise.all(engines.map((engine) => engine.ready()));
    expect(await sql(url, 'SELECT version FROM flowtrace_schema ORDER BY version')).toEqual([1, 2, 3, 4, 5, 6, 7, 8].map((version) => ({ version })));
    const again = new PostgresEngine({ url });
    await again.ready();
    // One history id, made with the database, whichever collector reads it.
    const histories = new Set(await Promise.all([...engines, again].map((engine) => engine.historyId())));
    expect([...histories]).toEqual([expect.stringMatching(/^[0-9a-f]{16}$/)]);
    expect(await sql(url, 'SELECT count(*)::int AS n FROM flowtrace_schema')).toEqual([{ n: 8 }]);
    // Day partitions exist around today, so no day starts without one.
    const today = new Date(dayOf(Date.now()) * DAY).toISOString().slice(0, 10).replace(/-/g, '_');
    expect((await sql<{ name: string }>(url, `SELECT relname AS name FROM pg_class WHERE relname LIKE 'spans_2%'`)).map((r) => r.name)).toContain(`spans_${today}`);
    await Promise.all([...engines, again].map((engine) => engine.close()));
  });

  it('prepares each statement once per connection, under a name taken from its text; unnamed when asked', async () => {
    for (const preparedStatements of [true, false]) {
      const url = await server.createDatabase();
      const engine = new PostgresEngine({ url, preparedStatements });
      const rules = new ExecutionRules(engine, 60_000);
      const provider = memoryProvider();
      for (const qty of [1, 2]) {
        const spans = normalized(await checkoutSpans([{ sku: 'P', qty }], provider));
        await rules.ingest(routeSpans({ spans, rejected: 0, reasons: [] }), Date.now());
      }
      await provider.provider.shutdown();
      const names = await preparedOn(engine);
      if (preparedStatements) {
        expect(names.length).toBeGreaterThan(3);
        expect(names.every((name) => /^flowtrace_[\w-]{22}$/.test(name))).toBe(true);
      } else {
        expect(names).toEqual([]);
      }
      expect((await engine.listExecutions({ flowId: 'checkout', offset: 0, limit: 5 })).total).toBe(2);
      await engine.close();
    }
  });

  it('refuses a database written by a newer collector, saying what to do', async () => {
    const url = await server.createDatabase();
    const first = new PostgresEngine({ url });
    await first.ready();
    await first.close();
    await sql(url, 'INSERT INTO flowtrace_schema (version) VALUES (99)');
    const engine = new PostgresEngine({ url });
    await expect(engine.ready()).rejects.toThrow(/newer flowtrace collector \(schema 99, this one knows 8\); upgrade the collector/);
    await engine.close();
  });

  it('moves schema 5 duration bins (10 % wide) to the 2 % bin of their middle on upgrade', async () => {
    const url = await server.createDatabase();
    const first = new PostgresEngine({ url });
    await first.ready();
    await first.close();
    // Back to schema 5, with rollups as a schema 5 collector kept them.
    const start = Date.UTC(2026, 0, 1, 10);
    const { old, moved } = schema5Histogram(SPREAD_DURATIONS);
    await backToSchema6(url);
    await sql(url, 'DELETE FROM flowtrace_schema WHERE version = 6');
    const [inserted] = await sql<{ id: number }>(url, `INSERT INTO flows (flow_id, flow_name) VALUES ('old', 'old') RETURNING id`);
    const flow = inserted!.id;
    for (const grain of GRAINS) {
      await sql(url, 'INSERT INTO durations (flow, grain, bucket, bin, n) SELECT $1, $2, $3, unnest($4::int[]), unnest($5::bigint[])', [
        flow,
        grain,
        bucketOf(start, grain),
        [...old.keys()],
        [...old.values()],
      ]);
    }
    const engine = new PostgresEngine({ url });
    await engine.ready();
    for (const grain of GRAINS) {
      const rows = await sql<{ bin: number; n: string }>(url, 'SELECT bin, n FROM durations WHERE flow = $1 AND grain = $2 ORDER BY bin', [flow, grain]);
      expect(rows.map((r) => [r.bin, Number(r.n)]), `grain ${grain}`).toEqual(moved);
      const [bucket] = await engine.metrics({ flowId: 'old', from: bucketOf(start, grain), to: bucketOf(start, grain) + grain, bucketMs: grain });
      // Converted history: the old bin's middle (±5 %) stands in the new bin (±1 % of that middle).
      const max = summarizeBins(bucket!.durationBins)!.max;
      expect(Math.abs(max - SPREAD_DURATIONS.at(-1)!) / SPREAD_DURATIONS.at(-1)!).toBeLessThan(0.06);
    }
    await engine.close();
  });

  it('upgrades a schema 6 database: spans already stored keep their owner, and deep pages their counts', async () => {
    const url = await server.createDatabase();
    const provider = memoryProvider();
    const spans = normalized(await checkoutSpans([{ sku: 'A', qty: 2 }, { sku: 'B', qty: 1 }], provider));
    await provider.provider.shutdown();
    const routed = (list: Span[]) => routeSpans({ spans: list, rejected: 0, reasons: [] });
    const first = new PostgresEngine({ url });
    await new ExecutionRules(first, 60_000).ingest(routed(spans), Date.now());
    await first.close();
    const owners = 'SELECT encode(span_id, \'hex\') AS span, execution FROM span_owners ORDER BY 1';
    const stored = await sql(url, owners);
    const hourCounts = 'SELECT floor(bucket / $1) AS day, status, sum(n)::int AS n FROM counts WHERE grain = $2 GROUP BY 1, 2 ORDER BY 1, 2';
    const days = await sql(url, 'SELECT floor(bucket / $1) AS day, status, n::int FROM counts WHERE grain = $1 ORDER BY 1, 2', [DAY]);
    expect(days).toEqual(await sql(url, hourCounts, [DAY, 3_600_000]));
    await backToSchema6(url);

    const engine = new PostgresEngine({ url });
    await engine.ready();
    expect(await sql(url, owners)).toEqual(stored);
    expect(stored).toHaveLength(spans.length);
    expect(await sql(url, 'SELECT floor(bucket / $1) AS day, status, n::int FROM counts WHERE grain = $1 ORDER BY 1, 2', [DAY])).toEqual(days);
    expect(await sql(url, `SELECT 1 FROM pg_class WHERE relname = 'spans_identity'`)).toEqual([]);
    // Search entries learned their executions' flow and start: q finds what it found before.
    const searched = await engine.listExecutions({ flowId: 'checkout', q: 'sku', offset: 0, limit: 10 });
    expect([searched.total, searched.executions.length]).toEqual([2, 2]);
    // Claims after the upgrade are decided against the spans stored before it.
    const conflicts: string[] = [];
    const rules = new ExecutionRules(engine, 60_000, (c) => conflicts.push(`${c.owner} over ${c.loser}`));
    const step = spans.find((s) => s.attributes[sc.ATTR_MARKER] === undefined && s.attributes[sc.ATTR_EXECUTION_ROOT] !== true)!;
    const owner = step.attributes[sc.ATTR_EXECUTION_ID] as string;
    const claimed = (id: string): Span => ({ ...step, attributes: { ...step.attributes, [sc.ATTR_EXECUTION_ID]: id } });
    await rules.ingest(routed([claimed('z-forged')]), Date.now());
    await rules.ingest(routed(spans), Date.now());
    expect((await engine.trace(step.traceId)).filter((s) => s.spanId === step.spanId).map((s) => s.attributes[sc.ATTR_EXECUTION_ID])).toEqual([owner]);
    await rules.ingest(routed([claimed('0-forged')]), Date.now());
    expect((await engine.trace(step.traceId)).filter((s) => s.spanId === step.spanId).map((s) => s.attributes[sc.ATTR_EXECUTION_ID])).toEqual(['0-forged']);
    expect(conflicts).toEqual([`${owner} over z-forged`, `0-forged over ${owner}`]);
    // Re-delivered spans were recognised: the trace holds each span once.
    expect(await engine.trace(step.traceId)).toHaveLength(spans.filter((s) => s.traceId === step.traceId).length);
    await engine.close();
  });

  it('keeps an execution in one partition, and retention drops whole days', async () => {
    const url = await server.createDatabase();
    const engine = new PostgresEngine({ url });
    await engine.ready();
    const rules = new ExecutionRules(engine, 60_000);
    // Spans of executions that ran three days ago (times moved back), and of one today.
    const shift = (spans: Span[], days: number): Span[] =>
      spans.map((s) => ({
        ...s,
        startTimeUnixNano: String(BigInt(s.startTimeUnixNano) - BigInt(days * DAY) * 1_000_000n),
        endTimeUnixNano: String(BigInt(s.endTimeUnixNano) - BigInt(days * DAY) * 1_000_000n),
      }));
    const provider = memoryProvider();
    const old = shift(normalized(await checkoutSpans([{ sku: 'old-1', qty: 1 }, { sku: 'old-2', qty: 2 }], provider)), 3);
    const recent = normalized(await checkoutSpans([{ sku: 'recent', qty: 1 }], provider));
    await provider.provider.shutdown();
    const oldDay = dayOf(Date.now() - 3 * DAY);
    const pool = new pg.Pool({ connectionString: url });
    const client = await pool.connect();
    await createPartitions(client, [oldDay], () => {});
    client.release();
    await pool.end();
    // Steps first, their head later: the execution stays in the partition its first spans chose.
    const steps = old.filter((s) => s.attributes['flowtrace.execution.root'] !== true);
    await rules.ingest(routeSpans({ spans: steps, rejected: 0, reasons: [] }), Date.now());
    await rules.ingest(routeSpans({ spans: [...old, ...recent], rejected: 0, reasons: [] }), Date.now());
    const parts = await sql<{ part: number; n: number }>(url, 'SELECT part, count(*)::int AS n FROM spans GROUP BY part ORDER BY part');
    expect(parts).toEqual([
      { part: oldDay, n: old.length },
      { part: dayOf(Date.now()), n: recent.length },
    ]);
    const oldTable = `spans_${new Date(oldDay * DAY).toISOString().slice(0, 10).replace(/-/g, '_')}`;
    expect(await sql(url, `SELECT count(*)::int AS n FROM ${oldTable}`)).toEqual([{ n: old.length }]);

    expect(await engine.transaction((tx) => tx.removeStartedBefore(Date.now() - 2 * DAY, 100))).toBe(2);
    expect(await sql(url, `SELECT relname FROM pg_class WHERE relname = $1`, [oldTable])).toEqual([]);
    expect(await engine.trace(old[0]!.traceId)).toEqual([]);
    expect(await engine.trace(recent[0]!.traceId)).toHaveLength(recent.length);
    expect((await engine.listFlows())[0]!.executionCount).toBe(1);
    // The owners of the dropped day's spans went too; today's stay.
    expect(await sql(url, 'SELECT part, count(*)::int AS n FROM span_owners GROUP BY part')).toEqual([{ part: dayOf(Date.now()), n: recent.length }]);
    await engine.close();
  });
});

describe('two collectors on one PostgreSQL', () => {
  it('make a new execution both name without waiting for each other’s commit', async () => {
    const url = await server.createDatabase();
    const [a, b] = [new PostgresEngine({ url }), new PostgresEngine({ url })];
    const watcher = new pg.Client({ connectionString: url });
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    try {
      await Promise.all([a.ready(), b.ready(), watcher.connect()]);
      let keyed!: () => void;
      const hasKey = new Promise<void>((resolve) => (keyed = resolve));
      // Collector A has made the execution's key and goes on with its transaction (its spans).
      const first = a.transaction(async (tx) => {
        const keys = await tx.keys(['shared'], new Map([['shared', Date.now()]]));
        keyed();
        await held;
        return keys.get('shared');
      });
      await hasKey;
      // Collector B, given the rest of that execution, reads and locks it meanwhile.
      let done = false;
      const second = b.transaction(async (tx) => (await tx.executions(['shared'])).get('shared')!.key).finally(() => (done = true));
      const waitingOnLocks = async () =>
        (await watcher.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)).rows[0]!.n;
      while (!done && (await waitingOnLocks()) === 0) await new Promise((resolve) => setImmediate(resolve));
      expect(done, 'B waited on a lock A holds until its commit').toBe(true);
      release();
      expect(await first).toBe(await second);
    } finally {
      release();
      await watcher.end();
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('read the other’s changes back for live streams only while one listens, and then miss none', async () => {
    const url = await server.createDatabase();
    const [a, b] = [new PostgresEngine({ url }), new PostgresEngine({ url })];
    try {
      await Promise.all([a.ready(), b.ready()]);
      // B's own engine, watched and read as the collector does; only counted here.
      const heard: Array<number | undefined> = [];
      const watch = b.watch.bind(b);
      b.watch = (onCommit) => watch((seq) => (heard.push(seq), onCommit(seq)));
      let readBack = 0;
      const changesSince = b.changesSince.bind(b);
      b.changesSince = (...args) => (readBack++, changesSince(...args));
      const feed = new ChangeFeed(b, new ExecutionReader(b, 60_000), (error) => {
        throw error;
      });
      await expect.poll(() => heard.includes(undefined)).toBe(true);
      const rules = new ExecutionRules(a, 60_000);
      const ingest = async (sku: string) => {
        const spans = normalized(await checkoutSpans([{ sku, qty: 1 }], memoryProvider()));
        const changes = await rules.ingest(routeSpans({ spans, rejected: 0, reasons: [] }), Date.now());
        return { id: changes[0]!.item.id, last: changes[changes.length - 1]!.seq };
      };

      // Nobody listens: A's commit is heard, nothing is read back.
      const unwatched = await ingest('U-1');
      await expect.poll(() => heard.includes(unwatched.last)).toBe(true);
      await feed.settled();
      expect(readBack).toBe(0);

      // A stream listens: A's next commits reach it in order, after the mark the unread ones left.
      const events: ExecutionChange[] = [];
      feed.on(CHANGE_EVENT, (change: ExecutionChange) => events.push(change));
      const watched = [await ingest('W-1'), await ingest('W-2')];
      await expect.poll(() => watched.every((w) => events.some((e) => e.item.id === w.id && e.seq === w.last))).toBe(true);
      expect(readBack).toBeGreaterThan(0);
      const seqs = events.map((e) => e.seq);
      expect(seqs).toEqual([...new Set(seqs)].sort((x, y) => x - y));
      expect(seqs[0]).toBe(unwatched.last + 1);
      expect(seqs.at(-1)).toBe(watched[1]!.last);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('ingest with a pool of one connection asked for: the engine keeps two, one beside the transaction', async () => {
    const engine = new PostgresEngine({ url: await server.createDatabase(), poolSize: 1 });
    try {
      const spans = normalized(await checkoutSpans([{ sku: 'pool-1', qty: 1 }], memoryProvider()));
      const changes = await new ExecutionRules(engine, 60_000).ingest(routeSpans({ spans, rejected: 0, reasons: [] }), Date.now());
      expect(changes.map((c) => c.item.status)).toEqual(['fulfilled']);
    } finally {
      await engine.close();
    }
  });

  it('wait a bounded time on an execution an older collector made inside its open transaction: 503, then on once it commits', async () => {
    const url = await server.createDatabase();
    const engine = new PostgresEngine({ url });
    const older = new pg.Client({ connectionString: url });
    try {
      await Promise.all([engine.ready(), older.connect()]);
      // As collectors of the previous release did: the execution made inside a transaction still open.
      await older.query('BEGIN');
      await older.query(`INSERT INTO executions (execution_id, summary) VALUES ('held', '{"steps":0}')`);
      const refused = await engine.transaction((tx) => tx.keys(['held'])).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(StorageUnavailableError);
      expect((refused as StorageUnavailableError).status).toBe(503);
      expect((refused as Error).message).toMatch(/kept a lock this request needs/);
      await older.query('COMMIT');
      const keys = await engine.transaction((tx) => tx.keys(['held']));
      expect(keys.get('held')).toEqual(expect.any(Number));
    } finally {
      await older.end();
      await engine.close();
    }
  }, 60_000);
});
