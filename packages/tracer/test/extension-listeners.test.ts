import { getEventListeners } from 'node:events';
import { createScope, custom, flow, provide, type ExecutionContext } from '@pumped-fn/core-next';
import { afterEach, describe, expect, it } from 'vitest';
import { abortLinksOf } from '../src/exec-calls.js';
import { createTracingExtension } from '../src/index.js';
import { byName, memoryTracing } from './support/memory-tracing.js';

const tracing = memoryTracing();
afterEach(() => tracing.reset());

const traced = () => createScope({ extensions: [createTracingExtension({ tracer: tracing.tracer })] });

/** Node's `warning` events while `work` runs. */
async function warningsDuring(work: () => Promise<unknown>): Promise<Error[]> {
  const warnings: Error[] = [];
  const onWarning = (warning: Error) => warnings.push(warning);
  process.on('warning', onWarning);
  try {
    await work();
    // Node emits process warnings on a later tick.
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', onWarning);
  }
  return warnings;
}

describe('abort listeners of ctx.exec', () => {
  it('leaves no listener behind per step: 100 steps, no MaxListenersExceededWarning', async () => {
    let seen: number[] = [];
    const links: number[] = [];
    const child = flow({ name: 'child', input: custom<number>(), output: custom<number>() }, (_ctx, n) => n + 1);
    const hundred = flow({ name: 'hundred', input: custom<void>(), output: custom<number>() }, async (ctx) => {
      let n = 0;
      for (let i = 0; i < 50; i++) {
        n = await ctx.exec({ fn: (x: number) => x + 1, params: [n], key: `fn-${i}` });
        n = await ctx.exec({ flow: child, input: n, key: `flow-${i}` });
        seen.push(getEventListeners(ctx.signal, 'abort').length);
        links.push(abortLinksOf(ctx.signal)?.size ?? 0);
      }
      return n;
    });
    const warnings = await warningsDuring(async () => {
      expect(await traced().exec({ flow: hundred, input: undefined })).toBe(100);
    });
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
    // One real listener links the flow's signal to its steps; each finished step's link is gone.
    expect(Math.max(...seen)).toBe(1);
    expect(links).toEqual(Array(50).fill(0));
    expect(tracing.spans()).toHaveLength(1 + 100);

    // The same flow untraced piles one listener per step on the flow's signal (core-next 0.5.94).
    seen = [];
    const untraced = await warningsDuring(() => createScope().exec({ flow: hundred, input: undefined }).result.toPromise());
    expect(seen.at(-1)).toBe(100);
    expect(untraced.some((w) => w.name === 'MaxListenersExceededWarning')).toBe(true);
  });

  it('releases the listener of an exec call that throws at once', async () => {
    const notAFlow = provide(() => 1) as unknown as Parameters<ExecutionContext.Context['exec']>[0] extends { flow: infer F } ? F : never;
    let left = -1;
    const bad = flow({ name: 'bad', input: custom<void>(), output: custom<string>() }, (ctx) => {
      for (let i = 0; i < 12; i++) expect(() => ctx.exec({ flow: notAFlow, input: undefined })).toThrow();
      left = getEventListeners(ctx.signal, 'abort').length + (abortLinksOf(ctx.signal)?.size ?? 0);
      return 'survived';
    });
    const warnings = await warningsDuring(async () => {
      expect(await traced().exec({ flow: bad, input: undefined })).toBe('survived');
    });
    // The one real listener that runs the links, and no link left by the failed calls.
    expect(left).toBe(1);
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
  });

  it('still aborts steps that are running when the flow is aborted', async () => {
    let stepCtx: ExecutionContext.Context | undefined;
    const running = { fn: 0, flow: 0, links: () => -1 };
    const waitForAbort = (signal: AbortSignal) => new Promise<never>((_r, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
    const hangs = flow({ name: 'hangs', input: custom<void>(), output: custom<void>() }, (ctx) => {
      stepCtx = ctx;
      running.flow++;
      return waitForAbort(ctx.signal);
    });
    const busy = flow({ name: 'busy', input: custom<void>(), output: custom<unknown>() }, async (ctx) => {
      // Finished steps first: their listeners are released, the running ones' are kept.
      for (let i = 0; i < 20; i++) await ctx.exec({ fn: () => i, key: `done-${i}` });
      running.links = () => abortLinksOf(ctx.signal)?.size ?? 0;
      return ctx.parallelSettled([
        ctx.exec({ flow: hangs, input: undefined, key: 'hanging-flow' }),
        ctx.exec({ fn: () => { running.fn++; return waitForAbort(ctx.signal); }, key: 'hanging-fn' }),
      ]);
    });
    const execution = traced().exec({ flow: busy, input: undefined });
    await expect.poll(() => running.flow + running.fn).toBe(2);
    // The two steps still running keep their links to the flow's abort.
    expect(running.links()).toBe(2);
    execution.abort.abort(new Error('user cancelled'));
    const { results } = (await execution.result) as { results: PromiseSettledResult<unknown>[] };
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(stepCtx!.signal.aborted).toBe(true);
    expect(stepCtx!.signal.reason).toEqual(new Error('user cancelled'));
    expect(byName(tracing.spans(), 'flow hangs').attributes['flowtrace.abort_reason']).toBe('user cancelled');
  });
});
