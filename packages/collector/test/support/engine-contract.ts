import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeJson } from '../../src/otlp/json.js';
import { decodeProtobuf } from '../../src/otlp/protobuf.js';
import type { Span } from '../../src/otlp/span.js';
import { routeSpans } from '../../src/ingest/route.js';
import type { ExecutionSummary, Outcome } from '../../src/records/aggregate.js';
import type { ExecutionStatus } from '../../src/records/types.js';
import type { ExecutionUpdate, IncomingSpan, LeasedPayload, OutboxEntry, StorageEngine } from '../../src/store/engine.js';
import { HOUR, summarizeBins } from '../../src/store/rollups.js';
import { checkoutSpans, jsonBody, memoryProvider, protobufBody } from './traced.js';

const BASE = Date.UTC(2026, 0, 1);

interface Row {
  id: string;
  flowId: string;
  startedAtMs: number;
  status: ExecutionStatus;
  durationMs?: number;
  params?: string;
}

/** A listed execution update as the rules would make it, for storage-level checks. */
function update(key: number, row: Row): ExecutionUpdate {
  const outcome: Outcome = row.status === 'error' ? { status: 'error', errorKind: 'exception', errorMessage: 'boom' } : { status: row.status };
  const summary: ExecutionSummary = { steps: 0 };
  const listed: ExecutionUpdate['listed'] = {
    outcome,
    flowId: row.flowId,
    flowName: row.flowId,
    ...(row.durationMs !== undefined ? { durationMs: row.durationMs } : {}),
    startedAtMs: row.startedAtMs,
    deadline: row.startedAtMs + 60_000,
    serviceName: 'svc',
  };
  if (row.params !== undefined) listed!.searchText = row.params;
  return { key, id: row.id, summary, listed };
}

async function put(engine: StorageEngine, rows: Row[]) {
  return engine.transaction(async (tx) => {
    const executions = await tx.executions(rows.map((r) => r.id));
    return tx.putExecutions(rows.map((row) => update(executions.get(row.id)!.key, row)));
  });
}

/** Newest first, then the later arrival first: the list order every engine must give. */
function expectedOrder(rows: Row[]): string[] {
  return rows
    .map((row, arrival) => ({ row, arrival }))
    .sort((a, b) => b.row.startedAtMs - a.row.startedAtMs || b.arrival - a.arrival)
    .map(({ row }) => row.id);
}

const statuses: ExecutionStatus[] = ['fulfilled', 'error', 'pending'];

/**
 * What any storage engine must do, checked on the engine alone. An engine's own test file calls
 * this with a factory for fresh, empty engines.
 */
