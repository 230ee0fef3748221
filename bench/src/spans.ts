import { randomUUID } from 'node:crypto';
import { context, propagation, trace } from '@opentelemetry/api';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemorySpanExporter, RandomIdGenerator, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { StartMarkerSpanProcessor } from '@flowtrace/node';
import { createTracingExtension } from '@flowtrace/tracer';
import {
  ATTR_CONTEXT_ID,
  ATTR_EXECUTION_ID,
  ATTR_EXECUTION_ROOT,
  ATTR_FLOW_ID,
  ATTR_FLOW_NAME,
  ATTR_INPUT,
  ATTR_MARKER,
  ATTR_OUTPUT,
  ATTR_STEP_INDEX,
  ATTR_STEP_KEY,
  ATTR_STEP_KIND,
  MARKER_START,
  STEP_KIND_FN,
} from '@flowtrace/tracer/semconv';
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

/**
 * `count` request bodies of `perBody` spans each, every span unique. Execution ids are random
 * UUIDs, as pumped-fn makes them: ids in ascending order would land at the end of the
 * collector's id index and hide what a random one costs there.
 */
export function requestBodies(template: readonly ReadableSpan[], count: number, perBody: number, encoding: Encoding, after = 0): Array<Uint8Array<ArrayBuffer>> {
  return [...lazyRequestBodies(template, count, perBody, encoding, after)];
}

/**
 * The same, serialised as they are asked for (for seeds too large to hold). Execution n starts
 * n ms after the template; `after` executions are skipped, so traffic that follows a seed
 * starts after it, as new executions do.
 */
export function* lazyRequestBodies(template: readonly ReadableSpan[], count: number, perBody: number, encoding: Encoding, after = 0): Generator<Uint8Array<ArrayBuffer>> {
  function* executions(): Generator<ReadableSpan> {
    for (let n = after; ; n++) yield* copyExecution(template, n, randomUUID());
  }
  let made = 0;
  for (const body of batchBodies(executions(), perBody, encoding)) {
    if (made++ === count) return;
    yield body;
  }
}

/** `perBody` spans a request body, serialised lazily as the bodies are asked for. */
export function* batchBodies(spans: Iterable<ReadableSpan>, perBody: number, encoding: Encoding): Generator<Uint8Array<ArrayBuffer>> {
  const serializer = encoding === 'protobuf' ? ProtobufTraceSerializer : JsonTraceSerializer;
  let batch: ReadableSpan[] = [];
  for (const span of spans) {
    batch.push(span);
    if (batch.length === perBody) {
      yield new Uint8Array(serializer.serializeRequest(batch)!);
      batch = [];
    }
  }
  if (batch.length > 0) yield new Uint8Array(serializer.serializeRequest(batch)!);
}

/** The three kinds of span an execution is made of, as the real tracer wrote them. */
export interface TemplateParts {
  marker: ReadableSpan;
  root: ReadableSpan;
  fnStep: ReadableSpan;
}

export function templateParts(template: readonly ReadableSpan[]): TemplateParts {
  const marker = template.find((s) => s.attributes[ATTR_MARKER] === MARKER_START && s.attributes[ATTR_EXECUTION_ROOT] === true);
  const root = template.find((s) => s.attributes[ATTR_EXECUTION_ROOT] === true && s.attributes[ATTR_MARKER] === undefined);
  // Steps have start markers too (they carry the step's attributes): the step is its own span.
  const fnStep = template.find((s) => s.attributes[ATTR_STEP_KIND] === STEP_KIND_FN && s.attributes[ATTR_MARKER] === undefined);
  if (!marker || !root || !fnStep) throw new Error('the template execution lacks a start marker, a root span or an fn step');
  return { marker, root, fnStep };
}

export interface StepShape {
  key: string;
  input: unknown;
  /** Absent when the step failed. */
  output?: unknown;
  /** The step threw this message. */
  error?: string;
  durationMs: number;
}

export interface ExecutionShape {
  executionId: string;
  flowId: string;
  /** Epoch milliseconds. */
  startMs: number;
  params: unknown;
  /** Steps run one after the other, all children of the root. */
  steps: Iterable<StepShape>;
  result?: unknown;
  /** Still running: only the start marker has been sent. */
  pending?: boolean;
}

/**
 * An execution of any shape, made of the template's spans (same resource, scope and attribute
 * set as the real tracer writes) with fresh ids: the start marker, then the steps in start
 * order, then the root flow span (which ends last, so the exporter sends it last). Lazy, so
 * 50,000-step executions are serialised batch by batch.
 */
