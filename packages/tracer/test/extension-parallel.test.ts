import { createScope, custom, flow } from '@pumped-fn/core-next';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import { createTracingExtension } from '../src/index.js';
import * as attr from '@flowtrace/semconv';
import { byName, memoryTracing, parentOf } from './support/memory-tracing.js';

const tracing = memoryTracing();
afterEach(() => tracing.reset());

const scope = () => createScope({ extensions: [createTracingExtension({ tracer: tracing.tracer })] });
const where = (spans: readonly ReadableSpan[], name: string) => {
  const span = byName(spans, name);
  return {
    parent: parentOf(spans, span)?.name,
    depth: span.attributes[attr.ATTR_DEPTH],
    index: span.attributes[attr.ATTR_STEP_INDEX],
  };
};
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('parallel members are children of their parallel operation', () => {
  it('nests ctx.parallel members under it, with depth and indexes counted from it', async () => {
    const child = flow({ name: 'child', input: custom<number>(), output: custom<number>() }, async (ctx, n) =>
      ctx.exec({ fn: () => n * 2, key: 'double' }),
    );
    const fanOut = flow({ name: 'fan-out', input: custom<void>(), output: custom<number[]>() }, async (ctx) => {
      await ctx.exec({ fn: () => 0, key: 'before' });
      const { results } = await ctx.parallel([
        ctx.exec({ fn: async () => 1, key: 'a' }),
        ctx.exec({ flow: child, input: 2, key: 'b' }),
        ctx.exec({ fn: () => 3, key: 'c' }),
      ]);
      await ctx.exec({ fn: () => 4, key: 'after' });
      return results;
    });
    expect(await scope().exec({ flow: fanOut, input: undefined })).toEqual([1, 4, 3]);
    const spans = tracing.spans();
    expect(where(spans, 'step before')).toEqual({ parent: 'flow fan-out', depth: 1, index: 0 });
    expect(where(spans, 'parallel')).toEqual({ parent: 'flow fan-out', depth: 1, index: 1 });
    expect(where(spans, 'step a')).toEqual({ parent: 'parallel', depth: 2, index: 0 });
    expect(where(spans, 'flow child')).toEqual({ parent: 'parallel', depth: 2, index: 1 });
    expect(where(spans, 'step double')).toEqual({ parent: 'flow child', depth: 3, index: 0 });
    expect(where(spans, 'step c')).toEqual({ parent: 'parallel', depth: 2, index: 2 });
    expect(where(spans, 'step after')).toEqual({ parent: 'flow fan-out', depth: 1, index: 2 });
    // The parallel span starts before its members (they name it as their parent, so it existed
    // when they started) and ends after them. The order is read from the order the spans ended
    // in, not from their timestamps: the SDK takes a span's start from Date.now(), to the
    // millisecond, so two spans' times are ordered only to within a millisecond.
    const ended = spans.map((s) => s.name);
    for (const name of ['step a', 'flow child', 'step c']) expect(ended.indexOf(name), name).toBeLessThan(ended.indexOf('parallel'));
  });

  it('nests parallelSettled members, failed ones included', async () => {
    const settled = flow({ name: 'settled', input: custom<void>(), output: custom<number>() }, async (ctx) => {
      const { stats } = await ctx.parallelSettled([
        ctx.exec({ fn: () => 1, key: 'ok' }),
        ctx.exec({ fn: () => Promise.reject(new Error('nope')), key: 'fails' }),
      ]);
      return stats.failed;
    });
    expect(await scope().exec({ flow: settled, input: undefined })).toBe(1);
    const spans = tracing.spans();
    expect(where(spans, 'parallel-settled')).toEqual({ parent: 'flow settled', depth: 1, index: 0 });
    expect(where(spans, 'step ok')).toEqual({ parent: 'parallel-settled', depth: 2, index: 0 });
    expect(where(spans, 'step fails')).toEqual({ parent: 'parallel-settled', depth: 2, index: 1 });
  });

  it('leaves a step started earlier in the same turn, awaited on its own, under the flow', async () => {
    const mixed = flow({ name: 'mixed', input: custom<void>(), output: custom<string[]>() }, async (ctx) => {
      const early = ctx.exec({ fn: async () => 'early', key: 'early' });
      const { results } = await ctx.parallel([ctx.exec({ fn: () => 'x', key: 'x' }), ctx.exec({ fn: () => 'y', key: 'y' })]);
      return [await early, ...results];
    });
    expect(await scope().exec({ flow: mixed, input: undefined })).toEqual(['early', 'x', 'y']);
    const spans = tracing.spans();
    expect(where(spans, 'step early')).toEqual({ parent: 'flow mixed', depth: 1, index: 0 });
    expect(where(spans, 'parallel')).toEqual({ parent: 'flow mixed', depth: 1, index: 1 });
    expect(where(spans, 'step x')).toEqual({ parent: 'parallel', depth: 2, index: 0 });
    expect(where(spans, 'step y')).toEqual({ parent: 'parallel', depth: 2, index: 1 });
  });

  it('leaves a member started in an earlier turn under the flow, and claims the ones of its own turn', async () => {
    const split = flow({ name: 'split', input: custom<void>(), output: custom<string[]>() }, async (ctx) => {
      const started = ctx.exec({ fn: async () => 'started', key: 'started' });
      await tick();
      const { results } = await ctx.parallel([started, ctx.exec({ fn: () => 'fresh', key: 'fresh' })]);
      return results;
    });
    expect(await scope().exec({ flow: split, input: undefined })).toEqual(['started', 'fresh']);
    const spans = tracing.spans();
    expect(where(spans, 'step started')).toEqual({ parent: 'flow split', depth: 1, index: 0 });
    expect(where(spans, 'parallel')).toEqual({ parent: 'flow split', depth: 1, index: 1 });
    expect(where(spans, 'step fresh')).toEqual({ parent: 'parallel', depth: 2, index: 0 });
  });

  it('nests a parallel inside a parallel', async () => {
    const nested = flow({ name: 'nested', input: custom<void>(), output: custom<unknown>() }, async (ctx) => {
      const { results } = await ctx.parallel([
        ctx.parallel([ctx.exec({ fn: () => 'inner', key: 'inner' })]),
        ctx.exec({ fn: () => 'outer', key: 'outer' }),
      ]);
      return results;
    });
    await scope().exec({ flow: nested, input: undefined });
    const spans = tracing.spans();
    const [outer, inner] = [...spans.filter((s) => s.name === 'parallel')].sort(
      (a, b) => Number(a.attributes[attr.ATTR_DEPTH]) - Number(b.attributes[attr.ATTR_DEPTH]),
    );
    expect(parentOf(spans, outer!)?.name).toBe('flow nested');
    expect(parentOf(spans, inner!)).toBe(outer);
    expect(inner!.attributes[attr.ATTR_STEP_INDEX]).toBe(0);
    expect(parentOf(spans, byName(spans, 'step inner'))).toBe(inner);
    expect(where(spans, 'step outer')).toEqual({ parent: 'parallel', depth: 2, index: 1 });
    expect(parentOf(spans, byName(spans, 'step outer'))).toBe(outer);
  });
});
