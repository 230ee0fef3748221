import { afterAll, describe, expect, it } from 'vitest';
import { createCollector } from '../src/app.js';
import { SqliteStore } from '../src/store/sqlite.js';
import type { Span } from '../src/otlp/span.js';
import { nanosToMillis } from '../src/otlp/span.js';
import { checkoutSpans, memoryProvider, normalized } from './support/traced.js';

const providerA = memoryProvider('shop', 'instance-a');
afterAll(() => providerA.provider.shutdown());

const isMarker = (s: Span) => s.attributes['flowtrace.marker'] === 'start';
const instanceStart = (service: string, instance: string, atMs: number): Span => ({
  traceId: 'a'.repeat(32),
  spanId: instance.padEnd(16, '0').slice(0, 16).replace(/[^0-9a-f]/g, 'b'),
  name: 'flowtrace instance-start',
  kind: 1,
  startTimeUnixNano: `${BigInt(Math.round(atMs)) * 1_000_000n}`,
  endTimeUnixNano: `${BigInt(Math.round(atMs)) * 1_000_000n}`,
  attributes: { 'flowtrace.marker': 'instance-start' },
  events: [],
  links: [],
  status: { code: 0 },
  resource: { 'service.name': service, 'service.instance.id': instance },
  scope: { name: '@flowtrace/tracer' },
});

async function oneExecution(qty = 2) {
  const spans = normalized(await checkoutSpans([{ sku: 'Z', qty }], providerA));
  const marker = spans.find(isMarker)!;
  return {
    spans,
    marker,
    id: marker.attributes['flowtrace.execution.id'] as string,
    startedAt: nanosToMillis(marker.startTimeUnixNano),
  };
}

describe('timeout reconciliation (injected clock)', () => {
  it('turns a pending execution into error/timeout once its budget has passed', async () => {
    const { marker, id, startedAt } = await oneExecution();
    let now = startedAt + 1000;
    const collector = createCollector({ dbPath: ':memory:', now: () => now, reconcileIntervalMs: 0, log: () => {} });
    collector.store.ingest([marker], now);
    expect(collector.store.getExecution(id)?.status).toBe('pending');

    now = startedAt + 59_999; // checkout declares 60 s through timeoutTag
    expect(collector.reconcile()).toEqual([]);
    now = startedAt + 60_000;
    const changes = collector.reconcile();
    expect(changes.map((c) => [c.item.id, c.item.status, c.item.errorKind])).toEqual([[id, 'error', 'timeout']]);
    expect(collector.store.getExecution(id)?.errorInfo).toMatchObject({ type: 'timeout', message: 'Timed out after 1 min' });
    await collector.close();
  });

  it('uses the collector default when the flow declares no budget', async () => {
    const { marker, id, startedAt } = await oneExecution();
    const unbudgeted = { ...marker, attributes: { ...marker.attributes } };
    delete unbudgeted.attributes['flowtrace.timeout_ms'];
    const store = new SqliteStore({ path: ':memory:', defaultTimeoutMs: 5_000 });
    store.ingest([unbudgeted], startedAt);
    expect(store.reconcile(startedAt + 4_999)).toEqual([]);
    expect(store.reconcile(startedAt + 5_000).map((c) => c.item.errorKind)).toEqual(['timeout']);
    expect(store.getExecution(id)?.timeoutMs).toBe(5_000);
    store.close();
  });

  it('keeps timeout when the real end arrives late, recording the end', async () => {
    const { spans, marker, id, startedAt } = await oneExecution();
    const store = new SqliteStore({ path: ':memory:', defaultTimeoutMs: 300_000 });
    store.ingest([marker], startedAt);
    store.reconcile(startedAt + 120_000);
    // The real spans say it ended after 2 minutes: past its 60 s budget.
    const late = spans.map((s) =>
      s.attributes['flowtrace.execution.root'] === true && !isMarker(s)
        ? { ...s, endTimeUnixNano: `${BigInt(s.startTimeUnixNano) + 120_000_000_000n}` }
        : s,
    );
    store.ingest(late, startedAt + 121_000);
    const record = store.getExecution(id)!;
    expect([record.status, record.errorKind]).toEqual(['error', 'timeout']);
    expect(record.durationMs).toBe(120_000);
    expect(record.nodes).toHaveLength(3);
    store.close();
  });

  it('runs the timeout rule for spans that arrive after the deadline, whatever their order', async () => {
    const { spans, id, startedAt } = await oneExecution();
    const store = new SqliteStore({ path: ':memory:', defaultTimeoutMs: 300_000 });
    // The whole execution arrives at once, long after it started: it finished in time, so it stands.
    store.ingest([...spans].reverse(), startedAt + 3_600_000);
    expect(store.getExecution(id)?.status).toBe('fulfilled');
    store.close();
  });
});

describe('restart reconciliation', () => {
  it('marks pending executions of an earlier instance interrupted when the service starts again', async () => {
    const { marker, id, startedAt } = await oneExecution();
    const store = new SqliteStore({ path: ':memory:', defaultTimeoutMs: 300_000 });
    store.ingest([marker], startedAt);
    const changes = store.ingest([instanceStart('shop', 'instance-b', startedAt + 500)], startedAt + 500);
    expect(changes.map((c) => [c.item.id, c.item.status, c.item.errorKind])).toEqual([[id, 'error', 'interrupted']]);
    expect(store.getExecution(id)?.errorInfo?.message).toContain('instance-b');
    store.close();
  });

  it('applies the rule whichever arrives first, and ignores other services and older starts', async () => {
    const { marker, id, startedAt } = await oneExecution();
    const store = new SqliteStore({ path: ':memory:', defaultTimeoutMs: 300_000 });
    store.ingest([instanceStart('billing', 'x', startedAt + 10)], startedAt);
    store.ingest([instanceStart('shop', 'before', startedAt - 10)], startedAt);
    store.ingest([instanceStart('shop', 'instance-a', startedAt + 10)], startedAt);
    store.ingest([marker], startedAt);
    expect(store.getExecution(id)?.status).toBe('pending');
    store.ingest([instanceStart('shop', 'after', startedAt + 10)], startedAt);
    expect(store.getExecution(id)?.errorKind).toBe('interrupted');
    store.close();

    const reversed = new SqliteStore({ path: ':memory:', defaultTimeoutMs: 300_000 });
    reversed.ingest([instanceStart('shop', 'after', startedAt + 10)], startedAt);
    reversed.ingest([marker], startedAt);
    expect(reversed.getExecution(id)?.errorKind).toBe('interrupted');
    reversed.close();
  });

  it('lets a real end replace interrupted (another replica of the service was still running it)', async () => {
    const { spans, marker, id, startedAt } = await oneExecution();
    const store = new SqliteStore({ path: ':memory:', defaultTimeoutMs: 300_000 });
    store.ingest([marker, instanceStart('shop', 'replica-2', startedAt + 1)], startedAt);
    expect(store.getExecution(id)?.errorKind).toBe('interrupted');
    store.ingest(spans, startedAt + 2);
    expect(store.getExecution(id)?.status).toBe('fulfilled');
    store.close();
  });
});
