import { context, propagation, trace } from '@opentelemetry/api';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemorySpanExporter, RandomIdGenerator, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { createTracingExtension, StartMarkerSpanProcessor } from '@flowtrace/tracer';
import { ATTR_EXECUTION_ID } from '@flowtrace/tracer/semconv';
import { createScope, custom, flow } from '@pumped-fn/core-next';

/**
 * Realistic flowtrace traffic for the ingest and query benchmarks: one execution recorded by the
 * real tracer (start marker, flow, child flow, fn steps, with captured data), then copied with
 * fresh ids and shifted times as often as needed.
 */

const validate = flow({ name: 'validate', input: custom<Order>(), output: custom<{ ok: boolean; lines: number }>() }, (_c, o) => ({ ok: true, lines: o.items.length }));
interface Order {
  customer: { id: string; email: string; tier: string };
  items: Array<{ sku: string; qty: number; price: number }>;
  card: string;
}
const placeOrder = flow({ name: 'place-order', input: custom<Order>(), output: custom<{ orderId: string; total: number }>() }, async (ctx, order) => {
  await ctx.exec({ flow: validate, input: order, key: 'validate' });
  const total = await ctx.exec({ key: 'price', fn: (items: Order['items']) => items.reduce((s, i) => s + i.qty * i.price, 0), params: [order.items] });
  await ctx.exec({ key: 'reserve-stock', fn: async (items: Order['items']) => items.map((i) => ({ sku: i.sku, reserved: i.qty, warehouse: 'eu-west-1' })), params: [order.items] });
  await ctx.exec({ key: 'charge', fn: async (card: string, amount: number) => ({ charged: amount, card: card.slice(-4), receipt: 'r-1234567890' }), params: [order.card, total] });
  return { orderId: 'O-1234', total };
});

export async function templateExecution(): Promise<ReadableSpan[]> {
  const exporter = new InMemorySpanExporter();
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'bench-shop', 'service.instance.id': 'bench-instance' }),
    spanProcessors: [new StartMarkerSpanProcessor(new SimpleSpanProcessor(exporter))],
  });
  trace.disable();
  context.disable();
  propagation.disable();
  provider.register();
  const scope = createScope({ extensions: [createTracingExtension()] });
  await scope.exec({
    flow: placeOrder,
    input: {
      customer: { id: 'c-42', email: 'ada@example.com', tier: 'gold' },
      items: [
        { sku: 'tea-green', qty: 2, price: 4.5 },
        { sku: 'mug', qty: 1, price: 12 },
        { sku: 'kettle', qty: 1, price: 39 },
      ],
      card: '4242424242424242',
    },
  });
  // Read before shutdown: shutting the in-memory exporter down empties it.
  const spans = exporter.getFinishedSpans();
  await provider.shutdown();
  trace.disable();
  context.disable();
  if (spans.length === 0) throw new Error('the tracer recorded no span for the template execution');
  return spans;
}

const ids = new RandomIdGenerator();

/** A copy of an execution's spans with new trace, span and execution ids, started `shiftMs` later. */
export function copyExecution(template: readonly ReadableSpan[], shiftMs: number, executionId: string): ReadableSpan[] {
  const traceId = ids.generateTraceId();
  const spanIds = new Map(template.map((s) => [s.spanContext().spanId, ids.generateSpanId()]));
  const shift = (t: [number, number]): [number, number] => {
    const nanos = t[1] + Math.round((shiftMs % 1000) * 1e6);
    return [t[0] + Math.floor(shiftMs / 1000) + Math.floor(nanos / 1e9), nanos % 1e9];
  };
  return template.map((span) => {
    const spanContext = { ...span.spanContext(), traceId, spanId: spanIds.get(span.spanContext().spanId)! };
    const parent = span.parentSpanContext;
    const copy: ReadableSpan = {
      name: span.name,
      kind: span.kind,
      spanContext: () => spanContext,
      parentSpanContext: parent ? { ...parent, traceId, spanId: spanIds.get(parent.spanId) ?? parent.spanId } : undefined,
      startTime: shift(span.startTime as [number, number]),
      endTime: shift(span.endTime as [number, number]),
      duration: span.duration,
      ended: true,
      status: span.status,
      attributes: { ...span.attributes, [ATTR_EXECUTION_ID]: executionId },
      links: span.links,
      events: span.events,
      resource: span.resource,
      instrumentationScope: span.instrumentationScope,
      droppedAttributesCount: 0,
      droppedEventsCount: 0,
      droppedLinksCount: 0,
    };
    return copy;
  });
}

export type Encoding = 'protobuf' | 'json';

/** `count` request bodies of `perBody` spans each, every span unique. */
export function requestBodies(template: readonly ReadableSpan[], count: number, perBody: number, encoding: Encoding): Array<Uint8Array<ArrayBuffer>> {
  const bodies: Array<Uint8Array<ArrayBuffer>> = [];
  let pending: ReadableSpan[] = [];
  let n = 0;
  const start = Date.now();
  while (bodies.length < count) {
    pending.push(...copyExecution(template, n, `bench-${encoding}-${start}-${n}`));
    n++;
    while (pending.length >= perBody && bodies.length < count) {
      const batch = pending.slice(0, perBody);
      pending = pending.slice(perBody);
      const serializer = encoding === 'protobuf' ? ProtobufTraceSerializer : JsonTraceSerializer;
      bodies.push(new Uint8Array(serializer.serializeRequest(batch)!));
    }
  }
  return bodies;
}
