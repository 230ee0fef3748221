import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { createCollector } from '../src/app.js';
import type { ExecutionRecord, FlowMetrics, FlowSummary } from '../src/records/types.js';
import { bucketOf, GRAINS, HOUR } from '../src/store/rollups.js';
import { SqliteEngine } from '../src/store/sqlite/engine.js';
import expected from './fixtures/schema-1.expected.json' with { type: 'json' };
import { getJson } from './support/collector.js';
import { schema5Histogram, SPREAD_DURATIONS as durations } from './support/schema-5-bins.js';

const dir = mkdtempSync(join(tmpdir(), 'flowtrace-upgrade-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('opening a database written by the first release (schema 1)', () => {
  it('keeps every execution: ids, flows, statuses, parameters, failing steps; decided outcomes stay decided', async () => {
    const path = join(dir, 'flowtrace.db');
    copyFileSync(new URL('./fixtures/schema-1.db', import.meta.url), path);
    const logs: string[] = [];
    const collector = createCollector({ db: path, reconcileIntervalMs: 0, log: (m) => logs.push(m) });
    await collector.ready;
    const url = await collector.listen(0);
    expect(logs.join('\n')).toMatch(/upgrading 6 executions .* in the background[\s\S]*upgrade finished: 6 executions converted/);

    const flows = (await getJson(`${url}/api/flows?includeDeleted=true`)).body.items as FlowSummary[];
    // The first release had no deletedAt: a deleted flow keeps its deletion time.
    expect(flows.map(({ deletedAt, ...flow }) => flow)).toEqual(expected.flows);
    expect(flows.map((f) => f.deletedAt !== null)).toEqual(flows.map((f) => f.deleted));
    for (const old of expected.executions as unknown as ExecutionRecord[]) {
      const { status, body } = await getJson(`${url}/api/executions/${old.id}`);
      expect(status, old.id).toBe(200);
      const record = body as ExecutionRecord;
      expect(record).toMatchObject({
        id: old.id,
        flowId: old.flowId,
        flowName: old.flowName,
        serviceName: old.serviceName,
        status: old.status,
        startedAt: old.startedAt,
        initialParams: old.initialParams,
        nodeCount: old.nodes.length,
      });
      expect(record.errorKind).toBe(old.errorKind);
      expect(record.errorInfo?.nodeName).toBe(old.errorInfo?.nodeName);
      expect(record.errorInfo?.message).toBe(old.errorInfo?.message);
      expect(record.nodes.map((n) => [n.name, n.status])).toEqual(old.nodes.map((n) => [n.name, n.status]));
    }
    const listed = (await getJson(`${url}/api/flows/checkout/executions?limit=100`)).body;
    expect(listed.total).toBe(5);
    // The search index covers converted history too.
    expect((await getJson(`${url}/api/flows/checkout/executions?q=T-4`)).body.items.map((i: { errorKind: string }) => i.errorKind)).toEqual(['timeout']);
    await collector.close();

    const db = new Database(path, { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(8);
    expect(db.prepare(`SELECT count(*) FROM sqlite_master WHERE name LIKE 'v1_%'`).pluck().get()).toBe(0);
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    db.close();
  });
});

describe('opening a database of schema 5 (duration histograms with bins 10 % wide)', () => {
  it('moves each stored bin to the 2 % bin of its middle; metrics read that history within its old precision', async () => {
    const path = join(dir, 'schema-5.db');
    await new SqliteEngine({ path }).close();
    // Rollups as a schema 5 collector kept them.
    const start = Date.UTC(2026, 0, 1, 10);
    const { old: oldBins, moved } = schema5Histogram(durations);
    const db = new Database(path);
    const flow = db.prepare(`INSERT INTO flows (flow_id, flow_name, fulfilled) VALUES ('old', 'old', ?)`).run(durations.length).lastInsertRowid;
    for (const grain of GRAINS) {
      db.prepare('INSERT INTO counts (flow, grain, bucket, status, n) VALUES (?, ?, ?, 1, ?)').run(flow, grain, bucketOf(start, grain), durations.length);
      for (const [bin, n] of oldBins) db.prepare('INSERT INTO durations (flow, grain, bucket, bin, n) VALUES (?, ?, ?, ?, ?)').run(flow, grain, bucketOf(start, grain), bin, n);
    }
    // Schema 7's additions undone: the file as schema 5 left it.
    db.exec(`ALTER TABLE executions DROP COLUMN ident; ALTER TABLE traces DROP COLUMN ident;
      DROP TABLE execution_idents; DROP TABLE trace_idents; DROP TABLE ident_merges; DROP TABLE search_pending;`);
    db.pragma('user_version = 5');
    db.close();

    const collector = createCollector({ db: path, reconcileIntervalMs: 0 });
    await collector.ready;
    const url = await collector.listen(0);
    const from = new Date(start).toISOString();
    const to = new Date(start + HOUR).toISOString();
    const metrics = (await getJson(`${url}/api/flows/old/metrics?bucket=1h&from=${from}&to=${to}`)).body as FlowMetrics;
    await collector.close();
    expect(metrics.buckets).toHaveLength(1);
    const [bucket] = metrics.buckets;
    expect(bucket!.counts).toEqual({ pending: 0, fulfilled: 200, error: 0 });
    expect(bucket!.errorRate).toBe(0);
    const sorted = [...durations].sort((a, b) => a - b);
    const exact = { p50: sorted[99]!, p95: sorted[189]!, max: sorted[199]! };
    // Converted history: the old bin's middle (±5 %) stands in the new bin (±1 % of that middle).
    for (const [name, value] of Object.entries(exact)) {
      expect(Math.abs(bucket!.durationMs![name as keyof typeof exact] - value) / value, name).toBeLessThan(0.06);
    }

    const upgraded = new Database(path, { readonly: true });
    expect(upgraded.pragma('user_version', { simple: true })).toBe(8);
    for (const grain of GRAINS) {
      const rows = upgraded.prepare('SELECT bin, n FROM durations WHERE flow = ? AND grain = ? ORDER BY bin').raw().all(flow, grain);
      expect(rows, `grain ${grain}`).toEqual(moved);
    }
    expect(upgraded.pragma('integrity_check', { simple: true })).toBe('ok');
    upgraded.close();
  });
});
