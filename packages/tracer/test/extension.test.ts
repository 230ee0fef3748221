import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { createScope, custom, flow, tag } from '@pumped-fn/core-next';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTracingExtension, timeoutTag } from '../src/index.js';
import * as attr from '@flowtrace/semconv';
import { byName, json, memoryTracing, parentOf } from './support/memory-tracing.js';

const tracing = memoryTracing();
afterEach(() => tracing.reset());
beforeAll(() => expect(trace.getTracerProvider()).toBeDefined());

interface Order {
  sku: string;
  qty: number;
  card: { number: string; cvv: string };
  password?: string;
}

const tenant = tag(custom<string>(), { label: 'tenant' });
const requestMeta = tag(custom<{ region: string; retries: number }>(), { label: 'request.meta' });
const userId = tag(custom<string>(), { label: 'user.id' });

const validate = flow(
  { name: 'validate', input: custom<Order>(), output: custom<{ ok: true }>() },
  (_ctx, order) => {
    if (order.qty <= 0) throw new RangeError(`quantity must be positive, got ${order.qty}`);
    return { ok: true as const };
  },
);

const checkout = flow(
  { name: 'checkout', version: '2.1.0', input: custom<Order>(), output: custom<{ total: number; parts: string[] }>() },
  async (ctx, order) => {
    ctx.set(userId, 'u-42');
    await ctx.exec({ flow: validate, input: order, key: 'validate' });
    const total = await ctx.exec({ fn: (qty: number, unit: number) => qty * unit, params: [order.qty, 5], key: 'price' });
    const { results } = await ctx.parallel([
      ctx.exec({ fn: () => 'reserved', key: 'reserve' }),
      ctx.exec({ fn: async () => 'notified', key: 'notify' }),
    ]);
    return { total, parts: results };
  },
);

const order: Order = { sku: 'A-1', qty: 3, card: { number: '4242', cvv: '123' }, password: 'hunter2' };

function tracedScope(options?: Parameters<typeof createTracingExtension>[0]) {
  return createScope({
    extensions: [createTracingExtension({ tracer: tracing.tracer, ...options })],
    tags: [tenant('acme')],
  });
}

