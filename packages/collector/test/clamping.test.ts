import type { HrTime } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import * as sc from '@flowtrace/semconv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ATTR_CLAMPED, MAX_START_AHEAD_MS } from '../src/otlp/clamp.js';
import { getJson, startCollector } from './support/collector.js';
import { altered, checkoutSpans, jsonBody, memoryProvider, plusMs, protobufBody } from './support/traced.js';

/**
 * Times no span can have are corrected before the rules see them, and the span says so in
 * `flowtrace.collector.clamped`: an end before the start, a start more than an hour ahead of the
 * collector's clock (a wrong clock: without the rule its execution would wait for year 2500),
 * and a budget (`flowtrace.timeout_ms`) outside [1 ms, 7 days]. Spans come from the real tracer
 * and SDK, altered, then encoded by the real OTLP serializers.
 */
const ENCODINGS = [
  { name: 'JSON', type: 'application/json', body: jsonBody },
  { name: 'protobuf', type: 'application/x-protobuf', body: protobufBody },
] as const;
const WEEK_MS = 7 * 24 * 3_600_000;
const YEAR_2500 = Date.UTC(2500, 0, 1);

let running: Awaited<ReturnType<typeof startCollector>>;
let provider: ReturnType<typeof memoryProvider>;
/** The collector's clock for the rules (reconcile); undefined: the real one. */
let clock: number | undefined;
beforeAll(async () => {
  running = await startCollector({ now: () => clock ?? Date.now() });
  provider = memoryProvider('clamping');
});
afterAll(async () => {
  await running.close();
  await provider.provider.shutdown();
});

const isRoot = (span: ReadableSpan) => span.attributes[sc.ATTR_EXECUTION_ROOT] === true && span.attributes[sc.ATTR_MARKER] === undefined;
const isMarker = (span: ReadableSpan) => span.attributes[sc.ATTR_MARKER] === sc.MARKER_START && span.attributes[sc.ATTR_EXECUTION_ROOT] === true;
const stepKeyed = (key: string) => (span: ReadableSpan) => span.attributes[sc.ATTR_STEP_KEY] === key && span.attributes[sc.ATTR_MARKER] === undefined;

async function post(encoding: (typeof ENCODINGS)[number], spans: ReadableSpan[]) {
  const response = await fetch(`${running.url}/v1/traces`, { method: 'POST', body: encoding.body(spans), headers: { 'content-type': encoding.type } });
  await response.arrayBuffer();
  return response.status;
}

async function record(spans: ReadableSpan[]) {
  const id = spans.find(isRoot)?.attributes[sc.ATTR_EXECUTION_ID] ?? spans[0]!.attributes[sc.ATTR_EXECUTION_ID];
  const { status, body } = await getJson(`${running.url}/api/executions/${String(id)}`);
  expect(status).toBe(200);
  return body;
}

/** The stored spans of the trace, by span id. */
async function stored(spans: ReadableSpan[]) {
  const { body } = await getJson(`${running.url}/api/traces/${spans[0]!.spanContext().traceId}`);
  return new Map((body.spans as Array<{ spanId: string; startTimeUnixNano: string; endTimeUnixNano: string; attributes: Record<string, unknown> }>).map((s) => [s.spanId, s]));
}

const nanosOf = ([seconds, nanos]: HrTime) => (BigInt(seconds) * 1_000_000_000n + BigInt(nanos)).toString();

