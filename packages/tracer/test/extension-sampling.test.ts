import type { Attributes } from '@opentelemetry/api';
import { AlwaysOffSampler, BasicTracerProvider, InMemorySpanExporter, SamplingDecision, SimpleSpanProcessor, type Sampler } from '@opentelemetry/sdk-trace-base';
import * as attr from '@flowtrace/semconv';
import { createScope, custom, flow } from '@pumped-fn/core-next';
import { describe, expect, it } from 'vitest';
import { createTracingExtension } from '../src/index.js';
import { memoryTracing } from './support/memory-tracing.js';

memoryTracing();

/** A value that counts how often something reads it: capture walks its fields. */
function watched() {
  const reads = { count: 0 };
  const value = {
    get secretless() {
      reads.count++;
      return 'x';
    },
  };
  return { reads, value };
}

describe('data nobody will see is not captured', () => {
  it('reads no step input or output when the spans are not recorded', async () => {
    const exporter = new InMemorySpanExporter();
    const unsampled = new BasicTracerProvider({ sampler: new AlwaysOffSampler(), spanProcessors: [new SimpleSpanProcessor(exporter)] });
    const step = watched();
    const output = watched();
    const child = flow({ name: 'child', input: custom<unknown>(), output: custom<unknown>() }, () => output.value);
    const parent = flow({ name: 'parent', input: custom<void>(), output: custom<string>() }, async (ctx) => {
      await ctx.exec({ fn: (v: unknown) => v, params: [step.value], key: 'fn' });
      await ctx.exec({ flow: child, input: step.value, key: 'child' });
      return 'done';
    });
    const scope = createScope({ extensions: [createTracingExtension({ tracer: unsampled.getTracer('off') })] });
    expect(await scope.exec({ flow: parent, input: undefined })).toBe('done');
    expect(step.reads.count).toBe(0);
    expect(output.reads.count).toBe(0);
    expect(exporter.getFinishedSpans()).toEqual([]);

    // The same flow, recorded, does read them: the counts above can fail.
    const recorded = createScope({ extensions: [createTracingExtension()] });
    await recorded.exec({ flow: parent, input: undefined });
    expect(step.reads.count).toBeGreaterThan(0);
    expect(output.reads.count).toBeGreaterThan(0);
  });
});

describe('what a sampler sees', () => {
  it('decides at the root with the flow named, and every span keeps its attributes', async () => {
    const seen: Array<{ name: string; attributes: Attributes }> = [];
    const sampler: Sampler = {
      shouldSample(_context, _traceId, name, _kind, attributes) {
        seen.push({ name, attributes: { ...attributes } });
        return { decision: SamplingDecision.RECORD_AND_SAMPLED };
      },
      toString: () => 'recording',
    };
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ sampler, spanProcessors: [new SimpleSpanProcessor(exporter)] });
    const child = flow({ name: 'child', input: custom<number>(), output: custom<number>() }, (_ctx, n) => n + 1);
    const parent = flow({ name: 'parent', input: custom<number>(), output: custom<number>() }, async (ctx, n) =>
      ctx.exec({ flow: child, input: await ctx.exec({ fn: (v: number) => v * 2, params: [n], key: 'double' }), key: 'child' }),
    );
    const scope = createScope({ extensions: [createTracingExtension({ tracer: provider.getTracer('sampled') })] });
    expect(await scope.exec({ flow: parent, input: 2 })).toBe(5);

    const root = seen.find((s) => s.name === 'flow parent')!.attributes;
    expect(root).toMatchObject({ [attr.ATTR_EXECUTION_ROOT]: true, [attr.ATTR_STEP_KIND]: attr.STEP_KIND_FLOW, [attr.ATTR_FLOW_ID]: 'parent', [attr.ATTR_FLOW_NAME]: 'parent' });
    const executionId = root[attr.ATTR_EXECUTION_ID];
    expect(typeof executionId).toBe('string');
    // A step's span is created with its execution id; the rest is set right after.
    expect(seen.find((s) => s.name === 'step double')!.attributes).toEqual({ [attr.ATTR_EXECUTION_ID]: executionId });
    const spans = new Map(exporter.getFinishedSpans().map((s) => [s.name, s.attributes]));
    expect(spans.get('step double')).toMatchObject({ [attr.ATTR_STEP_KIND]: attr.STEP_KIND_FN, [attr.ATTR_STEP_KEY]: 'double', [attr.ATTR_DEPTH]: 1, [attr.ATTR_STEP_INDEX]: 0, [attr.ATTR_INPUT]: '[2]', [attr.ATTR_OUTPUT]: '4' });
    expect(spans.get('flow child')).toMatchObject({ [attr.ATTR_STEP_KIND]: attr.STEP_KIND_FLOW, [attr.ATTR_FLOW_ID]: 'child', [attr.ATTR_STEP_KEY]: 'child', [attr.ATTR_DEPTH]: 1, [attr.ATTR_STEP_INDEX]: 1, [attr.ATTR_INPUT]: '4', [attr.ATTR_OUTPUT]: '5' });
  });
});
