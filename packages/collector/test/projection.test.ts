import { afterAll, describe, expect, it } from 'vitest';
import { projectExecution, treeOrder, type OrderKey } from '../src/records/project.js';
import { memoryHistory } from './support/history.js';
import type { Span } from '../src/otlp/span.js';
import { custom, flow } from '@pumped-fn/core-next';
import { checkoutSpans, memoryProvider, normalized } from './support/traced.js';

const provider = memoryProvider();
afterAll(() => provider.provider.shutdown());
const context = { now: Date.now(), defaultTimeoutMs: 300_000, instanceStarts: [] };

const outerChild = flow({ name: 'outer-child', input: custom<void>(), output: custom<number>() }, async (ctx) => {
  await ctx.exec({ fn: () => 1, key: 'inner-a' });
  return ctx.exec({ fn: () => 2, key: 'inner-b' });
});
const outer = flow({ name: 'outer', input: custom<void>(), output: custom<number>() }, async (ctx) => {
  await ctx.exec({ flow: outerChild, input: undefined });
  return ctx.exec({ fn: () => 3, key: 'after' });
});
async function nestedSpans() {
  provider.exporter.reset();
  await provider.scope.exec({ flow: outer, input: undefined });
  return provider.exporter.getFinishedSpans();
}

/** A small deterministic PRNG, so a failing order can be replayed from its seed. */
function random(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function shuffled<T>(items: readonly T[], next: () => number): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}