describe('createTracingExtension: the span tree', () => {
  it('wraps a flow, its child flows, fn steps and parallel steps in correctly parented spans', async () => {
    const scope = tracedScope();
    const result = await scope.exec({ flow: checkout, input: order, tags: [requestMeta({ region: 'eu', retries: 1 })] });
    expect(result).toEqual({ total: 15, parts: ['reserved', 'notified'] });

    const spans = tracing.spans();
    expect(spans.map((s) => s.name).sort()).toEqual(
      ['flow checkout', 'flow validate', 'parallel', 'step notify', 'step price', 'step reserve'].sort(),
    );
    const root = byName(spans, 'flow checkout');
    for (const name of ['flow validate', 'step price', 'parallel']) {
      expect(parentOf(spans, byName(spans, name)), name).toBe(root);
    }
    for (const name of ['step reserve', 'step notify']) {
      expect(parentOf(spans, byName(spans, name)), name).toBe(byName(spans, 'parallel'));
    }
    expect(new Set(spans.map((s) => s.spanContext().traceId)).size).toBe(1);
    expect(spans.every((s) => s.kind === SpanKind.INTERNAL)).toBe(true);
    expect(spans.every((s) => s.instrumentationScope.name === 'test')).toBe(true);
  });

  it('sets the DESIGN attributes on every span', async () => {
    const scope = tracedScope();
    await scope.exec({ flow: checkout, input: order, tags: [requestMeta({ region: 'eu', retries: 1 })] });
    const spans = tracing.spans();
    const root = byName(spans, 'flow checkout');
    const executionId = root.attributes[attr.ATTR_EXECUTION_ID];
    expect(executionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(spans.every((s) => s.attributes[attr.ATTR_EXECUTION_ID] === executionId)).toBe(true);

    expect(root.attributes).toMatchObject({
      [attr.ATTR_EXECUTION_ROOT]: true,
      [attr.ATTR_CONTEXT_ID]: executionId,
      [attr.ATTR_FLOW_ID]: 'checkout',
      [attr.ATTR_FLOW_NAME]: 'checkout',
      [attr.ATTR_FLOW_VERSION]: '2.1.0',
      [attr.ATTR_STEP_KIND]: 'flow',
      [attr.ATTR_DEPTH]: 0,
      [`${attr.ATTR_TAG_PREFIX}tenant`]: 'acme',
      [`${attr.ATTR_TAG_PREFIX}user.id`]: 'u-42',
    });
    expect(json(root.attributes[`${attr.ATTR_TAG_JSON_PREFIX}request.meta`])).toEqual({ region: 'eu', retries: 1 });
    expect(root.attributes[attr.ATTR_STEP_INDEX]).toBeUndefined();
    expect(Object.keys(root.attributes).some((k) => k.startsWith(`${attr.ATTR_TAG_PREFIX}flow.`))).toBe(false);
    expect(json(root.attributes[attr.ATTR_OUTPUT])).toEqual({ total: 15, parts: ['reserved', 'notified'] });

    const child = byName(spans, 'flow validate');
    expect(child.attributes).toMatchObject({
      [attr.ATTR_STEP_KIND]: 'flow',
      [attr.ATTR_STEP_KEY]: 'validate',
      [attr.ATTR_STEP_INDEX]: 0,
      [attr.ATTR_DEPTH]: 1,
      [attr.ATTR_FLOW_ID]: 'validate',
    });
    expect(child.attributes[attr.ATTR_EXECUTION_ROOT]).toBeUndefined();
    // Tags belong to the execution: a nested flow's span carries only those of its own context.
    expect(Object.keys(child.attributes).filter((k) => k.startsWith(attr.ATTR_TAG_PREFIX))).toEqual([]);
    expect(child.attributes[attr.ATTR_CONTEXT_ID]).not.toBe(executionId);
    expect(json(child.attributes[attr.ATTR_OUTPUT])).toEqual({ ok: true });

    const price = byName(spans, 'step price');
    expect(price.attributes).toMatchObject({
      [attr.ATTR_STEP_KIND]: 'fn',
      [attr.ATTR_STEP_KEY]: 'price',
      [attr.ATTR_STEP_INDEX]: 1,
      [attr.ATTR_DEPTH]: 1,
    });
    // A fn step runs in its flow's context, which the flow's span names.
    expect(price.attributes[attr.ATTR_CONTEXT_ID]).toBeUndefined();
    expect(json(price.attributes[attr.ATTR_INPUT])).toEqual([3, 5]);
    expect(json(price.attributes[attr.ATTR_OUTPUT])).toBe(15);

    const parallel = byName(spans, 'parallel');
    expect(parallel.attributes).toMatchObject({
      [attr.ATTR_STEP_KIND]: 'parallel',
      [attr.ATTR_STEP_COUNT]: 2,
      [attr.ATTR_STEP_INDEX]: 2,
      [attr.ATTR_DEPTH]: 1,
    });
    expect(json(parallel.attributes[attr.ATTR_OUTPUT])).toEqual({ total: 2, succeeded: 2, failed: 0 });
    // Its members are its children: indexes and depth count from it.
    const members = ['step reserve', 'step notify'].map((n) => byName(spans, n).attributes);
    expect(members.map((a) => [a[attr.ATTR_STEP_INDEX], a[attr.ATTR_DEPTH]])).toEqual([[0, 2], [1, 2]]);
  });

  it('records inputs redacted, and every span as OK with no error', async () => {
    await tracedScope().exec({ flow: checkout, input: order });
    const root = byName(tracing.spans(), 'flow checkout');
    expect(json(root.attributes[attr.ATTR_INPUT])).toEqual({
      sku: 'A-1',
      qty: 3,
      card: '[REDACTED]', // a card key is hidden by default, whatever it holds
      password: '[REDACTED]',
    });
    expect(tracing.spans().every((s) => s.status.code === SpanStatusCode.UNSET)).toBe(true);
  });

  it('marks parallelSettled steps with their kind and settled stats', async () => {
    const settled = flow({ name: 'settled', input: custom<void>(), output: custom<number>() }, async (ctx) => {
      const { stats } = await ctx.parallelSettled([
        ctx.exec({ fn: () => 1, key: 'ok' }),
        ctx.exec({ fn: () => Promise.reject(new Error('nope')), key: 'fails' }),
      ]);
      return stats.failed;
    });
    expect(await tracedScope().exec({ flow: settled, input: undefined })).toBe(1);
    const spans = tracing.spans();
    const step = byName(spans, 'parallel-settled');
    expect(step.attributes[attr.ATTR_STEP_KIND]).toBe('parallel-settled');
    expect(json(step.attributes[attr.ATTR_OUTPUT])).toEqual({ total: 2, succeeded: 1, failed: 1 });
    expect(byName(spans, 'step fails').status.code).toBe(SpanStatusCode.ERROR);
  });

  it('uses the flowId option, the tags option and the capture options', async () => {
    const scope = tracedScope({
      flowId: (d) => `shop/${d.name}`,
      tags: ['tenant'],
      captureData: false,
    });
    await scope.exec({ flow: checkout, input: order });
    const root = byName(tracing.spans(), 'flow checkout');
    expect(root.attributes[attr.ATTR_FLOW_ID]).toBe('shop/checkout');
    expect(root.attributes[`${attr.ATTR_TAG_PREFIX}tenant`]).toBe('acme');
    expect(root.attributes[`${attr.ATTR_TAG_PREFIX}user.id`]).toBeUndefined();
    expect(tracing.spans().some((s) => attr.ATTR_INPUT in s.attributes || attr.ATTR_OUTPUT in s.attributes)).toBe(false);
  });

  it('cuts data to maxDataBytes and marks the attribute truncated', async () => {
    const echo = flow({ name: 'echo', input: custom<string>(), output: custom<string>() }, (_c, s) => s);
    await tracedScope({ maxDataBytes: 256 }).exec({ flow: echo, input: 'x'.repeat(10_000) });
    const span = byName(tracing.spans(), 'flow echo');
    for (const [name, cut] of [
      [attr.ATTR_INPUT, attr.ATTR_INPUT_TRUNCATED],
      [attr.ATTR_OUTPUT, attr.ATTR_OUTPUT_TRUNCATED],
    ] as const) {
      expect(Buffer.byteLength(String(span.attributes[name]))).toBeLessThanOrEqual(256);
      expect(json(span.attributes[name])).toMatch(/^x+…\[truncated\]$/);
      expect(span.attributes[cut]).toBe(true);
    }
  });

  it('declares the time budget from timeoutTag', async () => {
    const quick = flow({ name: 'quick', input: custom<void>(), output: custom<number>(), tags: [timeoutTag(30_000)] }, () => 1);
    await tracedScope().exec({ flow: quick, input: undefined });
    const span = byName(tracing.spans(), 'flow quick');
    expect(span.attributes[attr.ATTR_TIMEOUT_MS]).toBe(30_000);
    expect(Object.keys(span.attributes).filter((k) => k.includes('timeout'))).toEqual([attr.ATTR_TIMEOUT_MS]);
  });
});

describe('createTracingExtension: failures, aborts and timeouts', () => {
  it('marks the failing step and every flow it fails through as ERROR with the exception', async () => {
    const bad = { ...order, qty: 0 };
    await expect(tracedScope().exec({ flow: checkout, input: bad })).rejects.toThrow(RangeError);
    const spans = tracing.spans();
    expect(spans.map((s) => s.name).sort()).toEqual(['flow checkout', 'flow validate']);
    for (const span of spans) {
      expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'quantity must be positive, got 0' });
      expect(span.attributes[attr.ATTR_ERROR_TYPE]).toBe('RangeError');
      const exception = span.events.find((e) => e.name === 'exception');
      expect(exception?.attributes).toMatchObject({
        [attr.ATTR_EXCEPTION_TYPE]: 'RangeError',
        [attr.ATTR_EXCEPTION_MESSAGE]: 'quantity must be positive, got 0',
      });
      expect(String(exception?.attributes?.[attr.ATTR_EXCEPTION_STACKTRACE])).toContain('RangeError');
    }
  });

  it('records a non-Error throw as an ERROR span too', async () => {
    const throwsString = flow({ name: 'str', input: custom<void>(), output: custom<void>() }, async (ctx) => {
      await ctx.exec({ fn: () => Promise.reject('plain failure'), key: 'reject' });
    });
    await expect(tracedScope().exec({ flow: throwsString, input: undefined })).rejects.toBe('plain failure');
    const step = byName(tracing.spans(), 'step reject');
    expect(step.status).toEqual({ code: SpanStatusCode.ERROR, message: 'plain failure' });
  });

  it('records a manual abort as cancelled with its reason', async () => {
    const waits = flow({ name: 'waits', input: custom<void>(), output: custom<string>() }, (ctx) =>
      new Promise<string>((resolve, reject) => {
        ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
        setTimeout(() => resolve('late'), 2_000);
      }),
    );
    const execution = tracedScope().exec({ flow: waits, input: undefined });
    setTimeout(() => execution.abort.abort(new Error('user pressed stop')), 10);
    await expect(execution.result).rejects.toThrow('user pressed stop');
    const span = byName(tracing.spans(), 'flow waits');
    expect(span.attributes).toMatchObject({
      [attr.ATTR_CANCELLED]: true,
      [attr.ATTR_ABORT_REASON]: 'user pressed stop',
      [attr.ATTR_ABORT_KIND]: 'abort',
    });
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
  });

  it('records a timeout, even when the flow ignores the signal and completes', async () => {
    const slow = flow({ name: 'slow', input: custom<void>(), output: custom<string>() }, async () => {
      await new Promise((r) => setTimeout(r, 60));
      return 'done anyway';
    });
    const execution = tracedScope().exec({ flow: slow, input: undefined, timeout: 10 });
    expect(await execution.result).toBe('done anyway');
    const span = byName(tracing.spans(), 'flow slow');
    expect(span.attributes).toMatchObject({
      [attr.ATTR_CANCELLED]: true,
      [attr.ATTR_ABORT_REASON]: 'Flow execution timeout after 10ms',
      [attr.ATTR_ABORT_KIND]: 'timeout',
    });
  });

  it('records a ctx.exec timeout on the child flow', async () => {
    const child = flow({ name: 'child', input: custom<void>(), output: custom<void>() }, (ctx) =>
      new Promise<void>((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))),
    );
    const parent = flow({ name: 'parent', input: custom<void>(), output: custom<void>() }, async (ctx) => {
      await ctx.exec({ flow: child, input: undefined, timeout: 15 });
    });
    await expect(tracedScope().exec({ flow: parent, input: undefined })).rejects.toThrow('Operation timeout after 15ms');
    const span = byName(tracing.spans(), 'flow child');
    expect(span.attributes[attr.ATTR_ABORT_KIND]).toBe('timeout');
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
  });

  it('ends an fn step that outlives its ctx.exec timeout when its caller gets the timeout, marked timed out', async () => {
    let release!: (value: string) => void;
    let finished = false;
    const stuck = () =>
      new Promise<string>((resolve) => (release = resolve)).then((value) => {
        finished = true;
        return value;
      });
    const recovers = flow({ name: 'recovers', input: custom<void>(), output: custom<string>() }, async (ctx) => {
      try {
        return await ctx.exec({ fn: stuck, key: 'stuck', timeout: 10 });
      } catch (error) {
        return `recovered from ${(error as Error).message}`;
      }
    });
    expect(await tracedScope().exec({ flow: recovers, input: undefined })).toBe('recovered from Operation timeout after 10ms');
    // The function is still running, and its step is already over, as its caller saw it.
    expect(finished).toBe(false);
    const step = byName(tracing.spans(), 'step stuck');
    expect(step.status).toEqual({ code: SpanStatusCode.ERROR, message: 'Operation timeout after 10ms' });
    expect(step.attributes).toMatchObject({
      [attr.ATTR_CANCELLED]: true,
      [attr.ATTR_ABORT_REASON]: 'Operation timeout after 10ms',
      [attr.ATTR_ABORT_KIND]: 'timeout',
    });
    expect(step.attributes[attr.ATTR_OUTPUT]).toBeUndefined();
    const root = byName(tracing.spans(), 'flow recovers');
    expect(root.status.code).not.toBe(SpanStatusCode.ERROR);
    // Finishing late changes nothing: the step ended once.
    release('late');
    await new Promise((resolve) => setImmediate(resolve));
    expect(finished).toBe(true);
    expect(tracing.spans().filter((s) => s.name === 'step stuck')).toHaveLength(1);
    expect(byName(tracing.spans(), 'step stuck').attributes[attr.ATTR_OUTPUT]).toBeUndefined();
  });

  it('ends a child flow that ignores its ctx.exec timeout when its caller gets the timeout', async () => {
    let release!: () => void;
    const deaf = flow({ name: 'deaf', input: custom<void>(), output: custom<string>() }, () => new Promise<string>((resolve) => (release = () => resolve('late'))));
    const caller = flow({ name: 'caller', input: custom<void>(), output: custom<string>() }, async (ctx) => {
      try {
        return await ctx.exec({ flow: deaf, input: undefined, timeout: 10 });
      } catch {
        return 'gave up';
      }
    });
    expect(await tracedScope().exec({ flow: caller, input: undefined })).toBe('gave up');
    const child = byName(tracing.spans(), 'flow deaf');
    expect(child.status).toEqual({ code: SpanStatusCode.ERROR, message: 'Operation timeout after 10ms' });
    expect(child.attributes).toMatchObject({ [attr.ATTR_CANCELLED]: true, [attr.ATTR_ABORT_KIND]: 'timeout' });
    release();
  });

  it('keeps an fn step that beats its ctx.exec timeout as it was, output and all', async () => {
    const quick = flow({ name: 'quick-step', input: custom<void>(), output: custom<number>() }, async (ctx) =>
      await ctx.exec({ fn: async () => 42, key: 'answer', timeout: 5_000 }),
    );
    expect(await tracedScope().exec({ flow: quick, input: undefined })).toBe(42);
    const step = byName(tracing.spans(), 'step answer');
    expect(step.status.code).not.toBe(SpanStatusCode.ERROR);
    expect(step.attributes[attr.ATTR_CANCELLED]).toBeUndefined();
    expect(step.attributes[attr.ATTR_OUTPUT]).toBe('42');
  });

  it('marks an fn step with a timeout that its flow’s abort ended first as an abort, not a timeout', async () => {
    let stepRuns!: () => void;
    const running = new Promise<void>((resolve) => (stepRuns = resolve));
    const waits = flow({ name: 'aborted-flow', input: custom<void>(), output: custom<void>() }, async (ctx) => {
      await ctx.exec({ fn: () => (stepRuns(), new Promise(() => {})), key: 'forever', timeout: 60_000 });
    });
    const execution = tracedScope().exec({ flow: waits, input: undefined });
    await running;
    execution.abort.abort(new Error('user pressed stop'));
    await expect(execution.result).rejects.toThrow('user pressed stop');
    const step = byName(tracing.spans(), 'step forever');
    expect(step.attributes).toMatchObject({ [attr.ATTR_CANCELLED]: true, [attr.ATTR_ABORT_REASON]: 'user pressed stop', [attr.ATTR_ABORT_KIND]: 'abort' });
  });
});

