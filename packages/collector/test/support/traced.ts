import { context, propagation, trace, type HrTime } from '@opentelemetry/api';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { StartMarkerSpanProcessor } from '@flowtrace/node';
import { createTracingExtension, timeoutTag } from '@flowtrace/tracer';
import { createScope, custom, flow } from '@pumped-fn/core-next';
import { decodeJson } from '../../src/otlp/json.js';
import type { Span } from '../../src/otlp/span.js';

/** Demo flows whose spans the collector tests feed in: real tracer, real SDK, real serialisers. */
export interface Order {
  sku: string;
  qty: number;
  password?: string;
}

const validate = flow({ name: 'validate', input: custom<Order>(), output: custom<{ ok: true }>() }, (_ctx, order) => {
  if (order.qty <= 0) throw new RangeError(`quantity must be positive, got ${order.qty}`);
  return { ok: true as const };
});

export const checkout = flow(
  { name: 'checkout', input: custom<Order>(), output: custom<{ total: number }>(), tags: [timeoutTag(60_000)] },
  async (ctx, order) => {
    await ctx.exec({ flow: validate, input: order, key: 'validate' });
    const total = await ctx.exec({ fn: (qty: number) => qty * 5, params: [order.qty], key: 'price' });
    await ctx.exec({ fn: async () => ({ reserved: order.qty }), key: 'reserve' });
    return { total };
  },
);

/** A registered provider whose spans, start markers included, are kept in memory. */
export function memoryProvider(serviceName = 'shop', instanceId = 'instance-a') {
  const exporter = new InMemorySpanExporter();
  const resource = resourceFromAttributes({ 'service.name': serviceName, 'service.instance.id': instanceId });
  const markers = new StartMarkerSpanProcessor(new SimpleSpanProcessor(exporter));
  const provider = new NodeTracerProvider({ resource, spanProcessors: [markers] });
  trace.disable();
  context.disable();
  propagation.disable();
  provider.register();
  return { exporter, provider, resource, markers, scope: createScope({ extensions: [createTracingExtension()] }) };
}

/** Runs `checkout` for each order (failures are expected for bad ones) and returns the spans. */
export async function checkoutSpans(orders: Order[], provider = memoryProvider()): Promise<ReadableSpan[]> {
  provider.exporter.reset();
  await Promise.allSettled(orders.map((input) => provider.scope.exec({ flow: checkout, input })));
  return provider.exporter.getFinishedSpans();
}

export function protobufBody(spans: ReadableSpan[]): Buffer {
  return Buffer.from(ProtobufTraceSerializer.serializeRequest(spans)!);
}

export function jsonBody(spans: ReadableSpan[]): Buffer {
  return Buffer.from(JsonTraceSerializer.serializeRequest(spans)!);
}

/** The collector's own view of SDK spans, through the real OTLP/JSON encoding. */
export function normalized(spans: ReadableSpan[]): Span[] {
  return decodeJson(jsonBody(spans)).spans;
}

export function plusMs([seconds, nanos]: HrTime, ms: number): HrTime {
  const total = BigInt(seconds) * 1_000_000_000n + BigInt(nanos) + BigInt(Math.round(ms * 1e6));
  return [Number(total / 1_000_000_000n), Number(total % 1_000_000_000n)];
}

/** A copy of an SDK span with some of what the serializers read replaced. */
export function altered(span: ReadableSpan, change: Partial<Pick<ReadableSpan, 'startTime' | 'endTime' | 'attributes'>>): ReadableSpan {
  const context = span.spanContext();
  return {
    name: span.name,
    kind: span.kind,
    spanContext: () => context,
    parentSpanContext: span.parentSpanContext,
    startTime: span.startTime,
    endTime: span.endTime,
    status: span.status,
    attributes: span.attributes,
    links: span.links,
    events: span.events,
    duration: span.duration,
    ended: span.ended,
    resource: span.resource,
    instrumentationScope: span.instrumentationScope,
    droppedAttributesCount: span.droppedAttributesCount,
    droppedEventsCount: span.droppedEventsCount,
    droppedLinksCount: span.droppedLinksCount,
    ...change,
  };
}
