import { createScope, custom, flow, type ExecutionContext } from '@pumped-fn/core-next';
import { afterEach, describe, expect, it } from 'vitest';
import { createTracingExtension } from '../src/index.js';
import * as attr from '@flowtrace/semconv';
import { byName, memoryTracing } from './support/memory-tracing.js';

const tracing = memoryTracing();
afterEach(() => tracing.reset());

const traced = () => createScope({ extensions: [createTracingExtension({ tracer: tracing.tracer })] });
const untilAborted = (ctx: ExecutionContext.Context) =>
  new Promise<never>((_r, reject) => {
    if (ctx.signal.aborted) reject(ctx.signal.reason);
    ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
  });
const hangs = flow({ name: 'hangs', input: custom<void>(), output: custom<void>() }, untilAborted);
const abortOf = (name: string) => {
  const a = byName(tracing.spans(), name).attributes;
  return { cancelled: a[attr.ATTR_CANCELLED], kind: a[attr.ATTR_ABORT_KIND], reason: a[attr.ATTR_ABORT_REASON] };
};

describe('abort kind: from the reason and the controller that fired, never the words', () => {
  it('scope.exec({ timeout }) is a timeout', async () => {
    await expect(traced().exec({ flow: hangs, input: undefined, timeout: 15 }).result).rejects.toThrow();
    expect(abortOf('flow hangs')).toEqual({ cancelled: true, kind: 'timeout', reason: 'Flow execution timeout after 15ms' });
  });

  it('ctx.exec({ timeout }) of a flow is a timeout on that flow, and no abort on its parent', async () => {
    const parent = flow({ name: 'parent', input: custom<void>(), output: custom<string>() }, async (ctx) => {
      await ctx.exec({ flow: hangs, input: undefined, timeout: 15 }).catch(() => {});
      return 'recovered';
    });
    expect(await traced().exec({ flow: parent, input: undefined })).toBe('recovered');
    expect(abortOf('flow hangs')).toEqual({ cancelled: true, kind: 'timeout', reason: 'Operation timeout after 15ms' });
    expect(abortOf('flow parent').cancelled).toBeUndefined();
  });

  it('a parent timeout reaching a child flow is a timeout on both', async () => {
    const parent = flow({ name: 'parent', input: custom<void>(), output: custom<void>() }, async (ctx) => {
      await ctx.exec({ flow: hangs, input: undefined, timeout: 60_000 });
    });
    await expect(traced().exec({ flow: parent, input: undefined, timeout: 15 }).result).rejects.toThrow();
    expect(abortOf('flow parent').kind).toBe('timeout');
    expect(abortOf('flow hangs').kind).toBe('timeout');
  });

  it('a reason named TimeoutError is a timeout, whatever its message', async () => {
    const execution = traced().exec({ flow: hangs, input: undefined });
    const signal = AbortSignal.timeout(10);
    signal.addEventListener('abort', () => execution.abort.abort(signal.reason));
    await expect(execution.result).rejects.toThrow();
    expect(abortOf('flow hangs')).toMatchObject({ cancelled: true, kind: 'timeout' });

    tracing.reset();
    const other = traced().exec({ flow: hangs, input: undefined });
    other.abort.abort(Object.assign(new Error('gave up waiting'), { name: 'TimeoutError' }));
    await expect(other.result).rejects.toThrow();
    expect(abortOf('flow hangs')).toEqual({ cancelled: true, kind: 'timeout', reason: 'gave up waiting' });
  });

  it('a manual abort is an abort, even worded like a timeout and even with a timeout set', async () => {
    const execution = traced().exec({ flow: hangs, input: undefined, timeout: 60_000 });
    execution.abort.abort(new Error('user cancelled: request timed out upstream'));
    await expect(execution.result).rejects.toThrow();
    expect(abortOf('flow hangs')).toEqual({ cancelled: true, kind: 'abort', reason: 'user cancelled: request timed out upstream' });

    tracing.reset();
    const plain = traced().exec({ flow: hangs, input: undefined });
    plain.abort.abort('user cancelled');
    await expect(plain.result).rejects.toBe('user cancelled');
    expect(abortOf('flow hangs')).toEqual({ cancelled: true, kind: 'abort', reason: 'user cancelled' });
  });
});