export function engineContract(name: string, open: () => Promise<{ engine: StorageEngine; cleanup(): Promise<void> }>) {
  describe(`storage engine contract: ${name}`, () => {
    let engine: StorageEngine;
    let cleanup: () => Promise<void>;
    beforeEach(async () => {
      ({ engine, cleanup } = await open());
    });
    afterEach(async () => {
      await engine.close();
      await cleanup();
    });

    it('appends each span once: re-delivery, within a request or later, is recognised', async () => {
      const spans = decodeJson(jsonBody(await checkoutSpans([{ sku: 'A', qty: 1 }], memoryProvider()))).spans;
      const incoming = routeSpans({ spans: [...spans, spans[0]!], rejected: 0, reasons: [] });
      const ids = [...new Set(incoming.flatMap((s) => (s.executionId ? [s.executionId] : [])))];
      const first = await engine.transaction(async (tx) => tx.appendSpans(incoming, keysOf(await tx.executions(ids))));
      expect(first).toEqual([...spans.map(() => 'new'), 'again']);
      const again = await engine.transaction(async (tx) => tx.appendSpans(incoming, keysOf(await tx.executions(ids))));
      expect(again.every((result) => result === 'again')).toBe(true);
      expect(await engine.trace(spans[0]!.traceId)).toHaveLength(spans.length);
    });

    it('gives back the spans it stored, as they came in JSON or protobuf, by execution, step order and trace', async () => {
      const sdkSpans = await checkoutSpans([{ sku: 'B', qty: 2 }], memoryProvider());
      for (const decoded of [decodeProtobuf(protobufBody(sdkSpans)), decodeJson(jsonBody(sdkSpans))]) {
        const fresh = await engine.transaction(async (tx) => {
          const incoming = routeSpans(decoded);
          const executions = await tx.executions([incoming.find((s) => s.executionId)!.executionId!]);
          return tx.appendSpans(incoming, keysOf(executions));
        });
        if (!fresh.includes('new')) continue; // the second encoding of the same spans is a re-delivery
        const id = decoded.spans.find((s) => s.attributes['flowtrace.execution.id'])!.attributes['flowtrace.execution.id'] as string;
        const key = (await engine.transaction((tx) => tx.executions([id]))).get(id)!.key;
        const bySpanId = (list: Span[]) => [...list].sort((a, b) => a.spanId.localeCompare(b.spanId));
        expect(bySpanId(await engine.executionSpans(key))).toEqual(bySpanId(decoded.spans.filter((s) => s.attributes['flowtrace.execution.id'] === id)));
        const heads = await engine.executionSpans(key, ['root', 'marker']);
        expect(heads.map((s) => s.attributes['flowtrace.execution.root'])).toEqual([true, true]);
        const order = await engine.stepOrder(key);
        const steps = decoded.spans.filter(
          (s) => s.attributes['flowtrace.execution.id'] === id && s.attributes['flowtrace.execution.root'] !== true && s.attributes['flowtrace.marker'] === undefined,
        );
        expect(order.map((o) => o.spanId).sort()).toEqual(steps.map((s) => s.spanId).sort());
        // Each step's start marker, named by the step it announces.
        const markers = await engine.stepOrder(key, 'step-marker');
        expect(markers.map((m) => m.parentSpanId).sort()).toEqual(steps.map((s) => s.spanId).sort());
        expect((await engine.stepSpans(key, markers)).map((m) => m.attributes['flowtrace.marker'])).toEqual(markers.map(() => 'start'));
        expect(bySpanId(await engine.stepSpans(key, order))).toEqual(bySpanId(steps));
        expect((await engine.stepSpans(key, order.slice(1, 2)))[0]!.spanId).toBe(order[1]!.spanId);
        expect(bySpanId(await engine.trace(decoded.spans[0]!.traceId.toUpperCase()))).toEqual(bySpanId(decoded.spans));
      }
    });

    it('assigns dense keys in order of arrival and keeps a summary before the execution is listed', async () => {
      const first = await engine.transaction((tx) => tx.executions(['e1', 'e2']));
      const second = await engine.transaction((tx) => tx.executions(['e2', 'e3']));
      expect(second.get('e2')!.key).toBe(first.get('e2')!.key);
      expect(first.get('e1')!.key).toBeLessThan(first.get('e2')!.key);
      expect(first.get('e2')!.key).toBeLessThan(second.get('e3')!.key);
      // keys() gives the same keys, makes the ids never seen, and executions() then reads them.
      const { keys, read } = await engine.transaction(async (tx) => {
        const keys = await tx.keys(['e3', 'e4']);
        return { keys, read: await tx.executions(['e3', 'e4']) };
      });
      expect(keys.get('e3')).toBe(second.get('e3')!.key);
      expect(keys.get('e4')).toBeGreaterThan(second.get('e3')!.key);
      expect(new Map([...read.values()].map((e) => [e.id, e.key]))).toEqual(keys);
      expect(read.get('e4')!.summary).toEqual({ steps: 0 });
      const changes = await engine.transaction((tx) => tx.putExecutions([{ key: first.get('e1')!.key, id: 'e1', summary: { steps: 3 } }]));
      expect(changes).toEqual([]);
      expect((await engine.execution('e1'))?.summary).toEqual({ steps: 3 });
      expect((await engine.execution('e1'))?.outcome).toBeUndefined();
      expect(await engine.lastSeq()).toBe(0);
    });

    it('numbers changes in commit order and replays them from any point, for all flows or one', async () => {
      const a = await put(engine, [{ id: 'a', flowId: 'f', startedAtMs: BASE, status: 'pending' }]);
      const b = await put(engine, [{ id: 'b', flowId: 'g', startedAtMs: BASE + 1, status: 'pending' }]);
      const c = await put(engine, [{ id: 'a', flowId: 'f', startedAtMs: BASE, status: 'fulfilled', durationMs: 5 }]);
      const seqs = [...a, ...b, ...c];
      expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
      expect(new Set(seqs).size).toBe(3);
      expect(await engine.lastSeq()).toBe(seqs[2]);
      expect((await engine.changesSince(0, undefined, 10)).map((ch) => [ch.execution.id, ch.execution.outcome?.status])).toEqual([
        ['b', 'pending'],
        ['a', 'fulfilled'],
      ]);
      expect((await engine.changesSince(seqs[1]!, 'f', 10)).map((ch) => ch.seq)).toEqual([seqs[2]]);
      expect(await engine.changesSince(0, 'g', 10)).toHaveLength(1);
    });

    it('rolls a failed transaction back whole, and reads never see one in progress', async () => {
      await put(engine, [{ id: 'kept', flowId: 'f', startedAtMs: BASE, status: 'pending' }]);
      const seq = await engine.lastSeq();
      let readDuring: Promise<unknown> | undefined;
      await expect(
        engine.transaction(async (tx) => {
          const executions = await tx.executions(['lost']);
          await tx.putExecutions([update(executions.get('lost')!.key, { id: 'lost', flowId: 'f', startedAtMs: BASE + 1, status: 'pending' })]);
          readDuring = engine.listExecutions({ flowId: 'f', offset: 0, limit: 10 });
          throw new Error('disk full');
        }),
      ).rejects.toThrow('disk full');
      expect(((await readDuring) as { total: number }).total).toBe(1);
      expect(await engine.execution('lost')).toBeUndefined();
      expect(await engine.lastSeq()).toBe(seq);
      expect((await engine.listFlows()).map((f) => [f.flowId, f.executionCount])).toEqual([['f', 1]]);
      const next = await put(engine, [{ id: 'next', flowId: 'f', startedAtMs: BASE + 2, status: 'pending' }]);
      expect(next[0]).toBe(seq + 1);
    });

    it('lists newest first with status, time and text filters, totals, and deep pages equal to shallow reading', async () => {
      const rows: Row[] = [];
      for (let i = 0; i < 2600; i++) {
        rows.push({
          id: `x${i}`,
          flowId: i % 7 === 0 ? 'other' : 'main',
          // Several per millisecond, spread over about four days, arriving out of order.
          startedAtMs: BASE + Math.floor(((i * 7919) % 2600) / 3) * 400_000,
          status: statuses[i % 3]!,
          durationMs: i % 3 === 2 ? undefined : (i % 50) + 1,
          params: `{"customer":"c-${i}","sku":"sku-${i % 40}"}`,
        });
      }
      for (let i = 0; i < rows.length; i += 500) await put(engine, rows.slice(i, i + 500));
      const main = rows.filter((r) => r.flowId === 'main');
      const all = async (query: Omit<Parameters<StorageEngine['listExecutions']>[0], 'offset' | 'limit'>, limit: number) => {
        const ids: string[] = [];
        for (let offset = 0; ; offset += limit) {
          const page = await engine.listExecutions({ ...query, offset, limit });
          ids.push(...page.executions.map((e) => e.id));
          if (page.executions.length < limit) return { ids, total: page.total };
        }
      };
      const everything = await all({ flowId: 'main' }, 100);
      expect(everything).toEqual({ ids: expectedOrder(main), total: main.length });
      // A cold jump to a deep page gives the same items as reading up to it.
      for (const offset of [1000, 1500, 2000, 2200]) {
        const page = await engine.listExecutions({ flowId: 'main', offset, limit: 20 });
        expect(page.executions.map((e) => e.id), `offset ${offset}`).toEqual(everything.ids.slice(offset, offset + 20));
      }
      const errors = main.filter((r) => r.status === 'error');
      expect(await all({ flowId: 'main', statuses: ['error'] }, 37)).toEqual({ ids: expectedOrder(errors), total: errors.length });
      const settled = main.filter((r) => r.status !== 'pending');
      const deep = await engine.listExecutions({ flowId: 'main', statuses: ['error', 'fulfilled'], offset: 1100, limit: 20 });
      expect(deep.executions.map((e) => e.id)).toEqual(expectedOrder(settled).slice(1100, 1120));
      expect(deep.total).toBe(settled.length);
      // A window that cuts hours in the middle.
      const from = BASE + 30 * HOUR + 1234;
      const to = BASE + 70 * HOUR + 777;
      const inWindow = main.filter((r) => r.startedAtMs >= from && r.startedAtMs < to);
      const windowed = await all({ flowId: 'main', from, to }, 50);
      expect(windowed).toEqual({ ids: expectedOrder(inWindow), total: inWindow.length });
      const deepWindow = await engine.listExecutions({ flowId: 'main', from, to, offset: 1000, limit: 10 });
      expect(deepWindow.executions.map((e) => e.id)).toEqual(windowed.ids.slice(1000, 1010));
      // Substring search over the parameters, case-insensitive, within the flow.
      const matching = main.filter((r) => r.params!.includes('sku-17"'));
      expect(await all({ flowId: 'main', q: 'SKU-17"' }, 25)).toEqual({ ids: expectedOrder(matching), total: matching.length });
      expect((await engine.listExecutions({ flowId: 'main', q: 'c-1234"', offset: 0, limit: 5 })).executions.map((e) => e.id)).toEqual(
        main.some((r) => r.id === 'x1234') ? ['x1234'] : [],
      );
      // Wildcards of the database's own pattern syntax are text like any other.
      for (const q of ['%%%', '___', 'c-1%']) expect((await engine.listExecutions({ flowId: 'main', q, offset: 0, limit: 5 })).total, q).toBe(0);
      expect(await engine.listExecutions({ flowId: 'nothing', offset: 0, limit: 5 })).toEqual({ executions: [], total: 0 });
    });

    it('keeps flow counts by status, the last execution, and deletion, which new executions do not undo', async () => {
      await put(engine, [
        { id: 'p', flowId: 'f', startedAtMs: BASE, status: 'pending' },
        { id: 'q', flowId: 'f', startedAtMs: BASE + 5, status: 'pending' },
      ]);
      await put(engine, [{ id: 'p', flowId: 'f', startedAtMs: BASE, status: 'error' }]);
      expect(await engine.listFlows()).toEqual([
        { flowId: 'f', flowName: 'f', executionCount: 2, lastStatus: 'pending', lastStartedAt: new Date(BASE + 5).toISOString(), deleted: false, deletedAt: null },
      ]);
      expect(await engine.transaction((tx) => tx.deleteFlow('f', BASE + 10))).toBe(true);
      expect(await engine.transaction((tx) => tx.deleteFlow('unknown', BASE + 10))).toBe(false);
      expect((await engine.listFlows())[0]).toMatchObject({ deleted: true, deletedAt: new Date(BASE + 10).toISOString() });
      expect((await engine.listExecutions({ flowId: 'f', offset: 0, limit: 5 })).total).toBe(2);
      await put(engine, [{ id: 'r', flowId: 'f', startedAtMs: BASE + 20, status: 'pending' }]);
      // Recorded and counted, and the flow stays deleted: undeleting is the user's call, not a span's.
      expect((await engine.listFlows())[0]).toMatchObject({ deleted: true, executionCount: 3, lastStartedAt: new Date(BASE + 20).toISOString() });
    });

    it('answers metrics per bucket from rollups: counts by status and durations within 1 %', async () => {
      const rows: Row[] = [];
      // Durations spread from 3 ms to about 15 s, so percentiles fall in many different bins.
      for (let i = 0; i < 100; i++) {
        rows.push({ id: `m${i}`, flowId: 'f', startedAtMs: BASE + (i % 4) * HOUR + i, status: 'fulfilled', durationMs: Math.round(3000 * 1.09 ** i) / 1000 });
      }
      rows.push({ id: 'e', flowId: 'f', startedAtMs: BASE + 10, status: 'error', durationMs: 1000 });
      rows.push({ id: 'p', flowId: 'f', startedAtMs: BASE + 3 * HOUR + 1, status: 'pending' });
      await put(engine, rows);
      const buckets = await engine.metrics({ flowId: 'f', from: BASE, to: BASE + 4 * HOUR, bucketMs: HOUR });
      expect(buckets.map((b) => [b.start - BASE, b.counts])).toEqual([
        [0, { pending: 0, fulfilled: 25, error: 1 }],
        [HOUR, { pending: 0, fulfilled: 25, error: 0 }],
        [2 * HOUR, { pending: 0, fulfilled: 25, error: 0 }],
        [3 * HOUR, { pending: 1, fulfilled: 25, error: 0 }],
      ]);
      for (const [hour, bucket] of buckets.entries()) {
        const exact = rows
          .filter((r) => r.durationMs !== undefined && r.startedAtMs >= BASE + hour * HOUR && r.startedAtMs < BASE + (hour + 1) * HOUR)
          .map((r) => r.durationMs!)
          .sort((a, b) => a - b);
        const rank = (p: number) => exact[Math.ceil((p / 100) * exact.length) - 1]!;
        const read = summarizeBins(bucket.durationBins)!;
        for (const [name, value] of Object.entries({ p50: rank(50), p90: rank(90), p95: rank(95), p99: rank(99), max: exact.at(-1)! })) {
          expect(Math.abs(read[name as keyof typeof read] - value) / value, `hour ${hour} ${name}`).toBeLessThanOrEqual(0.01);
        }
      }
      const daily = await engine.metrics({ flowId: 'f', from: BASE, to: BASE + 86_400_000, bucketMs: 86_400_000 });
      expect(daily.map((b) => b.counts)).toEqual([{ pending: 1, fulfilled: 100, error: 1 }]);
      const minutes = await engine.metrics({ flowId: 'f', from: BASE, to: BASE + 5 * 60_000, bucketMs: 60_000 });
      expect(minutes[0]!.counts.fulfilled).toBe(25);
      expect(minutes.slice(1).every((b) => b.counts.fulfilled === 0)).toBe(true);
    });

    it('keeps process starts and finds pending executions by deadline and by service', async () => {
      await engine.transaction(async (tx) => {
        await tx.addInstanceStart({ serviceName: 'svc', instanceId: 'i1', startedAt: BASE });
        await tx.addInstanceStart({ serviceName: 'svc', instanceId: 'i1', startedAt: BASE });
        await tx.addInstanceStart({ serviceName: 'svc', instanceId: 'i2', startedAt: BASE + 1 });
      });
      await put(engine, [
        { id: 'late', flowId: 'f', startedAtMs: BASE, status: 'pending' },
        { id: 'fresh', flowId: 'f', startedAtMs: BASE + 120_000, status: 'pending' },
        { id: 'done', flowId: 'f', startedAtMs: BASE, status: 'fulfilled', durationMs: 1 },
      ]);
      await engine.transaction(async (tx) => {
        expect((await tx.instanceStarts('svc')).map((s) => s.instanceId).sort()).toEqual(['i1', 'i2']);
        expect((await tx.pendingPastDeadline(BASE + 60_000, 10)).map((e) => e.id)).toEqual(['late']);
        expect((await tx.pendingOfService('svc')).map((e) => e.id).sort()).toEqual(['fresh', 'late']);
      });
    });

    it('keeps each process’s replica and last heartbeat, and lists the silent ones until marked gone', async () => {
      await engine.transaction(async (tx) => {
        await tx.addInstanceStart({ serviceName: 'svc', instanceId: 'run-1', startedAt: BASE, replicaId: 'replica-a' });
        await tx.instanceSeen({ serviceName: 'svc', instanceId: 'run-1', heartbeatMs: 1000, at: BASE });
        await tx.instanceSeen({ serviceName: 'svc', instanceId: 'run-1', heartbeatMs: 1000, at: BASE + 5000 });
        // A heartbeat delivered late never moves the last-seen time back.
        await tx.instanceSeen({ serviceName: 'svc', instanceId: 'run-1', heartbeatMs: 1000, at: BASE + 2000 });
        await tx.addInstanceStart({ serviceName: 'svc', instanceId: 'run-2', startedAt: BASE + 100, replicaId: 'replica-b' });
      });
      await engine.transaction(async (tx) => {
        expect(await tx.instanceStarts('svc')).toEqual(
          expect.arrayContaining([
            { serviceName: 'svc', instanceId: 'run-1', startedAt: BASE, replicaId: 'replica-a', heartbeatMs: 1000, lastSeenAt: BASE + 5000 },
            { serviceName: 'svc', instanceId: 'run-2', startedAt: BASE + 100, replicaId: 'replica-b' },
          ]),
        );
        // Silent once three heartbeats are missed: not at +7.9 s, at +8.1 s.
        expect(await tx.livenessOf(BASE + 7900)).toEqual([]);
        expect((await tx.livenessOf(BASE + 8100)).map((i) => [i.serviceName, i.instanceId, i.replicaId])).toEqual([['svc', 'run-1', 'replica-a']]);
        await tx.markGone([{ serviceName: 'svc', instanceId: 'run-1' }], BASE + 8100);
        expect(await tx.livenessOf(BASE + 60_000)).toEqual([]);
        // Seen again: alive, and silent again later.
        await tx.instanceSeen({ serviceName: 'svc', instanceId: 'run-1', heartbeatMs: 1000, at: BASE + 9000 });
        expect(await tx.livenessOf(BASE + 11_000)).toEqual([]);
        expect((await tx.livenessOf(BASE + 12_100)).map((i) => i.instanceId)).toEqual(['run-1']);
      });
    });

    it('removes whole executions that started before a time, with their spans, counts and search entries', async () => {
      const spans = decodeJson(jsonBody(await checkoutSpans([{ sku: 'old', qty: 1 }], memoryProvider()))).spans;
      const foreign: Span = { ...spans[0]!, spanId: 'f'.repeat(16), attributes: { 'http.route': '/x' } };
      const incoming: IncomingSpan[] = routeSpans({ spans: [...spans, foreign], rejected: 0, reasons: [] });
      const id = incoming.find((s) => s.executionId)!.executionId!;
      await engine.transaction(async (tx) => tx.appendSpans(incoming, keysOf(await tx.executions([id]))));
      await put(engine, [
        { id, flowId: 'f', startedAtMs: BASE, status: 'fulfilled', durationMs: 3, params: 'old-params' },
        { id: 'new', flowId: 'f', startedAtMs: BASE + 2 * 86_400_000, status: 'fulfilled', durationMs: 3, params: 'new-params' },
      ]);
      expect(await engine.transaction((tx) => tx.removeStartedBefore(BASE + 86_400_000, 10))).toBe(1);
      expect(await engine.execution(id)).toBeUndefined();
      expect(await engine.trace(spans[0]!.traceId)).toEqual([]);
      expect((await engine.listExecutions({ flowId: 'f', offset: 0, limit: 5 })).executions.map((e) => e.id)).toEqual(['new']);
      expect((await engine.listExecutions({ flowId: 'f', q: 'old-params', offset: 0, limit: 5 })).total).toBe(0);
      expect((await engine.listFlows())[0]!.executionCount).toBe(1);
      const [day] = await engine.metrics({ flowId: 'f', from: BASE, to: BASE + 86_400_000, bucketMs: 86_400_000 });
      expect(day!.counts.fulfilled).toBe(0);
    });

    describe('forwarding outbox', () => {
      const entry = (destination: string, text: string): OutboxEntry => ({ destination, contentType: 'application/x-protobuf', payload: Buffer.from(text) });
      const texts = (leased: LeasedPayload[]) => leased.map((p) => p.payload.toString());
      const lease = (destination: string, limit: number, now: number) => engine.transaction((tx) => tx.leaseOutbox(destination, limit, now + 60_000, now));

      it('queues payloads per destination in the write transaction, or not at all when it rolls back', async () => {
        await engine.transaction((tx) => tx.enqueueOutbox([entry('a', 'one'), entry('b', 'one for b'), entry('a', 'two')], BASE));
        await expect(
          engine.transaction(async (tx) => {
            await tx.enqueueOutbox([entry('a', 'lost')], BASE);
            throw new Error('rolled back');
          }),
        ).rejects.toThrow('rolled back');
        expect(await engine.outboxSize('a')).toEqual({ payloads: 2, bytes: 6 });
        expect(await engine.outboxSize('b')).toEqual({ payloads: 1, bytes: 9 });
        expect(await engine.outboxSize('c')).toEqual({ payloads: 0, bytes: 0 });
        const leased = await lease('a', 10, BASE);
        expect(texts(leased)).toEqual(['one', 'two']);
        expect(leased[0]!.contentType).toBe('application/x-protobuf');
        expect(Buffer.isBuffer(leased[0]!.payload)).toBe(true);
      });

      it('leases the oldest payloads to one sender until the lease ends, released or deleted ones as asked', async () => {
        await engine.transaction((tx) => tx.enqueueOutbox(['1', '2', '3', '4'].map((t) => entry('a', t)), BASE));
        const first = await lease('a', 2, BASE);
        expect(texts(first)).toEqual(['1', '2']);
        // Held: the next lease skips them.
        expect(texts(await lease('a', 5, BASE + 1))).toEqual(['3', '4']);
        expect(await lease('a', 5, BASE + 2)).toEqual([]);
        // A lease that ran out (its sender died mid-send) is taken over.
        expect(texts(await lease('a', 1, BASE + 60_001))).toEqual(['1']);
        await engine.transaction((tx) => tx.deleteOutbox([first[0]!.id]));
        await engine.transaction((tx) => tx.releaseOutbox([first[1]!.id]));
        // 2 given up, 3 and 4 out of their lease; 1 is gone.
        expect(texts(await lease('a', 5, BASE + 60_002))).toEqual(['2', '3', '4']);
        expect(await engine.outboxSize('a')).toEqual({ payloads: 3, bytes: 3 });
      });

      it('gives concurrent senders disjoint payloads', async () => {
        await engine.transaction((tx) => tx.enqueueOutbox(Array.from({ length: 20 }, (_, i) => entry('a', String(i))), BASE));
        const leases = await Promise.all(Array.from({ length: 4 }, () => lease('a', 5, BASE)));
        const all = leases.flatMap(texts);
        expect(new Set(all).size).toBe(all.length);
        expect(all.sort()).toEqual(Array.from({ length: 20 }, (_, i) => String(i)).sort());
      });

      it('drops the oldest payloads past a byte cap, and those queued before a time', async () => {
        await engine.transaction((tx) => tx.enqueueOutbox(['aaaa', 'bbbb', 'cccc', 'dddd'].map((t) => entry('a', t)), BASE));
        await engine.transaction((tx) => tx.enqueueOutbox([entry('b', 'old'), entry('a', 'eeee')], BASE + 1000));
        expect(await engine.transaction((tx) => tx.trimOutbox('a', 20))).toBe(0);
        expect(await engine.transaction((tx) => tx.trimOutbox('a', 9))).toBe(3);
        expect(texts(await lease('a', 10, BASE))).toEqual(['dddd', 'eeee']);
        expect(await engine.outboxSize('b')).toEqual({ payloads: 1, bytes: 3 });
        expect(await engine.transaction((tx) => tx.removeOutboxBefore(BASE + 1000))).toBe(1);
        expect(await engine.outboxSize('a')).toEqual({ payloads: 1, bytes: 4 });
        expect(await engine.outboxSize('b')).toEqual({ payloads: 1, bytes: 3 });
      });
    });
  });
}

function keysOf(executions: Map<string, { key: number }>): Map<string, number> {
  return new Map([...executions].map(([id, e]) => [id, e.key]));
}
