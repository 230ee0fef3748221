import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import * as sc from '@flowtrace/semconv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecutionListItem, FlowMetrics, Page } from '../src/records/types.js';
import { getJson, startCollector } from './support/collector.js';
import { altered, checkoutSpans, jsonBody, memoryProvider, plusMs, type Order } from './support/traced.js';

/**
 * Flow metrics checked against an independent count: executions from the real tracer and SDK,
 * each root span's end set so durations spread from 1.5 ms to about 5 s, over five minutes;
 * the exact percentiles come from the list API's records.
 */
const MINUTE = 60_000;
const RUNS = 240;

let running: Awaited<ReturnType<typeof startCollector>>;
let provider: ReturnType<typeof memoryProvider>;
let listed: ExecutionListItem[];
beforeAll(async () => {
  running = await startCollector();
  provider = memoryProvider('metrics');
  // Every sixth order has no quantity: its execution fails.
  const orders: Order[] = Array.from({ length: RUNS }, (_, i) => ({ sku: `m-${i}`, qty: i % 6 === 0 ? 0 : 1 }));
  const spans = await checkoutSpans(orders, provider);
  const traces = [...new Set(spans.map((s) => s.spanContext().traceId))];
  expect(traces).toHaveLength(RUNS);
  const sent = spans.map((span): ReadableSpan => {
    const i = traces.indexOf(span.spanContext().traceId);
    const back = -(i % 5) * MINUTE;
    const isRoot = span.attributes[sc.ATTR_EXECUTION_ROOT] === true && span.attributes[sc.ATTR_MARKER] === undefined;
    const startTime = plusMs(span.startTime, back);
    const endTime = isRoot ? plusMs(startTime, 1.5 * 1.035 ** i) : plusMs(span.endTime, back);
    return altered(span, { startTime, endTime });
  });
  for (let at = 0; at < sent.length; at += 400) {
    const response = await fetch(`${running.url}/v1/traces`, { method: 'POST', body: jsonBody(sent.slice(at, at + 400)), headers: { 'content-type': 'application/json' } });
    expect(response.status).toBe(200);
    await response.arrayBuffer();
  }
  listed = [];
  for (let page = 1; listed.length < RUNS; page++) {
    const { body } = (await getJson(`${running.url}/api/flows/checkout/executions?limit=100&page=${page}`)) as { body: Page<ExecutionListItem> };
    expect(body.total).toBe(RUNS);
    listed.push(...body.items);
  }
}, 60_000);
afterAll(async () => {
  await running?.close();
  await provider?.provider.shutdown();
});

/** The ⌈p · n⌉-th shortest of the durations. */
const rank = (sorted: number[], p: number) => sorted[Math.ceil((p / 100) * sorted.length) - 1]!;

async function metricsOver(bucket: '1m' | '1h') {
  const starts = listed.map((e) => Date.parse(e.startedAt));
  const from = new Date(Math.min(...starts) - 2 * MINUTE).toISOString();
  const to = new Date(Math.max(...starts) + 2 * MINUTE).toISOString();
  const { status, body } = await getJson(`${running.url}/api/flows/checkout/metrics?bucket=${bucket}&from=${from}&to=${to}`);
  expect(status).toBe(200);
  return body as FlowMetrics;
}

describe.each(['1m', '1h'] as const)('flow metrics per %s bucket', (size) => {
  it('give counts and the error rate exactly, and p50, p95 and max within 1 % of the exact ones', async () => {
    const metrics = await metricsOver(size);
    const length = size === '1m' ? MINUTE : 60 * MINUTE;
    let finishedSeen = 0;
    for (const bucket of metrics.buckets) {
      const start = Date.parse(bucket.start);
      const inside = listed.filter((e) => Date.parse(e.startedAt) >= start && Date.parse(e.startedAt) < start + length);
      const count = (status: string) => inside.filter((e) => e.status === status).length;
      expect(bucket.counts, bucket.start).toEqual({ pending: count('pending'), fulfilled: count('fulfilled'), error: count('error') });
      const finished = count('fulfilled') + count('error');
      finishedSeen += finished;
      if (finished === 0) {
        expect(bucket.errorRate).toBeNull();
        expect(bucket.durationMs).toBeNull();
        continue;
      }
      expect(bucket.errorRate, bucket.start).toBe(count('error') / finished);
      const sorted = inside.map((e) => e.durationMs!).sort((a, b) => a - b);
      const exact = { p50: rank(sorted, 50), p95: rank(sorted, 95), max: sorted.at(-1)! };
      for (const [name, value] of Object.entries(exact)) {
        const read = bucket.durationMs![name as keyof typeof exact];
        expect(Math.abs(read - value) / value, `${bucket.start} ${name}: ${read} for ${value}`).toBeLessThanOrEqual(0.01);
      }
    }
    expect(finishedSeen).toBe(RUNS);
    // Five minutes of executions (and empty minutes around them) in minute buckets.
    if (size === '1m') expect(metrics.buckets.filter((b) => b.durationMs !== null).length).toBeGreaterThanOrEqual(5);
  });
});
