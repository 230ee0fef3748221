import { afterAll, describe, expect, it } from 'vitest';
import { createCollector } from '../src/app.js';
import { history, memoryHistory } from './support/history.js';
import type { Span } from '../src/otlp/span.js';
import { nanosToMillis } from '../src/otlp/span.js';
import { checkoutSpans, memoryProvider, normalized } from './support/traced.js';

const providerA = memoryProvider('shop', 'instance-a');
afterAll(() => providerA.provider.shutdown());

const isMarker = (s: Span) => s.attributes['flowtrace.marker'] === 'start' && s.attributes['flowtrace.execution.root'] === true;
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
    const collector = createCollector({ db: ':memory:', now: () => now, reconcileIntervalMs: 0, log: () => {} });
    await history(collector).ingest([marker], now);
    expect((await history(collector).getExecution(id))?.status).toBe('pending');

    now = startedAt + 59_999; // checkout declares 60 s through timeoutTag
    expect(await collector.reconcile()).toEqual([]);
    now = startedAt + 60_000;
    const changes = await collector.reconcile();
    expect(changes.map((c) => [c.item.id, c.item.status, c.item.errorKind])).toEqual([[id, 'error', 'timeout']]);
    expect((await history(collector).getExecution(id))?.errorInfo).toMatchObject({ type: 'timeout', message: 'Timed out after 1 min' });
    await collector.close();
  });

  it('uses the collector default when the flow declares no budget', async () => {
    const { marker, id, startedAt } = await oneExecution();
    const unbudgeted = { ...marker, attributes: { ...marker.attributes } };
    delete unbudgeted.attributes['flowtrace.timeout_ms'];
    const store = memoryHistory(5_000);
    await store.ingest([unbudgeted], startedAt);
    expect(await store.reconcile(startedAt + 4_999)).toEqual([]);
    expect((await store.reconcile(startedAt + 5_000)).map((c) => c.item.errorKind)).toEqual(['timeout']);
    expect((await store.getExecution(id))?.timeoutMs).toBe(5_000);
    await store.close();
  });

  it('keeps timeout when the real end arrives late, recording the end', async () => {
    const { spans, marker, id, startedAt } = await oneExecution();
    const store = memoryHistory(300_000);
    await store.ingest([marker], startedAt);
    await store.reconcile(startedAt + 120_000);
    // The real spans say it ended after 2 minutes: past its 60 s budget.
    const late = spans.map((s) =>
      s.attributes['flowtrace.execution.root'] === true && !isMarker(s)
        ? { ...s, endTimeUnixNano: `${BigInt(s.startTimeUnixNano) + 120_000_000_000n}` }
        : s,
    );
    await store.ingest(late, startedAt + 121_000);
    const record = (await store.getExecution(id))!;
    expect([record.status, record.errorKind]).toEqual(['error', 'timeout']);
    expect(record.durationMs).toBe(120_000);
    expect(record.nodes).toHaveLength(3);
    await store.close();
  });

  it('runs the timeout rule for spans that arrive after the deadline, whatever their order', async () => {
    const { spans, id, startedAt } = await oneExecution();
    const store = memoryHistory(300_000);
    // The whole execution arrives at once, long after it started: it finished in time, so it stands.
    await store.ingest([...spans].reverse(), startedAt + 3_600_000);
    expect((await store.getExecution(id))?.status).toBe('fulfilled');
    await store.close();
  });
});

describe('restart reconciliation', () => {
  it('marks pending executions of an earlier instance interrupted when the service starts again', async () => {
    const { marker, id, startedAt } = await oneExecution();
    const store = memoryHistory(300_000);
    await store.ingest([marker], startedAt);
    const changes = await store.ingest([instanceStart('shop', 'instance-b', startedAt + 500)], startedAt + 500);
    expect(changes.map((c) => [c.item.id, c.item.status, c.item.errorKind])).toEqual([[id, 'error', 'interrupted']]);
    expect((await store.getExecution(id))?.errorInfo?.message).toContain('instance-b');
    await store.close();
  });

  it('applies the rule whichever arrives first, and ignores other services and older starts', async () => {
    const { marker, id, startedAt } = await oneExecution();
    const store = memoryHistory(300_000);
    await store.ingest([instanceStart('billing', 'x', startedAt + 10)], startedAt);
    await store.ingest([instanceStart('shop', 'before', startedAt - 10)], startedAt);
    await store.ingest([instanceStart('shop', 'instance-a', startedAt + 10)], startedAt);
    await store.ingest([marker], startedAt);
    expect((await store.getExecution(id))?.status).toBe('pending');
    await store.ingest([instanceStart('shop', 'after', startedAt + 10)], startedAt);
    expect((await store.getExecution(id))?.errorKind).toBe('interrupted');
    await store.close();

    const reversed = memoryHistory(300_000);
    await reversed.ingest([instanceStart('shop', 'after', startedAt + 10)], startedAt);
    await reversed.ingest([marker], startedAt);
    expect((await reversed.getExecution(id))?.errorKind).toBe('interrupted');
    await reversed.close();
  });

  it('lets a real end replace interrupted (another replica of the service was still running it)', async () => {
    const { spans, marker, id, startedAt } = await oneExecution();
    const store = memoryHistory(300_000);
    await store.ingest([marker, instanceStart('shop', 'replica-2', startedAt + 1)], startedAt);
    expect((await store.getExecution(id))?.errorKind).toBe('interrupted');
    await store.ingest(spans, startedAt + 2);
    expect((await store.getExecution(id))?.status).toBe('fulfilled');
    await store.close();
  });
});
