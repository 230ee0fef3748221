import { context, propagation, SpanStatusCode, trace, type HrTime } from '@opentelemetry/api';
import * as sdk2Base from '@opentelemetry/sdk-trace-base';
import * as sdk2Node from '@opentelemetry/sdk-trace-node';
import { createScope, custom, flow } from '@pumped-fn/core-next';
import * as sdk1Base from 'sdk-trace-base-1';
import * as sdk1Node from 'sdk-trace-node-1';
import { afterEach, describe, expect, it } from 'vitest';
import { createTracingExtension, TRACER_NAME } from '../src/index.js';
import * as attr from '@flowtrace/semconv';

/** What both SDK majors' finished spans say, read through each one's own field names. */
interface Finished {
  name: string;
  spanId: string;
  parentId: string | undefined;
  scope: string | undefined;
  attributes: Record<string, unknown>;
  status: number;
  events: string[];
  startTime: HrTime;
}

interface AnySdkSpan {
  name: string;
  spanContext(): { spanId: string };
  parentSpanContext?: { spanId: string };
  parentSpanId?: string;
  instrumentationScope?: { name: string };
  instrumentationLibrary?: { name: string };
  attributes: Record<string, unknown>;
  status: { code: number };
  events: Array<{ name: string }>;
  startTime: HrTime;
}

function normalize(span: AnySdkSpan): Finished {
  return {
    name: span.name,
    spanId: span.spanContext().spanId,
    parentId: span.parentSpanContext?.spanId ?? span.parentSpanId,
    scope: (span.instrumentationScope ?? span.instrumentationLibrary)?.name,
    attributes: span.attributes,
    status: span.status.code,
    events: span.events.map((e) => e.name),
    startTime: span.startTime,
  };
}

// Each SDK's own Node provider (AsyncLocalStorage context) with an in-memory exporter, registered
// globally as an application would.
const sdks = [
  {
    major: '1.x',
    start() {
      const exporter = new sdk1Base.InMemorySpanExporter();
      // `as never`: sdk-trace-node-1 has its own copy of sdk-trace-base 1.x, whose class types
      // differ from the alias's by their private fields; at run time any processor fits.
      const provider = new sdk1Node.NodeTracerProvider({ spanProcessors: [new sdk1Base.SimpleSpanProcessor(exporter) as never] });
      provider.register();
      return { spans: () => exporter.getFinishedSpans() as unknown as AnySdkSpan[], shutdown: () => provider.shutdown() };
    },
  },
  {
    major: '2.x',
    start() {
      const exporter = new sdk2Base.InMemorySpanExporter();
      const provider = new sdk2Node.NodeTracerProvider({ spanProcessors: [new sdk2Base.SimpleSpanProcessor(exporter)] });
      provider.register();
      return { spans: () => exporter.getFinishedSpans() as unknown as AnySdkSpan[], shutdown: () => provider.shutdown() };
    },
  },
];

const double = flow({ name: 'double', input: custom<number>(), output: custom<number>() }, async (ctx, n) =>
  ctx.exec({ fn: (x: number) => x * 2, params: [n], key: 'multiply' }),
);
const refuse = flow({ name: 'refuse', input: custom<string>(), output: custom<never>() }, async (ctx, reason) =>
  ctx.exec({
    fn: (r: string) => {
      throw new Error(r);
    },
    params: [reason],
    key: 'check',
  }),
);

let cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

describe.each(sdks)('createTracingExtension on OpenTelemetry SDK $major', ({ start }) => {
  function traced() {
    const sdk = start();
    cleanup.push(sdk.shutdown, () => {
      trace.disable();
      context.disable();
      propagation.disable();
    });
    const scope = createScope({ extensions: [createTracingExtension()] });
    return { scope, spans: () => sdk.spans().map(normalize) };
  }

  it('records a flow and its step as parent and child spans of one execution, with input and output', async () => {
    const { scope, spans } = traced();
    expect(await scope.exec({ flow: double, input: 21 })).toBe(42);

    const all = spans();
    expect(all.map((s) => s.name).sort()).toEqual(['flow double', 'step multiply']);
    const root = all.find((s) => s.name === 'flow double')!;
    const step = all.find((s) => s.name === 'step multiply')!;
    expect(step.parentId).toBe(root.spanId);
    expect(root.parentId).toBeUndefined();
    expect(all.every((s) => s.scope === TRACER_NAME)).toBe(true);
    expect(root.attributes).toMatchObject({
      [attr.ATTR_FLOW_NAME]: 'double',
      [attr.ATTR_FLOW_ID]: 'double',
      [attr.ATTR_EXECUTION_ROOT]: true,
      [attr.ATTR_INPUT]: '21',
      [attr.ATTR_OUTPUT]: '42',
    });
    expect(step.attributes).toMatchObject({
      [attr.ATTR_STEP_KEY]: 'multiply',
      [attr.ATTR_OUTPUT]: '42',
      [attr.ATTR_EXECUTION_ID]: root.attributes[attr.ATTR_EXECUTION_ID],
    });
    expect(typeof root.attributes[attr.ATTR_EXECUTION_ID]).toBe('string');
    expect(all.every((s) => s.status !== SpanStatusCode.ERROR)).toBe(true);
  });

  it('records a failing step and its flow with ERROR status and the exception', async () => {
    const { scope, spans } = traced();
    await expect(scope.exec({ flow: refuse, input: 'card declined' })).rejects.toThrow('card declined');

    const all = spans();
    const root = all.find((s) => s.name === 'flow refuse')!;
    const step = all.find((s) => s.name === 'step check')!;
    expect(step.parentId).toBe(root.spanId);
    for (const span of [root, step]) {
      expect(span.status).toBe(SpanStatusCode.ERROR);
    }
    expect(step.events).toContain('exception');
  });
});
