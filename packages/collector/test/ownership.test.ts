import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as sc from '@flowtrace/semconv';
import { startPostgres, type PostgresServer } from '@flowtrace/test-servers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { conflictLog, type OwnershipConflict } from '../src/ingest/ownership.js';
import type { Span } from '../src/otlp/span.js';
import type { StorageEngine } from '../src/store/engine.js';
import { PostgresEngine } from '../src/store/postgres/engine.js';
import { SqliteEngine } from '../src/store/sqlite/engine.js';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { getJson, startCollector } from './support/collector.js';
import { historyOf } from './support/history.js';
import { checkoutSpans, memoryProvider, normalized, protobufBody } from './support/traced.js';

/**
 * A span sent again under another execution (a tracer bug, a replayed or forged request) belongs
 * to exactly one: the same one whatever the arrival order, on either engine, and each conflict is
 * reported. Real tracer spans, real SQLite files and a real PostgreSQL server.
 */
const NOW = Date.now();
const TIMEOUT = 300_000;
/** Fabricated execution ids below and above any id the tracer makes (UUIDs: hex digits). */
const BELOW = '0-forged';
const ABOVE = 'z-forged';

let postgres: PostgresServer;
let provider: ReturnType<typeof memoryProvider>;
const dirs: string[] = [];
beforeAll(async () => {
  postgres = await startPostgres();
  provider = memoryProvider('ownership');
}, 120_000);
afterAll(async () => {
  await provider.provider.shutdown();
  await postgres?.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const engines: Array<{ name: string; open(): Promise<StorageEngine> }> = [
  {
    name: 'SQLite',
    open: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'flowtrace-ownership-'));
      dirs.push(dir);
      return new SqliteEngine({ path: join(dir, 'flowtrace.db') });
    },
  },
  { name: 'PostgreSQL', open: async () => new PostgresEngine({ url: await postgres.createDatabase() }) },
];

const executionOf = (span: Span) => span.attributes[sc.ATTR_EXECUTION_ID] as string;
const claimedBy = (span: Span, id: string): Span => ({ ...span, attributes: { ...span.attributes, [sc.ATTR_EXECUTION_ID]: id } });
const isStep = (span: Span) => span.attributes[sc.ATTR_MARKER] === undefined && span.attributes[sc.ATTR_EXECUTION_ROOT] !== true;
const isHead = (span: Span) => span.attributes[sc.ATTR_EXECUTION_ROOT] === true;

/** One successful checkout and a failing one (two executions, two traces). */
async function twoExecutions() {
  // One after the other: the flow's last execution is then the same in every arrival order.
  const spans = normalized([...(await checkoutSpans([{ sku: 'A', qty: 2 }], provider)), ...(await checkoutSpans([{ sku: 'B', qty: -1 }], provider))]);
  const ids = [...new Set(spans.filter(isHead).map(executionOf))];
  expect(ids).toHaveLength(2);
  const [a, b] = ids.map((id) => spans.filter((s) => executionOf(s) === id)) as [Span[], Span[]];
  return { a, b, aId: executionOf(a[0]!), bId: executionOf(b[0]!) };
}

/** Everything a user can read of some executions and of the first one's trace. */
async function readable(history: ReturnType<typeof historyOf>, ids: string[], traceId: string) {
  const details = await Promise.all(ids.map((id) => history.getExecution(id, NOW)));
  const list = await history.listExecutions({ flowId: 'checkout', page: 1, limit: 10 });
  const flows = await history.listFlows();
  const trace = (await history.getTrace(traceId)).map((s) => `${s.spanId}:${executionOf(s)}`).sort();
  return { details, list, flows, trace };
}