export function* syntheticExecution(parts: TemplateParts, shape: ExecutionShape): Generator<ReadableSpan> {
  const traceId = ids.generateTraceId();
  const rootId = ids.generateSpanId();
  const rootContext = { traceId, spanId: rootId, traceFlags: 1, isRemote: false };
  const flowAttributes = { [ATTR_FLOW_ID]: shape.flowId, [ATTR_FLOW_NAME]: shape.flowId, [ATTR_EXECUTION_ID]: shape.executionId, [ATTR_CONTEXT_ID]: shape.executionId };
  const input = JSON.stringify(shape.params);
  const start = hrTime(shape.startMs);
  yield spanFrom(parts.marker, {
    spanContext: { traceId, spanId: ids.generateSpanId(), traceFlags: 1, isRemote: false },
    parent: rootContext,
    name: `flow ${shape.flowId}`,
    start,
    end: start,
    attributes: { ...parts.marker.attributes, ...flowAttributes, [ATTR_INPUT]: input },
  });
  if (shape.pending) return;
  let at = shape.startMs + 0.05;
  let index = 0;
  let failure: string | undefined;
  for (const step of shape.steps) {
    const attributes: ReadableSpan['attributes'] = {
      ...parts.fnStep.attributes,
      [ATTR_EXECUTION_ID]: shape.executionId,
      [ATTR_CONTEXT_ID]: shape.executionId,
      [ATTR_STEP_KEY]: step.key,
      [ATTR_STEP_INDEX]: index++,
      [ATTR_INPUT]: JSON.stringify(step.input),
    };
    delete attributes[ATTR_OUTPUT];
    if (step.output !== undefined) attributes[ATTR_OUTPUT] = JSON.stringify(step.output);
    const end = at + step.durationMs;
    yield spanFrom(parts.fnStep, {
      spanContext: { traceId, spanId: ids.generateSpanId(), traceFlags: 1, isRemote: false },
      parent: rootContext,
      name: `step ${step.key}`,
      start: hrTime(at),
      end: hrTime(end),
      attributes,
      error: step.error,
    });
    if (step.error) failure = step.error;
    at = end + 0.01;
  }
  const rootAttributes: ReadableSpan['attributes'] = { ...parts.root.attributes, ...flowAttributes, [ATTR_INPUT]: input };
  delete rootAttributes[ATTR_OUTPUT];
  if (shape.result !== undefined && !failure) rootAttributes[ATTR_OUTPUT] = JSON.stringify(shape.result);
  yield spanFrom(parts.root, { spanContext: rootContext, name: `flow ${shape.flowId}`, start, end: hrTime(at), attributes: rootAttributes, error: failure });
}

function spanFrom(
  base: ReadableSpan,
  o: {
    spanContext: ReturnType<ReadableSpan['spanContext']>;
    parent?: ReturnType<ReadableSpan['spanContext']>;
    name: string;
    start: [number, number];
    end: [number, number];
    attributes: ReadableSpan['attributes'];
    error?: string | undefined;
  },
): ReadableSpan {
  const durationNanos = Math.max(0, (o.end[0] - o.start[0]) * 1e9 + (o.end[1] - o.start[1]));
  return {
    name: o.name,
    kind: base.kind,
    spanContext: () => o.spanContext,
    parentSpanContext: o.parent,
    startTime: o.start,
    endTime: o.end,
    duration: [Math.floor(durationNanos / 1e9), durationNanos % 1e9],
    ended: true,
    // As the tracer records a throw: error status and an `exception` event.
    status: o.error ? { code: 2, message: o.error } : { code: 0 },
    attributes: o.attributes,
    links: [],
    events: o.error ? [{ name: 'exception', time: o.end, attributes: { 'exception.type': 'Error', 'exception.message': o.error }, droppedAttributesCount: 0 }] : [],
    resource: base.resource,
    instrumentationScope: base.instrumentationScope,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}

/** Epoch milliseconds (fractional) as an OTel HrTime. */
function hrTime(ms: number): [number, number] {
  // ms × 1e6 would pass 2^53: split off the seconds first.
  const seconds = Math.floor(ms / 1000);
  const nanos = Math.round((ms - seconds * 1000) * 1e6);
  return nanos >= 1e9 ? [seconds + 1, nanos - 1e9] : [seconds, nanos];
}
