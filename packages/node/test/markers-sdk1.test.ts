import { context, diag, DiagLogLevel, propagation, trace } from '@opentelemetry/api';
import { createScope } from '@pumped-fn/core-next';
import { afterEach, describe, expect, it } from 'vitest';
import { createTracingExtension } from '@flowtrace/tracer';
import * as attr from '@flowtrace/semconv';
// OpenTelemetry SDK 1.x, installed through npm aliases next to the 2.x the package depends on.
import { OTLPTraceExporter } from 'exporter-trace-otlp-http-1';
import { BatchSpanProcessor } from 'sdk-trace-base-1';
import { NodeTracerProvider } from 'sdk-trace-node-1';
import { StartMarkerSpanProcessor } from '../src/index.js';
import { double } from './support/flow.js';
import { jsonSpans, startReceiver } from './support/otlp-receiver.js';

type Processor = ConstructorParameters<typeof StartMarkerSpanProcessor>[0];
type MarkerResource = Parameters<StartMarkerSpanProcessor['announceInstance']>[0];

let cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

describe('StartMarkerSpanProcessor on OpenTelemetry SDK 1.x', () => {
  it('delivers start and instance-start markers through a 1.x BatchSpanProcessor and OTLP exporter', async () => {
    const receiver = await startReceiver();
    cleanup.push(receiver.close);
    const errors: unknown[] = [];
    diag.setLogger({ error: (...args) => errors.push(args), warn: () => {}, info: () => {}, debug: () => {}, verbose: () => {} }, DiagLogLevel.ERROR);
    cleanup.push(() => diag.disable());

    const markers = new StartMarkerSpanProcessor(
      new BatchSpanProcessor(new OTLPTraceExporter({ url: `${receiver.url}/v1/traces` }), { scheduledDelayMillis: 50 }) as unknown as Processor,
    );
    const provider = new NodeTracerProvider({ spanProcessors: [markers as never] });
    provider.register();
    cleanup.push(() => {
      trace.disable();
      context.disable();
      propagation.disable();
    });
    markers.announceInstance(provider.resource as unknown as MarkerResource);

    const scope = createScope({ extensions: [createTracingExtension()] });
    expect(await scope.exec({ flow: double, input: 21 })).toBe(42);
    await provider.shutdown();

    const spans = jsonSpans(receiver.requests);
    const real = spans.filter((s) => s.attributes[attr.ATTR_MARKER] === undefined);
    expect(real.map((s) => s.name).sort()).toEqual(['flow double', 'step multiply']);
    const root = real.find((s) => s.name === 'flow double')!;
    const step = real.find((s) => s.name === 'step multiply')!;
    expect(step.parentSpanId).toBe(root.spanId);

    const starts = spans.filter((s) => s.attributes[attr.ATTR_MARKER] === attr.MARKER_START);
    expect(starts.map((s) => s.name).sort()).toEqual(['flow double', 'step multiply']);
    for (const span of [root, step]) {
      const start = starts.find((s) => s.name === span.name)!;
      expect(start.traceId).toBe(span.traceId);
      expect(start.parentSpanId).toBe(span.spanId);
      expect(start.spanId).toMatch(/^[0-9a-f]{16}$/);
      expect(start.spanId).not.toBe(span.spanId);
      expect(start.startTimeUnixNano).toBe(span.startTimeUnixNano);
      expect(start.endTimeUnixNano).toBe(span.startTimeUnixNano);
      expect(start.attributes[attr.ATTR_EXECUTION_ID]).toBe(root.attributes[attr.ATTR_EXECUTION_ID]);
    }
    expect(starts.find((s) => s.name === 'step multiply')!.attributes[attr.ATTR_MARKER_PARENT_ID]).toBe(root.spanId);

    const instance = spans.filter((s) => s.attributes[attr.ATTR_MARKER] === attr.MARKER_INSTANCE_START);
    expect(instance).toHaveLength(1);
    expect(instance[0]!.resource['telemetry.sdk.version']).toMatch(/^1\./);
    expect(errors).toEqual([]);
  });
});
