import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import * as sc from '@flowtrace/semconv';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { routeSpans } from '../src/ingest/route.js';
import { ExecutionRules } from '../src/ingest/rules.js';
import type { Span } from '../src/otlp/span.js';
import { SqliteEngine } from '../src/store/sqlite/engine.js';
import { decodedSpan } from './support/decoded-span.js';

/**
 * The SQLite engine's background upkeep. Execution and trace ids written since schema 7 are
 * found through a map until they are merged into their indexes in sorted chunks
 * (src/store/sqlite/idents.ts); search texts wait in a table until a batch of them goes into the
 * FTS5 index. These tests lower both thresholds so that merges, restarts between them,
 * rollbacks, retention and searches all meet.
 */

const T0 = Date.UTC(2026, 10, 1, 9);
function span(traceId: string, spanId: string, attributes: Span['attributes'], offsetMs: number, parentSpanId?: string): Span {
  return decodedSpan({ traceId, spanId, parentSpanId, name: `span-${spanId}`, serviceName: 'shop', startMs: T0 + offsetMs, durationMs: 2, attributes });
}

/** Execution `n`: its own span and two steps, in a trace of its own with ids in no order. */
function execution(n: number, id = `exec-${n}`): Span[] {
  const trace = hex(n * 2654435761 + 1, 32);
  const root = hex(n * 40503 + 7, 16);
  return [
    span(trace, root, { [sc.ATTR_EXECUTION_ID]: id, [sc.ATTR_EXECUTION_ROOT]: true, [sc.ATTR_FLOW_ID]: 'checkout', [sc.ATTR_FLOW_NAME]: 'checkout', [sc.ATTR_INPUT]: JSON.stringify({ order: `Order-${n}`, shelf: 'Bücher' }) }, n),
    span(trace, hex(n * 7919 + 11, 16), { [sc.ATTR_EXECUTION_ID]: id }, n + 1, root),
    span(trace, hex(n * 104729 + 13, 16), { [sc.ATTR_EXECUTION_ID]: id }, n + 2, root),
  ];
}

function hex(seed: number, length: number): string {
  let out = '';
  for (let x = seed >>> 0 || 1; out.length < length; ) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out += x.toString(16).padStart(8, '0');
  }
  return out.slice(0, length);
}

