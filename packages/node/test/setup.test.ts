import { createScope, custom, flow } from '@pumped-fn/core-next';
import { describe, expect, it } from 'vitest';
import { createTracingExtension } from '@flowtrace/tracer';
import * as attr from '@flowtrace/semconv';
import { startTracing, tracesUrl } from '../src/index.js';
import { isolatedTests } from './support/isolated.js';
import { runTraced } from './support/flow.js';
import { jsonSpans } from './support/otlp-receiver.js';

const receiver = isolatedTests();

async function receivers() {
  return { collector: await receiver(), jaeger: await receiver() };
}

describe('startTracing', () => {
  it('exports JSON to the collector with start and instance-start markers, and protobuf elsewhere without them', async () => {
    const { collector, jaeger } = await receivers();
    const handle = startTracing({
      serviceName: 'orders',
      serviceInstanceId: 'instance-1',
      collectorUrl: collector.url,
      collectorProtocol: 'http/json',
      collectorToken: 's3cret',
      exporters: [{ url: `${jaeger.url}/v1/traces`, protocol: 'http/protobuf', headers: { 'x-tenant': 't1' } }],
    });
    // The step waits until both start markers have arrived: markers of spans that already ended
    // when their batch left are not sent (next test).
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const held = flow({ name: 'double', input: custom<number>(), output: custom<number>() }, async (ctx, n) =>
      ctx.exec({ fn: async (x: number) => (await gate, x * 2), params: [n], key: 'multiply' }),
    );
    const running = createScope({ extensions: [createTracingExtension()] }).exec({ flow: held, input: 21 });
    const startCount = () => jsonSpans(collector.requests).filter((s) => s.attributes[attr.ATTR_MARKER] === attr.MARKER_START).length;
    await expect.poll(startCount, { timeout: 5000 }).toBe(2);
    release();
    expect(await running).toBe(42);
    await handle.shutdown();

    expect(collector.requests.length).toBeGreaterThan(0);
    for (const request of collector.requests) {
      expect(request.path).toBe('/v1/traces');
      expect(request.headers['content-type']).toBe('application/json');
      expect(request.headers.authorization).toBe('Bearer s3cret');
    }
    const spans = jsonSpans(collector.requests);
    const real = spans.filter((s) => s.attributes[attr.ATTR_MARKER] === undefined);
    expect(real.map((s) => s.name).sort()).toEqual(['flow double', 'step multiply']);
    const root = real.find((s) => s.name === 'flow double')!;

    const starts = spans.filter((s) => s.attributes[attr.ATTR_MARKER] === attr.MARKER_START);
    expect(starts.map((s) => s.name).sort()).toEqual(['flow double', 'step multiply']);
    const start = starts.find((s) => s.name === 'flow double')!;
    expect(start.parentSpanId).toBe(root.spanId);
    expect(start.traceId).toBe(root.traceId);
    expect(start.spanId).not.toBe(root.spanId);
    expect(start.startTimeUnixNano).toBe(root.startTimeUnixNano);
    expect(start.endTimeUnixNano).toBe(start.startTimeUnixNano);
    expect(start.attributes).toMatchObject({
      [attr.ATTR_EXECUTION_ID]: root.attributes[attr.ATTR_EXECUTION_ID],
      [attr.ATTR_FLOW_ID]: 'double',
      [attr.ATTR_INPUT]: '21',
      [attr.ATTR_EXECUTION_ROOT]: true,
    });
    expect(start.attributes[attr.ATTR_OUTPUT]).toBeUndefined();
    expect(start.attributes[attr.ATTR_MARKER_PARENT_ID]).toBeUndefined();

    // Every step is announced too, so the collector can show it running.
    const step = real.find((s) => s.name === 'step multiply')!;
    const stepStart = starts.find((s) => s.name === 'step multiply')!;
    expect(stepStart.parentSpanId).toBe(step.spanId);
    expect(stepStart.spanId).not.toBe(step.spanId);
    expect(stepStart.endTimeUnixNano).toBe(step.startTimeUnixNano);
    expect(stepStart.attributes).toMatchObject({
      [attr.ATTR_EXECUTION_ID]: root.attributes[attr.ATTR_EXECUTION_ID],
      [attr.ATTR_STEP_KEY]: 'multiply',
      [attr.ATTR_MARKER_PARENT_ID]: root.spanId,
    });
    expect(stepStart.attributes[attr.ATTR_OUTPUT]).toBeUndefined();

    const instance = spans.filter((s) => s.attributes[attr.ATTR_MARKER] === attr.MARKER_INSTANCE_START);
    expect(instance).toHaveLength(1);
    expect(instance[0]!.resource).toMatchObject({ 'service.name': 'orders', 'service.instance.id': 'instance-1' });

    expect(jaeger.requests.length).toBeGreaterThan(0);
    const jaegerBody = Buffer.concat(jaeger.requests.map((r) => r.body));
    for (const request of jaeger.requests) {
      expect(request.headers['content-type']).toBe('application/x-protobuf');
      expect(request.headers['x-tenant']).toBe('t1');
      expect(request.headers.authorization).toBeUndefined();
    }
    expect(jaegerBody.includes('flow double')).toBe(true);
    expect(jaegerBody.includes('step multiply')).toBe(true);
    expect(jaegerBody.includes(attr.ATTR_MARKER)).toBe(false);
  });

  it('exports protobuf to the collector with markers, and JSON elsewhere with only real spans', async () => {
    const { collector, jaeger } = await receivers();
    const handle = startTracing({
      serviceName: 'orders',
      collectorUrl: collector.url,
      exporters: [{ url: `${jaeger.url}/v1/traces`, protocol: 'http/json' }],
    });
    await runTraced(handle);

    const collectorBody = Buffer.concat(collector.requests.map((r) => r.body));
    expect(collector.requests.every((r) => r.headers['content-type'] === 'application/x-protobuf')).toBe(true);
    expect(collectorBody.includes(attr.ATTR_MARKER)).toBe(true);
    expect(collectorBody.includes(attr.MARKER_INSTANCE_START)).toBe(true);
    expect(collectorBody.includes('flow double')).toBe(true);

    const spans = jsonSpans(jaeger.requests);
    expect(spans.map((s) => s.name).sort()).toEqual(['flow double', 'step multiply']);
    expect(spans.every((s) => s.attributes[attr.ATTR_MARKER] === undefined)).toBe(true);
    const instanceId = spans[0]!.resource['service.instance.id'];
    expect(instanceId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('sends no start marker for spans that ended before their batch left, only the spans', async () => {
    const { collector } = await receivers();
    // Nothing leaves before shutdown's flush: both spans have ended by then.
    const handle = startTracing({ serviceName: 'orders', collectorUrl: collector.url, collectorProtocol: 'http/json', collectorBatch: { scheduledDelayMillis: 60_000 } });
    await runTraced(handle);
    const spans = jsonSpans(collector.requests);
    expect(spans.filter((s) => s.attributes[attr.ATTR_MARKER] === undefined).map((s) => s.name).sort()).toEqual(['flow double', 'step multiply']);
    expect(spans.filter((s) => s.attributes[attr.ATTR_MARKER] === attr.MARKER_START)).toEqual([]);
    expect(spans.filter((s) => s.attributes[attr.ATTR_MARKER] === attr.MARKER_INSTANCE_START)).toHaveLength(1);
  });

  it('sends the start markers of an execution and its step while the step still runs', async () => {
    const { collector } = await receivers();
    const handle = startTracing({ serviceName: 'orders', collectorUrl: collector.url, collectorProtocol: 'http/json' });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const hang = flow({ name: 'hang', input: custom<number>(), output: custom<number>() }, async (ctx, n) =>
      ctx.exec({ key: 'wait', fn: async (m: number) => (await gate, m), params: [n] }),
    );
    const running = createScope({ extensions: [createTracingExtension()] }).exec({ flow: hang, input: 1 });
    const starts = () =>
      jsonSpans(collector.requests)
        .filter((s) => s.attributes[attr.ATTR_MARKER] === attr.MARKER_START)
        .map((s) => s.name)
        .sort();
    await expect.poll(starts, { timeout: 5000 }).toEqual(['flow hang', 'step wait']);
    expect(jsonSpans(collector.requests).filter((s) => s.attributes[attr.ATTR_MARKER] === undefined)).toEqual([]);
    // Each marker holds what its span was given at start, set at creation or right after it.
    const markerOf = (name: string) => jsonSpans(collector.requests).find((s) => s.name === name && s.attributes[attr.ATTR_MARKER] === attr.MARKER_START)!;
    expect(markerOf('flow hang').attributes).toMatchObject({
      [attr.ATTR_EXECUTION_ROOT]: true,
      [attr.ATTR_STEP_KIND]: attr.STEP_KIND_FLOW,
      [attr.ATTR_FLOW_ID]: 'hang',
      [attr.ATTR_DEPTH]: 0,
      [attr.ATTR_INPUT]: '1',
    });
    const step = markerOf('step wait').attributes;
    expect(step).toMatchObject({
      [attr.ATTR_EXECUTION_ID]: markerOf('flow hang').attributes[attr.ATTR_EXECUTION_ID],
      [attr.ATTR_STEP_KIND]: attr.STEP_KIND_FN,
      [attr.ATTR_STEP_KEY]: 'wait',
      [attr.ATTR_DEPTH]: 1,
      [attr.ATTR_STEP_INDEX]: 0,
      [attr.ATTR_INPUT]: '[1]',
    });
    expect(step[attr.ATTR_OUTPUT]).toBeUndefined();
    release();
    expect(await running).toBe(1);
    await handle.shutdown();
  });

  it('can skip the collector and registers again after shutdown', async () => {
    const { jaeger } = await receivers();
    const exporters = [{ url: `${jaeger.url}/v1/traces`, protocol: 'http/json' as const }];
    const first = startTracing({ serviceName: 'a', collectorUrl: false, exporters });
    await runTraced(first);
    const second = startTracing({ serviceName: 'b', collectorUrl: false, exporters });
    await runTraced(second);
    const services = jsonSpans(jaeger.requests).map((s) => s.resource['service.name']);
    expect(services.filter((s) => s === 'a')).toHaveLength(2);
    expect(services.filter((s) => s === 'b')).toHaveLength(2);
  });
});

describe('tracesUrl', () => {
  it('appends the OTLP traces path to a base URL, as OTel does for OTEL_EXPORTER_OTLP_ENDPOINT', () => {
    expect(tracesUrl('http://localhost:4318')).toBe('http://localhost:4318/v1/traces');
    expect(tracesUrl('http://localhost:4318/')).toBe('http://localhost:4318/v1/traces');
    expect(tracesUrl('https://otlp.example/flowtrace')).toBe('https://otlp.example/flowtrace/v1/traces');
    expect(tracesUrl('https://otlp.example/flowtrace/')).toBe('https://otlp.example/flowtrace/v1/traces');
  });

  it('keeps a URL that already names the traces path', () => {
    expect(tracesUrl('http://localhost:4318/v1/traces')).toBe('http://localhost:4318/v1/traces');
  });
});

describe('general destinations', () => {
  it('use an option URL as given, like the OTel exporters', async () => {
    const { jaeger } = await receivers();
    const handle = startTracing({
      serviceName: 'orders',
      collectorUrl: false,
      exporters: [{ url: `${jaeger.url}/api/otlp/traces`, protocol: 'http/json' }],
    });
    await runTraced(handle);
    expect(jaeger.requests.map((r) => r.path)).toContain('/api/otlp/traces');
    expect(jaeger.requests.every((r) => r.path === '/api/otlp/traces')).toBe(true);
  });
});
