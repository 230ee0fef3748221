import { AlwaysOffSampler, BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
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
