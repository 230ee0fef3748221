import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { SqliteStore, type ExecutionNode, type ExecutionRecord, type Projection } from '@flowtrace/collector';
import { startCollectorProcess } from './collector-process.js';
import { figure, percentile, type Bench, type BenchResult, type Figure } from './measure.js';

const FLOWS = 20;
const NODES = 5;
const RESULTS = fileURLToPath(new URL('../results/', import.meta.url));

/**
 * History queries at scale: 1,000,000 stored executions of 5 nodes across 20 flows, read through
 * the HTTP API. The store is seeded once with `importRecords` (what ingest would have written)
 * and kept under bench/results/ for later runs.
 */
export const queryBench: Bench = async ({ smoke, log }): Promise<BenchResult> => {
  const executions = smoke ? 2_000 : 1_000_000;
  const dbPath = await seededDatabase(executions, log);
  const collector = await startCollectorProcess(['--db', dbPath, '--timeout', '100000h']);
  try {
    const perFlow = executions / FLOWS;
    const requests = smoke ? 10 : 300;
    const flow = (i: number) => `flow-${String(i % FLOWS).padStart(2, '0')}`;
    const deepPage = Math.max(1, Math.floor(perFlow / 20 / 2));
    const ids = await sampleIds(dbPath, requests);
    const kinds: Array<[string, (i: number) => string]> = [
      ['healthz (anchor)', () => '/healthz'],
      ['list, page 1', (i) => `/api/flows/${flow(i)}/executions?page=1&limit=20`],
      [`list, page ${deepPage}`, (i) => `/api/flows/${flow(i)}/executions?page=${deepPage}&limit=20`],
      ['list, status=error', (i) => `/api/flows/${flow(i)}/executions?status=error&limit=20`],
      ['list, q search', (i) => `/api/flows/${flow(i)}/executions?q=sku-${100 + (i % 800)}&limit=20`],
      ['detail', (i) => `/api/executions/${ids[i % ids.length]}`],
    ];
    const samples: Record<string, number[]> = Object.fromEntries(kinds.map(([name]) => [name, []]));
    // Alternate the kinds request by request, after a warm-up pass.
    for (let i = -10; i < requests; i++) {
      for (const [name, path] of kinds) {
        const start = performance.now();
        const response = await fetch(`${collector.url}${path(Math.abs(i))}`);
        await response.arrayBuffer();
        if (response.status !== 200) throw new Error(`${path(i)} answered ${response.status}`);
        if (i >= 0) samples[name]!.push(performance.now() - start);
      }
    }
    const anchor = { name: 'healthz p50', value: percentile(samples['healthz (anchor)']!, 50) };
    const figures: Figure[] = [];
    for (const [name] of kinds.slice(1)) {
      figures.push(figure(`${name} p50`, percentile(samples[name]!, 50), 'ms', anchor));
      figures.push(figure(`${name} p99`, percentile(samples[name]!, 99), 'ms', anchor, 'p99 < 10 ms (promise: 2 s history, 1 s detail)'));
    }
    log(`${executions} executions, ${requests} requests of each kind`);
    return { bench: 'query', smoke, figures, samples };
  } finally {
    await collector.stop();
  }
};

async function seededDatabase(executions: number, log: (m: string) => void): Promise<string> {
  mkdirSync(RESULTS, { recursive: true });
  const path = `${RESULTS}query-${executions}.db`;
  if (existsSync(path)) {
    const db = new Database(path, { readonly: true });
    const count = db.prepare('SELECT count(*) FROM executions').pluck().get() as number;
    db.close();
    if (count === executions) return path;
  }
  log(`seeding ${executions} executions (kept in ${path} for later runs)…`);
  const partial = `${path}.partial`;
  for (const suffix of ['', '-wal', '-shm']) rmSync(partial + suffix, { force: true });
  const store = new SqliteStore({ path: partial, defaultTimeoutMs: 300_000 });
  const started = performance.now();
  const chunk = 20_000;
  for (let from = 0; from < executions; from += chunk) {
    store.importRecords(projections(from, Math.min(executions, from + chunk), executions));
  }
  store.close();
  renameSync(partial, path);
  log(`seeded in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  return path;
}

async function sampleIds(path: string, count: number): Promise<string[]> {
  const db = new Database(path, { readonly: true });
  const ids = db.prepare('SELECT id FROM executions ORDER BY random() LIMIT ?').pluck().all(count) as string[];
  db.close();
  return ids;
}

/** Synthetic but realistic records: about 90% fulfilled, 10% failed at a step, the newest 100 still running. */
function* projections(from: number, to: number, total: number): Iterable<Projection> {
  const span = 30 * 24 * 3_600_000;
  const origin = Date.now() - span;
  for (let i = from; i < to; i++) {
    const startedAtMs = origin + (i / total) * (span - 60_000);
    const roll = (i * 7919) % 100;
    const status = i >= total - 100 ? 'pending' : roll < 10 ? 'error' : 'fulfilled';
    const flowId = `flow-${String(i % FLOWS).padStart(2, '0')}`;
    const params = { customer: `c-${i % 5000}`, sku: `sku-${i % 1000}`, qty: (i % 5) + 1 };
    const nodes: ExecutionNode[] = Array.from({ length: status === 'pending' ? 0 : NODES }, (_, n) => {
      const failed = status === 'error' && n === NODES - 1;
      const node: ExecutionNode = {
        id: `${i.toString(16).padStart(12, '0')}${n.toString(16).padStart(4, '0')}`,
        parentId: i.toString(16).padStart(16, '0'),
        name: `step s${n}`,
        kind: 'fn',
        key: `s${n}`,
        flowName: null,
        depth: 1,
        index: n,
        status: failed ? 'error' : 'fulfilled',
        startedAt: new Date(startedAtMs + n * 3).toISOString(),
        endedAt: new Date(startedAtMs + n * 3 + 2).toISOString(),
        durationMs: 2,
        input: [params.sku, n],
        dataKey: failed ? null : `s${n}`,
      };
      if (failed) node.error = { message: `step s${n} failed for ${params.sku}`, type: 'Error' };
      else node.output = { ok: true, step: n, value: i * n };
      return node;
    });
    const record: ExecutionRecord = {
      id: `exec-${i}`,
      flowId,
      flowName: flowId,
      traceId: i.toString(16).padStart(32, '0'),
      serviceName: 'bench-shop',
      serviceInstanceId: 'bench',
      status,
      startedAt: new Date(startedAtMs).toISOString(),
      timeoutMs: 3_600_000,
      initialParams: params,
      nodes,
      data: Object.fromEntries(nodes.filter((n) => n.dataKey).map((n) => [n.dataKey, n.output])),
      tags: {},
    };
    if (status !== 'pending') {
      record.endedAt = new Date(startedAtMs + NODES * 3).toISOString();
      record.durationMs = NODES * 3;
    }
    if (status === 'error') {
      record.errorKind = 'exception';
      const failing = nodes[NODES - 1]!;
      record.errorInfo = { message: failing.error!.message, type: 'Error', nodeId: failing.id, nodeName: failing.name };
    }
    yield { record, startedAtMs };
  }
}