/** Ingests the requests in order on a fresh engine; returns what can be read and the conflicts reported. */
async function replay(engine: { open(): Promise<StorageEngine> }, requests: Span[][], ids: string[], traceId: string) {
  const conflicts: OwnershipConflict[] = [];
  const history = historyOf(await engine.open(), TIMEOUT, () => NOW, (c) => conflicts.push(c));
  try {
    for (const request of requests) await history.ingest(request, NOW);
    return { read: await readable(history, ids, traceId), conflicts };
  } finally {
    await history.close();
  }
}

describe.each(engines)('who owns a span claimed by two executions ($name)', (engine) => {
  it('a step re-sent under another real execution stays with one of them, the same in every arrival order', async () => {
    const { a, b, aId, bId } = await twoExecutions();
    const step = a.find(isStep)!;
    const forged = claimedBy(step, bId);
    const [owner, loser] = aId < bId ? [aId, bId] : [bId, aId];
    const orders = [
      [a, b, [forged]],
      [[forged], b, a],
      [b, [forged, ...a]],
      [[...a, forged, ...b]],
    ];
    const runs = [];
    for (const requests of orders) runs.push(await replay(engine, requests, [aId, bId], step.traceId));
    for (const run of runs) {
      expect(run.read).toEqual(runs[0]!.read);
      expect(run.conflicts).toEqual([{ traceId: step.traceId, spanId: step.spanId, owner, loser }]);
    }
    const [aNode, bNode] = runs[0]!.read.details.map((detail) => detail!.nodes.find((n) => n.id === step.spanId));
    if (owner === aId) {
      expect(aNode!.status).toBe('fulfilled');
      expect(bNode).toBeUndefined();
    } else {
      // A keeps the step's start marker (a span of its own): a step that started and never ended.
      expect(bNode!.status).toBe('fulfilled');
      expect([aNode!.status, aNode!.error?.type]).toEqual(['error', 'unfinished']);
    }
    // The trace holds the span once, under its owner.
    expect(runs[0]!.read.trace.filter((entry) => entry.startsWith(`${step.spanId}:`))).toEqual([`${step.spanId}:${owner === aId ? aId : bId}`]);
  });

  it('a claim by a smaller id takes the step over (its start marker stays); a larger one is refused; both are reported', async () => {
    const { a, aId } = await twoExecutions();
    const step = a.find(isStep)!;
    for (const [claimant, keeps] of [
      [ABOVE, aId],
      [BELOW, BELOW],
    ] as const) {
      for (const requests of [[a, [claimedBy(step, claimant)]], [[claimedBy(step, claimant)], a]]) {
        const { read, conflicts } = await replay(engine, requests, [aId], step.traceId);
        expect(conflicts).toEqual([{ traceId: step.traceId, spanId: step.spanId, owner: keeps, loser: keeps === aId ? claimant : aId }]);
        // The step's start marker is a span of its own, still naming A: when the step went to
        // another execution, A shows a step that started and never ended.
        const node = read.details[0]!.nodes.find((n) => n.id === step.spanId)!;
        if (keeps === aId) expect(node.status).toBe('fulfilled');
        else expect([node.status, node.error?.type]).toEqual(['error', 'unfinished']);
        expect(read.trace.filter((entry) => entry.startsWith(`${step.spanId}:`))).toEqual([`${step.spanId}:${keeps}`]);
      }
    }
  });

  it('an execution whose head spans are all claimed by a smaller id leaves the list and the flow counts; the claimant takes its place', async () => {
    const { a, b, aId, bId } = await twoExecutions();
    const forged = b.filter(isHead).map((span) => claimedBy(span, BELOW));
    const runs = [];
    for (const requests of [[a, b, forged], [forged, a, b]]) runs.push(await replay(engine, requests, [aId, bId], b[0]!.traceId));
    for (const run of runs) {
      expect(run.read.list.items.map((item) => item.id).sort()).toEqual([BELOW, aId].sort());
      expect(run.read.list.total).toBe(2);
      expect(run.read.flows.find((f) => f.flowId === 'checkout')!.executionCount).toBe(2);
      expect(run.conflicts).toHaveLength(forged.length);
    }
    expect(runs[1]!.read).toEqual(runs[0]!.read);
  });
});