describe('projection of spans into execution records', () => {
  it('builds the record of a successful flow: params, nodes in order, data, result', async () => {
    const spans = normalized(await checkoutSpans([{ sku: 'A-1', qty: 3, password: 'pw' }], provider));
    const record = projectExecution(spans, context)!.record;
    expect(record).toMatchObject({
      flowId: 'checkout',
      flowName: 'checkout',
      serviceName: 'shop',
      serviceInstanceId: 'instance-a',
      status: 'fulfilled',
      timeoutMs: 60_000,
      initialParams: { sku: 'A-1', qty: 3, password: '[REDACTED]' },
      result: { total: 15 },
      data: { validate: { ok: true }, price: 15, reserve: { reserved: 3 } },
    });
    expect(record.errorKind).toBeUndefined();
    expect(record.nodes.map((n) => [n.name, n.kind, n.key, n.depth, n.status])).toEqual([
      ['flow validate', 'flow', 'validate', 1, 'fulfilled'],
      ['step price', 'fn', 'price', 1, 'fulfilled'],
      ['step reserve', 'fn', 'reserve', 1, 'fulfilled'],
    ]);
    expect(record.nodes[1]).toMatchObject({ input: [3], output: 15 });
    expect(record.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(Date.parse(record.endedAt!)).toBeGreaterThanOrEqual(Date.parse(record.startedAt));
    expect(record.nodes.every((n) => n.parentId === spans.find((s) => s.attributes['flowtrace.execution.root'] === true && !s.attributes['flowtrace.marker'])!.spanId)).toBe(true);
  });

  it('keeps string tags as strings and JSON tags as values', async () => {
    const spans = normalized(await checkoutSpans([{ sku: 'T', qty: 1 }], provider)).map((s) =>
      s.attributes['flowtrace.execution.root'] === true
        ? { ...s, attributes: { ...s.attributes, 'flowtrace.tag.note': '{not json', 'flowtrace.tag.raw': '{"a":1}', 'flowtrace.tag_json.meta': '{"a":[1,2]}' } }
        : s,
    );
    expect(projectExecution(spans, context)!.record.tags).toEqual({ note: '{not json', raw: '{"a":1}', meta: { a: [1, 2] } });
  });

  it('orders steps as they ran, depth first, even when they all start in one millisecond', async () => {
    const spans = normalized(await checkoutSpans([{ sku: 'A-1', qty: 3 }], provider));
    const sameStart = spans.map((s) => ({ ...s, startTimeUnixNano: spans[0]!.startTimeUnixNano }));
    for (const seed of [1, 2, 3]) {
      const record = projectExecution(shuffled(sameStart, random(seed)), context)!.record;
      expect(record.nodes.map((n) => n.name)).toEqual(['flow validate', 'step price', 'step reserve']);
    }
    // A step's own steps come right after it.
    const nested = normalized(await nestedSpans());
    const record = projectExecution(nested.map((s) => ({ ...s, startTimeUnixNano: nested[0]!.startTimeUnixNano })), context)!.record;
    expect(record.nodes.map((n) => n.name)).toEqual(['flow outer-child', 'step inner-a', 'step inner-b', 'step after']);
  });

  it('orders a child flow of 1,000,000 steps, and a chain of 50,000, without running out of stack', () => {
    // The order a large execution's detail pages follow. A step's own steps were once spread
    // into one call's arguments, which throws past ~125,000 of them on the main thread.
    const hex = (n: number) => n.toString(16).padStart(16, '0');
    const child: OrderKey = { spanId: hex(1), parentSpanId: hex(0), index: 0, startMs: 1_000 };
    const rows: OrderKey[] = Array.from({ length: 1_000_000 }, (_, i) => ({ spanId: hex(i + 2), parentSpanId: hex(1), index: 999_999 - i, startMs: 1_000 }));
    const ordered = treeOrder([...rows, child]);
    expect(ordered).toHaveLength(1_000_001);
    expect(ordered[0]).toBe(child);
    expect(ordered.slice(1).every((step, i) => step.index === i)).toBe(true);
    const chain: OrderKey[] = Array.from({ length: 50_000 }, (_, i) => ({ spanId: hex(i + 1), parentSpanId: i === 0 ? null : hex(i), index: 0, startMs: 1_000 + i }));
    expect(treeOrder(shuffled(chain, random(8))).map((step) => step.spanId)).toEqual(chain.map((step) => step.spanId));
  });

  it('names the deepest failing node and its error', async () => {
    const spans = normalized(await checkoutSpans([{ sku: 'A-1', qty: 0 }], provider));
    const record = projectExecution(spans, context)!.record;
    expect(record.status).toBe('error');
    expect(record.errorKind).toBe('exception');
    const failing = record.nodes.find((n) => n.name === 'flow validate')!;
    expect(failing.status).toBe('error');
    expect(record.errorInfo).toMatchObject({
      message: 'quantity must be positive, got 0',
      type: 'RangeError',
      nodeId: failing.id,
      nodeName: 'flow validate',
    });
    expect(record.errorInfo!.stack).toContain('RangeError');
    expect(record.data).toEqual({});
  });

  it('is pending from the start marker alone, and nothing from steps alone', async () => {
    const spans = normalized(await checkoutSpans([{ sku: 'A-1', qty: 2 }], provider));
    const marker = spans.filter((s) => s.attributes['flowtrace.marker'] === 'start' && s.attributes['flowtrace.execution.root'] === true);
    expect(marker).toHaveLength(1);
    expect(projectExecution(marker, context)?.record).toMatchObject({
      status: 'pending',
      flowId: 'checkout',
      initialParams: { sku: 'A-1', qty: 2 },
      nodes: [],
    });
    const steps = spans.filter((s) => s.attributes['flowtrace.execution.root'] !== true);
    expect(projectExecution(steps, context)).toBeUndefined();
  });

  it('gives the same records whatever the order and duplication of delivery', async () => {
    const orders = [
      { sku: 'A', qty: 1 },
      { sku: 'B', qty: 0 },
      { sku: 'C', qty: 7 },
      { sku: 'D', qty: -2 },
    ];
    // One after another: executions started in the same millisecond are ordered by arrival, and
    // this test shuffles arrival.
    const spans: Span[] = [];
    for (const order of orders) {
      spans.push(...normalized(await checkoutSpans([order], provider)));
      await new Promise((r) => setTimeout(r, 3));
    }
    const baseline = memoryHistory(300_000);
    await baseline.ingest(spans, context.now);
    const ids = [...new Set(spans.map((s) => s.attributes['flowtrace.execution.id'] as string))];
    expect(ids).toHaveLength(4);
    const expected = await Promise.all(ids.map((id) => baseline.getExecution(id)));
    expect(expected.map((r) => r?.status).sort()).toEqual(['error', 'error', 'fulfilled', 'fulfilled']);

    for (let seed = 1; seed <= 40; seed++) {
      const next = random(seed);
      const delivery = shuffled([...spans, ...spans.filter(() => next() < 0.5)], next);
      const store = memoryHistory(300_000);
      let start = 0;
      while (start < delivery.length) {
        const size = 1 + Math.floor(next() * 6);
        await store.ingest(delivery.slice(start, start + size), context.now);
        start += size;
      }
      expect(await Promise.all(ids.map((id) => store.getExecution(id))), `seed ${seed}`).toEqual(expected);
      expect(await store.listFlows(), `seed ${seed}`).toEqual(await baseline.listFlows());
      await store.close();
    }
    await baseline.close();
  });
});