describe('createTracingExtension: placement', () => {
  it('puts a flow under an already active span and keeps its own execution', async () => {
    const outer = tracing.tracer.startSpan('HTTP POST /orders');
    await trace.getTracer('app').startActiveSpan('HTTP POST /orders', async (request) => {
      await tracedScope().exec({ flow: validate, input: order });
      request.end();
    });
    outer.end();
    const spans = tracing.spans();
    const request = spans.find((s) => s.name === 'HTTP POST /orders' && s.instrumentationScope.name === 'app')!;
    const flowSpan = byName(spans, 'flow validate');
    expect(parentOf(spans, flowSpan)).toBe(request);
    expect(flowSpan.attributes[attr.ATTR_EXECUTION_ROOT]).toBe(true);
    expect(flowSpan.attributes[attr.ATTR_DEPTH]).toBe(0);
  });

  it('gives concurrent executions of one flow independent spans and ids', async () => {
    const scope = tracedScope();
    await Promise.all([1, 2, 3].map((qty) => scope.exec({ flow: checkout, input: { ...order, qty } })));
    const roots = tracing.spans().filter((s) => s.name === 'flow checkout');
    const ids = new Set(roots.map((s) => s.attributes[attr.ATTR_EXECUTION_ID]));
    expect(ids.size).toBe(3);
    for (const root of roots) {
      const id = root.attributes[attr.ATTR_EXECUTION_ID];
      const members = tracing.spans().filter((s) => s.attributes[attr.ATTR_EXECUTION_ID] === id);
      expect(members).toHaveLength(6);
      const parallel = members.find((s) => s.name === 'parallel')!;
      for (const s of members) {
        const expected = s === root ? undefined : s.name === 'step reserve' || s.name === 'step notify' ? parallel : root;
        if (expected) expect(parentOf(tracing.spans(), s)).toBe(expected);
      }
      const qty = json(root.attributes[attr.ATTR_INPUT]).qty;
      expect(json(root.attributes[attr.ATTR_OUTPUT]).total).toBe(qty * 5);
    }
  });

  it('traces a standalone execution context from creation to close, with its execs and lifecycle', async () => {
    const scope = tracedScope();
    const ctx = scope.createExecution({ name: 'nightly-import', metadata: { batch: 7, source: { bucket: 'b1' } } });
    await ctx.exec({ fn: () => 'rows', key: 'load' });
    await ctx.exec({ flow: validate, input: order });
    await ctx.close();
    const spans = tracing.spans();
    const span = byName(spans, 'nightly-import');
    expect(span.attributes).toMatchObject({
      [attr.ATTR_STEP_KIND]: 'context',
      [attr.ATTR_EXECUTION_ROOT]: true,
      [attr.ATTR_EXECUTION_ID]: ctx.id,
      [attr.ATTR_FLOW_ID]: 'nightly-import',
      [`${attr.ATTR_META_PREFIX}batch`]: 7,
    });
    expect(json(span.attributes[`${attr.ATTR_META_PREFIX}source`])).toEqual({ bucket: 'b1' });
    expect(parentOf(spans, byName(spans, 'step load'))).toBe(span);
    expect(parentOf(spans, byName(spans, 'flow validate'))).toBe(span);
    expect(byName(spans, 'flow validate').attributes[attr.ATTR_EXECUTION_ID]).toBe(ctx.id);
    expect(span.events.map((e) => [e.name, e.attributes?.[attr.ATTR_CLOSE_MODE]])).toEqual([
      [attr.EVENT_CONTEXT_CLOSING, 'graceful'],
      [attr.EVENT_CONTEXT_CLOSED, 'graceful'],
    ]);
  });

  it('ends a standalone context span on end(), and records an abort close', async () => {
    const scope = tracedScope();
    const ended = scope.createExecution({ name: 'ended' });
    ended.end();
    expect(byName(tracing.spans(), 'ended').ended).toBe(true);

    const aborted = scope.createExecution({ name: 'aborted' });
    const work = aborted.exec({
      fn: () => new Promise((_r, reject) => aborted.signal.addEventListener('abort', () => reject(aborted.signal.reason))),
      key: 'until-aborted',
    });
    work.catch(() => {});
    await aborted.close({ mode: 'abort' }).catch(() => {});
    const span = byName(tracing.spans(), 'aborted');
    expect(span.events.map((e) => e.attributes?.[attr.ATTR_CLOSE_MODE])).toEqual(['abort', 'abort']);
    expect(span.attributes[attr.ATTR_CANCELLED]).toBe(true);
  });
});