describe('who owns a span claimed by two executions, sent to two collectors on one PostgreSQL at once', () => {
  it('ends with one copy, under the smaller id, however the two commits interleave', async () => {
    for (let round = 0; round < 8; round++) {
      const { a, aId } = await twoExecutions();
      const step = a.find(isStep)!;
      const url = await postgres.createDatabase();
      const conflicts: OwnershipConflict[] = [];
      const collectors = [0, 1].map(() => historyOf(new PostgresEngine({ url }), TIMEOUT, () => NOW, (c) => conflicts.push(c)));
      try {
        await Promise.all([collectors[0]!.ingest(a, NOW), collectors[1]!.ingest([claimedBy(step, BELOW)], NOW)]);
        const copies = (await collectors[0]!.getTrace(step.traceId)).filter((s) => s.spanId === step.spanId);
        expect(copies.map(executionOf)).toEqual([BELOW]);
        expect(conflicts).toEqual([{ traceId: step.traceId, spanId: step.spanId, owner: BELOW, loser: aId }]);
      } finally {
        await Promise.all(collectors.map((c) => c.close()));
      }
    }
  });
});

describe('how a running collector reports a span claimed by two executions', () => {
  it('logs the ids of both claims and the owner, and counts it on /healthz; repeats become a count per minute', async () => {
    const lines: string[] = [];
    const running = await startCollector({ log: (line) => lines.push(line) });
    try {
      const sdkSpans = await checkoutSpans([{ sku: 'A', qty: 2 }], provider);
      const step = sdkSpans.find((s) => s.attributes[sc.ATTR_MARKER] === undefined && s.attributes[sc.ATTR_EXECUTION_ROOT] === undefined)!;
      const aId = step.attributes[sc.ATTR_EXECUTION_ID] as string;
      const post = (spans: ReadableSpan[]) =>
        fetch(`${running.url}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body: protobufBody(spans) });
      expect((await post(sdkSpans)).status).toBe(200);
      const forgedIds = Array.from({ length: 12 }, (_, i) => `z-forged-${String(i).padStart(2, '0')}`);
      for (const id of forgedIds) expect((await post([withAttributes(step, { [sc.ATTR_EXECUTION_ID]: id })])).status).toBe(200);
      const health = await getJson(`${running.url}/healthz`);
      expect(health.body.ingest.conflicts).toBe(forgedIds.length);
      const { spanId, traceId } = step.spanContext();
      // The first ten are told one by one; the rest wait for the minute's count.
      expect(lines.filter((line) => line.includes(`span ${spanId} of trace ${traceId}`) && line.includes(`stays with execution ${aId}`))).toHaveLength(10);
      expect(lines.some((line) => line.includes('z-forged-00'))).toBe(true);
      expect(lines.some((line) => line.includes('z-forged-11'))).toBe(false);
    } finally {
      await running.close();
    }
  });
});

/** A copy of an SDK span with attributes replaced, as the serializers read it. */
function withAttributes(span: ReadableSpan, attributes: ReadableSpan['attributes']): ReadableSpan {
  return Object.assign(Object.create(span) as ReadableSpan, { attributes: { ...span.attributes, ...attributes } });
}

describe('the conflict log', () => {
  it('tells how many more conflicts there were at the end of the interval, even when none follows', async () => {
    const lines: string[] = [];
    const report = conflictLog((line) => lines.push(line), 2, 200);
    for (let i = 0; i < 5; i++) report({ traceId: 't', spanId: `s${i}`, owner: 'a', loser: 'b' });
    expect(lines).toHaveLength(2);
    await expect.poll(() => lines.length, { timeout: 5_000, interval: 20 }).toBe(3);
    expect(lines[2]).toBe('3 more spans were claimed by two executions in the last 0.2 s (see ingest.conflicts on /healthz)');
  });
});
