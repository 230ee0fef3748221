import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { createCollector } from '../src/app.js';
import type { ExecutionRecord, FlowSummary } from '../src/records/types.js';
import expected from './fixtures/schema-1.expected.json' with { type: 'json' };
import { getJson } from './support/collector.js';

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
    expect(db.pragma('user_version', { simple: true })).toBe(5);
    expect(db.prepare(`SELECT count(*) FROM sqlite_master WHERE name LIKE 'v1_%'`).pluck().get()).toBe(0);
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    db.close();
  });
});