describe.each(ENCODINGS)('clamped times ($name)', (encoding) => {
  it('ends a span that ends before its start at its start, flagged end_before_start; the record has no negative duration', async () => {
    const spans = await checkoutSpans([{ sku: `backwards-${encoding.name}`, qty: 1 }], provider);
    const root = spans.find(isRoot)!;
    const price = spans.find(stepKeyed('price'))!;
    const sent = spans.map((span) =>
      span === root || span === price ? altered(span, { endTime: plusMs(span.startTime, -5) }) : span,
    );
    expect(await post(encoding, sent)).toBe(200);

    const execution = await record(spans);
    expect(execution).toMatchObject({ status: 'fulfilled', durationMs: 0 });
    expect(execution.endedAt).toBe(execution.startedAt);
    const priceNode = execution.nodes.find((n: { key: string }) => n.key === 'price');
    expect(priceNode).toMatchObject({ status: 'fulfilled', durationMs: 0 });

    const byId = await stored(spans);
    for (const span of [root, price]) {
      const kept = byId.get(span.spanContext().spanId)!;
      expect(kept.endTimeUnixNano).toBe(nanosOf(span.startTime));
      expect(kept.attributes[ATTR_CLAMPED]).toBe('end_before_start');
    }
    const untouched = spans.filter((span) => span !== root && span !== price);
    for (const span of untouched) expect(byId.get(span.spanContext().spanId)!.attributes[ATTR_CLAMPED]).toBeUndefined();
  });

  it('stores a span starting more than an hour ahead at its arrival, keeping its duration, flagged start_in_future; a re-sent copy keeps that', async () => {
    const spans = await checkoutSpans([{ sku: `future-${encoding.name}`, qty: 1 }], provider);
    const ahead = YEAR_2500 - Date.now();
    const sent = spans.map((span) => altered(span, { startTime: plusMs(span.startTime, ahead), endTime: plusMs(span.endTime, ahead) }));
    const before = Date.now();
    expect(await post(encoding, sent)).toBe(200);
    const after = Date.now();

    const first = await record(spans);
    const root = spans.find(isRoot)!;
    const durationMs = Number(BigInt(nanosOf(root.endTime)) - BigInt(nanosOf(root.startTime))) / 1e6;
    expect(first.status).toBe('fulfilled');
    expect(Date.parse(first.startedAt)).toBeGreaterThanOrEqual(Math.floor(before));
    expect(Date.parse(first.startedAt)).toBeLessThanOrEqual(after);
    // Durations are given rounded to the microsecond (up to 0.5 µs either way), from times held
    // as ms in doubles: near today's epoch two neighbouring doubles are ~0.24 µs apart, and the
    // start and the end may each be one step off.
    const doubleStepMs = 2 ** (Math.floor(Math.log2(after)) - 52);
    expect(Math.abs(first.durationMs - durationMs)).toBeLessThanOrEqual(0.0005 + 2 * doubleStepMs + 1e-9);
    const firstSpans = await stored(spans);
    for (const span of firstSpans.values()) expect(span.attributes[ATTR_CLAMPED]).toBe('start_in_future');

    // The same spans again, later: the store keeps the first copy, and with it the first decision.
    while (Date.now() <= after + 1) await new Promise((resolve) => setImmediate(resolve));
    expect(await post(encoding, sent)).toBe(200);
    expect(await record(spans)).toEqual(first);
    expect(await stored(spans)).toEqual(firstSpans);
  });

  it('keeps a start less than an hour ahead as sent', async () => {
    const spans = await checkoutSpans([{ sku: `soon-${encoding.name}`, qty: 1 }], provider);
    const ahead = MAX_START_AHEAD_MS - 60_000;
    const sent = spans.map((span) => altered(span, { startTime: plusMs(span.startTime, ahead), endTime: plusMs(span.endTime, ahead) }));
    expect(await post(encoding, sent)).toBe(200);
    const byId = await stored(spans);
    for (const span of sent) {
      const kept = byId.get(span.spanContext().spanId)!;
      expect(kept.startTimeUnixNano).toBe(nanosOf(span.startTime));
      expect(kept.attributes[ATTR_CLAMPED]).toBeUndefined();
    }
  });

  it('clamps a budget outside [1 ms, 7 days] into it, flagged timeout_ms', async () => {
    for (const [declared, budget] of [
      [1e-300, 1],
      [-5, 1],
      [1e12, WEEK_MS],
    ] as const) {
      const spans = await checkoutSpans([{ sku: `budget-${declared}-${encoding.name}`, qty: 1 }], provider);
      const sent = spans.map((span) =>
        span.attributes[sc.ATTR_TIMEOUT_MS] === undefined ? span : altered(span, { attributes: { ...span.attributes, [sc.ATTR_TIMEOUT_MS]: declared } }),
      );
      expect(await post(encoding, sent)).toBe(200);
      expect((await record(spans)).timeoutMs).toBe(budget);
      const byId = await stored(spans);
      for (const span of sent.filter((s) => s.attributes[sc.ATTR_TIMEOUT_MS] !== undefined)) {
        const kept = byId.get(span.spanContext().spanId)!;
        expect(kept.attributes[ATTR_CLAMPED]).toBe('timeout_ms');
        expect(kept.attributes[sc.ATTR_TIMEOUT_MS]).toBe(declared);
      }
    }
  });
});

describe('what the clamps mean for pending executions', () => {
  it('times out an execution whose start marker comes from a clock in year 2500, by its budget from its arrival', async () => {
    const spans = await checkoutSpans([{ sku: 'pending-2500', qty: 1 }], provider);
    const marker = spans.find(isMarker)!;
    const ahead = YEAR_2500 - Date.now();
    expect(await post(ENCODINGS[1], [altered(marker, { startTime: plusMs(marker.startTime, ahead), endTime: plusMs(marker.endTime, ahead) })])).toBe(200);
    const arrived = Date.now();
    expect((await record([marker])).status).toBe('pending');

    clock = arrived + 60_000; // checkout declares 60 s
    try {
      await running.collector.reconcile();
      expect(await record([marker])).toMatchObject({ status: 'error', errorKind: 'timeout', durationMs: 60_000 });
    } finally {
      clock = undefined;
    }
  });

  it('times out a pending execution that declared 1e-300 ms after 1 ms', async () => {
    const spans = await checkoutSpans([{ sku: 'tiny-budget', qty: 1 }], provider);
    const marker = spans.find(isMarker)!;
    expect(await post(ENCODINGS[0], [altered(marker, { attributes: { ...marker.attributes, [sc.ATTR_TIMEOUT_MS]: 1e-300 } })])).toBe(200);
    const startedAt = Date.parse((await record([marker])).startedAt);
    clock = startedAt + 2;
    try {
      await running.collector.reconcile();
      const timedOut = await record([marker]);
      expect(timedOut).toMatchObject({ status: 'error', errorKind: 'timeout', timeoutMs: 1 });
      expect(timedOut.errorInfo.message).toBe('Timed out after 1 ms');
    } finally {
      clock = undefined;
    }
  });
});