describe('execution and trace ids past the merge threshold', () => {
  let dir: string;
  let path: string;
  let engine: SqliteEngine;
  let rules: ExecutionRules;

  let logs: string[] = [];
  const open = (recentIdents: number, searchBatch?: number) => {
    engine = new SqliteEngine({ path, recentIdents, searchBatch, log: (line) => logs.push(line) });
    rules = new ExecutionRules(engine, 3_600_000, () => {});
  };
  const ingest = (spans: Span[]) => rules.ingest(routeSpans({ spans, rejected: 0, reasons: [] }), T0 + 60_000);
  const file = () => new Database(path, { readonly: true });
  /** Row counts of the file, read with the engine closed (it holds the file exclusively), then reopened. */
  const counts = async (recentIdents: number, searchBatch?: number) => {
    await engine.close();
    const db = file();
    const row = db
      .prepare(
        `SELECT (SELECT count(*) FROM executions) AS executions, (SELECT count(*) FROM spans) AS spans, (SELECT count(*) FROM traces) AS traces,
                (SELECT count(*) FROM execution_idents) AS mergedExecutions, (SELECT count(*) FROM trace_idents) AS mergedTraces,
                (SELECT count(*) FROM search_pending) AS pendingSearch`,
      )
      .get() as Record<string, number>;
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    db.close();
    open(recentIdents, searchBatch);
    return row;
  };

  beforeEach(() => {
    logs = [];
    dir = mkdtempSync(join(tmpdir(), 'flowtrace-idents-'));
    path = join(dir, 'flowtrace.db');
  });
  afterEach(async () => {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('finds every execution and trace across merges and restarts; re-delivery adds nothing', async () => {
    open(16);
    const all = Array.from({ length: 300 }, (_, n) => execution(n));
    for (let n = 0; n < 150; n += 10) await ingest(all.slice(n, n + 10).flat());
    await engine.idle();
    // Restarted between merges: the ids not merged yet are found again from their rows.
    expect((await counts(16)).mergedExecutions).toBeGreaterThan(100);
    for (let n = 150; n < 300; n += 10) await ingest(all.slice(n, n + 10).flat());
    await engine.idle();
    const before = await counts(1_000_000);
    expect(before).toMatchObject({ executions: 300, spans: 900, traces: 300 });
    expect(before.mergedExecutions).toBeGreaterThan(200);
    expect(before.mergedExecutions).toBeLessThan(300);

    for (let n = 0; n < 300; n += 50) await ingest(all.slice(n, n + 50).flat());
    expect(await counts(1_000_000)).toEqual(before);
    for (let n = 0; n < 300; n++) {
      const stored = await engine.execution(`exec-${n}`);
      expect(stored?.summary.steps, `exec-${n}`).toBe(2);
      const spans = await engine.trace(all[n]![0]!.traceId);
      expect(spans.map((s) => s.spanId).sort(), `trace of exec-${n}`).toEqual(all[n]!.map((s) => s.spanId).sort());
    }
  });

  it('a merge cut short by a restart goes on from where it stood, and finds each id once', async () => {
    // 1,201 new ids past the threshold at once: the merge takes chunks of 1,024 ids, executions' then traces'.
    open(1_000_000);
    const all = Array.from({ length: 1200 }, (_, n) => execution(n));
    for (let n = 0; n < 1200; n += 100) await ingest(all.slice(n, n + 100).flat());
    await counts(500);
    await ingest(execution(5000));
    // Closed right after the commit that started the merge: at most its first chunk is in.
    const cut = await counts(500);
    expect(cut.mergedTraces).toBeLessThan(1200);
    for (const n of [0, 1, 1199, 5000]) expect((await engine.execution(`exec-${n}`))?.summary.steps, `exec-${n}`).toBe(2);
    await engine.idle();
    // The last id may wait in the map for the next merge: it came after this one was planned.
    const done = await counts(500);
    expect(done).toMatchObject({ executions: 1201, traces: 1201 });
    expect(done.mergedExecutions).toBeGreaterThanOrEqual(1200);
    expect(done.mergedTraces).toBeGreaterThanOrEqual(1200);
    for (const n of [0, 1, 499, 500, 1024, 1199, 5000]) expect((await engine.execution(`exec-${n}`))?.summary.steps, `exec-${n}`).toBe(2);
  });

  it('an id made by a transaction that rolled back is not found, and can be made again', async () => {
    open(1);
    await expect(
      engine.transaction(async (tx) => {
        await tx.keys(['exec-lost']);
        throw new Error('the request failed');
      }),
    ).rejects.toThrow('the request failed');
    // The next execution gets the key the rolled-back one had.
    await ingest(execution(2));
    expect(await engine.execution('exec-lost')).toBeUndefined();
    await ingest(execution(1, 'exec-lost'));
    await engine.idle();
    expect((await engine.execution('exec-lost'))?.summary.steps).toBe(2);
    expect((await engine.execution('exec-2'))?.summary.steps).toBe(2);
    expect(await counts(1)).toMatchObject({ executions: 2, mergedExecutions: 2 });
  });

  it('q finds texts in the FTS5 index and texts still waiting alike, case folded, with an exact total', async () => {
    open(1_000_000, 4);
    for (let n = 0; n < 10; n++) await ingest(execution(n));
    await engine.idle();
    // Two batches of 4 went into the index; 2 texts wait for the next.
    expect((await counts(1_000_000, 4)).pendingSearch).toBe(2);
    const q = async (text: string) => {
      const { executions, total } = await engine.listExecutions({ flowId: 'checkout', q: text, offset: 0, limit: 20 });
      return { ids: executions.map((e) => e.id), total };
    };
    expect(await q('bücher')).toEqual({ ids: Array.from({ length: 10 }, (_, n) => `exec-${9 - n}`), total: 10 });
    expect(await q('ORDER-1"')).toEqual({ ids: ['exec-1'], total: 1 });
    expect(await q('order-9')).toEqual({ ids: ['exec-9'], total: 1 });
    expect((await engine.listExecutions({ flowId: 'checkout', q: 'BÜCHER', offset: 8, limit: 5 })).executions.map((e) => e.id)).toEqual(['exec-1', 'exec-0']);
    // Retention takes texts from both places.
    expect(await engine.transaction((tx) => tx.removeStartedBefore(T0 + 5, 10))).toBe(5);
    expect((await q('bücher')).total).toBe(5);
    expect(await q('order-9')).toEqual({ ids: ['exec-9'], total: 1 });
  });

  it("q reads a keyed entry's flow and start from the index, and an indexed entry follows its execution to a new start", async () => {
    open(1_000_000, 4);
    for (let n = 0; n < 10; n++) await ingest(execution(n));
    await engine.idle();
    const db = (engine as unknown as { db: Database.Database }).db;
    expect((db.pragma('table_info(search)') as Array<{ name: string }>).map((c) => c.name)).toEqual(['params', 'flow', 'started_at']);
    const q = async (query: { from?: number; to?: number; flowId?: string } = {}) => {
      const { executions, total } = await engine.listExecutions({ flowId: query.flowId ?? 'checkout', q: 'bücher', from: query.from, to: query.to, offset: 0, limit: 20 });
      return { ids: executions.map((e) => e.id), total };
    };
    // exec-0 … exec-7 are indexed, exec-8 and exec-9 wait: a range takes from both.
    expect(await q({ from: T0 + 3, to: T0 + 9 })).toEqual({ ids: ['exec-8', 'exec-7', 'exec-6', 'exec-5', 'exec-4', 'exec-3'], total: 6 });
    expect(await q({ flowId: 'refund' })).toEqual({ ids: [], total: 0 });
    // exec-2's own span arrives again under another span id, started earlier: the earlier start
    // becomes the execution's, and its index entry (same text, so not rewritten) moves with it.
    const [root] = execution(2);
    await ingest([{ ...root!, spanId: 'e'.repeat(16), startTimeUnixNano: String(BigInt(T0 - 100) * 1_000_000n), endTimeUnixNano: String(BigInt(T0 - 98) * 1_000_000n) }]);
    await engine.idle();
    expect((await engine.execution('exec-2'))?.summary.head?.startedAtMs).toBe(T0 - 100);
    expect(await q({ from: T0 - 200, to: T0 })).toEqual({ ids: ['exec-2'], total: 1 });
    expect((await q()).ids.at(-1)).toBe('exec-2');
    expect((await q({ from: T0 + 1, to: T0 + 3 })).ids).toEqual(['exec-1']);
    // Reopened, the entries are read in the background (and a close in the middle stops it quietly).
    await counts(1_000_000, 4);
    expect((await q()).total).toBe(10);
    await engine.close();
    open(1_000_000, 4);
    await engine.close();
    await new Promise((resolve) => setImmediate(resolve));
    open(1_000_000, 4);
    expect(logs).toEqual([]);
  });

  it('a failing upkeep step is logged once, loses nothing, and is done once it can be', async () => {
    open(1_000_000, 1);
    // The FTS5 table gone stands for an index that cannot be written: moving texts into it fails.
    const db = (engine as unknown as { db: Database.Database }).db;
    db.exec('ALTER TABLE search RENAME TO search_away');
    for (let n = 0; n < 3; n++) await ingest(execution(n));
    await engine.idle();
    expect(logs).toEqual([expect.stringMatching(/^SQLite background upkeep failed \(tried again after the next commit\): no such table: search$/)]);
    expect((await engine.execution('exec-2'))?.summary.steps).toBe(2);
    db.exec('ALTER TABLE search_away RENAME TO search');
    await ingest(execution(3));
    await engine.idle();
    expect(logs).toHaveLength(1);
    expect((await counts(1_000_000, 1)).pendingSearch).toBe(0);
    expect((await engine.listExecutions({ flowId: 'checkout', q: 'bücher', offset: 0, limit: 10 })).total).toBe(4);
  });

  it('retention removes a merged id with its execution: the same id later names a new execution', async () => {
    open(1);
    await ingest(execution(1));
    await engine.idle();
    expect((await counts(1)).mergedExecutions).toBe(1);
    expect(await engine.transaction((tx) => tx.removeStartedBefore(T0 + 60_000, 10))).toBe(1);
    expect(await engine.execution('exec-1')).toBeUndefined();
    expect(await counts(1)).toMatchObject({ executions: 0, mergedExecutions: 0 });
    await ingest(execution(1).slice(1));
    expect((await engine.execution('exec-1'))?.summary).toMatchObject({ steps: 2 });
    expect((await engine.execution('exec-1'))?.summary.head).toBeUndefined();
  });
});

describe('opening a database of schema 6 (ids in unique indexes)', () => {
  let dir: string;
  let engine: SqliteEngine;
  afterEach(async () => {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps its plain search index, and q reads each match from its execution there', async () => {
    dir = mkdtempSync(join(tmpdir(), 'flowtrace-schema-6-'));
    const path = join(dir, 'flowtrace.db');
    copyFileSync(new URL('./fixtures/schema-6.db', import.meta.url), path);
    engine = new SqliteEngine({ path, searchBatch: 2 });
    const db = (engine as unknown as { db: Database.Database }).db;
    expect((db.pragma('table_info(search)') as Array<{ name: string }>).map((c) => c.name)).toEqual(['params']);
    const rules = new ExecutionRules(engine, 3_600_000, () => {});
    for (let n = 0; n < 3; n++) await rules.ingest(routeSpans({ spans: execution(n), rejected: 0, reasons: [] }), T0 + 60_000);
    await engine.idle();
    const q = async (from?: number) => {
      const { executions, total } = await engine.listExecutions({ flowId: 'checkout', q: 'BÜCHER', from, offset: 0, limit: 20 });
      return { ids: executions.map((e) => e.id), total };
    };
    expect(await q()).toEqual({ ids: ['exec-2', 'exec-1', 'exec-0'], total: 3 });
    expect(await q(T0 + 1)).toEqual({ ids: ['exec-2', 'exec-1'], total: 2 });
  });

  it('finds its executions and traces by their ids, and goes on writing to them', async () => {
    dir = mkdtempSync(join(tmpdir(), 'flowtrace-schema-6-'));
    const path = join(dir, 'flowtrace.db');
    copyFileSync(new URL('./fixtures/schema-6.db', import.meta.url), path);
    engine = new SqliteEngine({ path, recentIdents: 1 });
    const rules = new ExecutionRules(engine, 3_600_000, () => {});
    const ingest = (spans: Span[]) => rules.ingest(routeSpans({ spans, rejected: 0, reasons: [] }), Date.UTC(2026, 10, 1, 9, 30));
    const oldTrace = (i: number) => (i + 1).toString(16).padStart(2, '0').repeat(16);
    // legacy-5's own span arrives now; legacy-0's first step is sent again; a new execution joins legacy-1's trace.
    const root5 = '5'.padStart(16, 'a');
    await ingest([
      span(oldTrace(5), root5, { [sc.ATTR_EXECUTION_ID]: 'legacy-5', [sc.ATTR_EXECUTION_ROOT]: true, [sc.ATTR_FLOW_ID]: 'checkout', [sc.ATTR_FLOW_NAME]: 'checkout' }, 5000),
      span(oldTrace(0), '00'.padStart(16, 'b'), { [sc.ATTR_EXECUTION_ID]: 'legacy-0' }, 1, '0'.padStart(16, 'a')),
      span(oldTrace(1), 'c'.repeat(16), { [sc.ATTR_EXECUTION_ID]: 'new-in-old-trace', [sc.ATTR_EXECUTION_ROOT]: true, [sc.ATTR_FLOW_ID]: 'checkout', [sc.ATTR_FLOW_NAME]: 'checkout' }, 9000),
    ]);
    for (let i = 0; i < 6; i++) {
      const stored = await engine.execution(`legacy-${i}`);
      expect(stored?.key, `legacy-${i}`).toBe(i + 1);
      expect(stored?.summary.steps).toBe(2);
      expect(stored?.summary.head?.flowId).toBe('checkout');
    }
    expect((await engine.trace(oldTrace(0))).length).toBe(3);
    expect((await engine.trace(oldTrace(1))).map((s) => s.attributes[sc.ATTR_EXECUTION_ID]).sort()).toEqual(['legacy-1', 'legacy-1', 'legacy-1', 'new-in-old-trace']);
    const listed = await engine.listExecutions({ flowId: 'checkout', limit: 20, offset: 0 });
    expect(listed.total).toBe(7);
    expect(listed.executions.map((e) => e.id).sort()).toEqual(['legacy-0', 'legacy-1', 'legacy-2', 'legacy-3', 'legacy-4', 'legacy-5', 'new-in-old-trace']);
    await engine.close();

    const db = new Database(path, { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(8);
    expect(db.prepare('SELECT count(*) FROM executions').pluck().get()).toBe(7);
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    db.close();
    engine = new SqliteEngine({ path });
    expect((await engine.execution('new-in-old-trace'))?.summary.head?.flowId).toBe('checkout');
  });
});
