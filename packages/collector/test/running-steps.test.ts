import { afterAll, describe, expect, it } from 'vitest';
import { createCollector } from '../src/app.js';
import { timeoutTag } from '@flowtrace/tracer';
import { custom, flow } from '@pumped-fn/core-next';
import { nanosToMillis, type Span } from '../src/otlp/span.js';
import { history } from './support/history.js';
import { memoryProvider, normalized } from './support/traced.js';

/**
 * Steps that are still running, and the step blamed when an execution fails: the real tracer's
 * spans and start markers, through the collector's rules, read back as the API serves them.
 */
const traced = memoryProvider('shop', 'instance-a');
afterAll(() => traced.provider.shutdown());

function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** A flow whose third step waits until the test lets it go. */
function hangingFlow() {
  const entered = deferred();
  const release = deferred();
  const fulfil = flow(
    { name: 'fulfil', input: custom<{ orderId: string }>(), output: custom<{ shipped: boolean }>(), tags: [timeoutTag(30_000)] },
    async (ctx, input) => {
      await ctx.exec({ fn: () => ({ stock: 3 }), key: 'check-stock' });
      await ctx.exec({ fn: () => ({ reserved: true }), key: 'reserve' });
      await ctx.exec({
        fn: async (orderId: string) => {
          entered.resolve();
          await release.promise;
          return { label: `label-${orderId}` };
        },
        params: [input.orderId],
        key: 'print-label',
      });
      await ctx.exec({ fn: () => ({ notified: true }), key: 'notify' });
      return { shipped: true };
    },
  );
  return { fulfil, entered: entered.promise, release: () => release.resolve() };
}

const rootOf = (spans: Span[]) => spans.find((s) => s.attributes['flowtrace.execution.root'] === true)!;
const byKey = (spans: Span[], key: string) => spans.find((s) => s.attributes['flowtrace.step.key'] === key && !s.attributes['flowtrace.marker']);

describe('running steps', () => {
  it('shows a hung step running, then blames it when the budget runs out', async () => {
    const { fulfil, entered, release } = hangingFlow();
    traced.exporter.reset();
    const run = traced.scope.exec({ flow: fulfil, input: { orderId: 'A-17' } });
    await entered;

    const sofar = normalized(traced.exporter.getFinishedSpans());
    const id = rootOf(sofar).attributes['flowtrace.execution.id'] as string;
    const startedAt = nanosToMillis(rootOf(sofar).startTimeUnixNano);
    let now = startedAt + 5_000;
    const collector = createCollector({ db: ':memory:', now: () => now, reconcileIntervalMs: 0, log: () => {} });
    const store = history(collector);
    const changes = await store.ingest(sofar, now);

    // Stage 1: two steps done, the third running with its input; the list names it.
    const pending = (await store.getExecution(id))!;
    expect(pending.status).toBe('pending');
    expect(pending.nodes.map((n) => [n.key, n.status])).toEqual([
      ['check-stock', 'fulfilled'],
      ['reserve', 'fulfilled'],
      ['print-label', 'running'],
    ]);
    const hung = pending.nodes[2]!;
    expect(hung.input).toEqual(['A-17']);
    expect(hung.endedAt).toBeUndefined();
    expect(hung.durationMs).toBeUndefined();
    expect(pending.nodeCount).toBe(3);
    const row = changes.at(-1)!.item;
    expect(row.runningStep).toMatchObject({ id: hung.id, name: hung.name, startedAt: hung.startedAt });
    expect(row.endedAt).toBeUndefined();

    // Stage 2: the 30 s budget runs out; the step that hung is the one blamed, ended then.
    now = startedAt + 30_000;
    const [timedOut] = await collector.reconcile();
    expect(timedOut!.item).toMatchObject({ status: 'error', errorKind: 'timeout', durationMs: 30_000 });
    expect(timedOut!.item.runningStep).toBeUndefined();
    const decided = (await store.getExecution(id))!;
    expect(decided.errorInfo).toMatchObject({ nodeId: hung.id, nodeName: hung.name, type: 'timeout' });
    expect(decided.durationMs).toBe(30_000);
    expect(Date.parse(decided.endedAt!)).toBe(Math.floor(startedAt + 30_000));
    const marked = decided.nodes.find((n) => n.id === hung.id)!;
    expect(marked).toMatchObject({ status: 'error', error: { type: 'timeout', message: 'Timed out after 30 s' } });
    expect(Date.parse(marked.endedAt!)).toBe(Math.floor(startedAt + 30_000));

    // Stage 3: the step and the execution end. Their spans decide now: by the tracer's clock
    // (not the test's) the execution ended well within its budget.
    release();
    await run.result;
    await store.ingest(normalized(traced.exporter.getFinishedSpans()), now + 1_000);
    const late = (await store.getExecution(id))!;
    expect(late.status).toBe('fulfilled');
    expect(late.durationMs).toBeLessThan(30_000);
    expect(late.nodes.map((n) => [n.key, n.status])).toEqual([
      ['check-stock', 'fulfilled'],
      ['reserve', 'fulfilled'],
      ['print-label', 'fulfilled'],
      ['notify', 'fulfilled'],
    ]);
    expect(late.nodeCount).toBe(4);
    await collector.close();
  });

  it('marks the running step interrupted at the moment the service restarted', async () => {
    const { fulfil, entered, release } = hangingFlow();
    traced.exporter.reset();
    const run = traced.scope.exec({ flow: fulfil, input: { orderId: 'B-2' } });
    await entered;
    const sofar = normalized(traced.exporter.getFinishedSpans());
    const root = rootOf(sofar);
    const id = root.attributes['flowtrace.execution.id'] as string;
    const restartAt = nanosToMillis(root.startTimeUnixNano) + 2_000;
    const store = history(createCollector({ db: ':memory:', reconcileIntervalMs: 0, log: () => {} }));
    await store.ingest(sofar, restartAt - 1_000);
    const instanceStart: Span = {
      ...root,
      spanId: 'b'.repeat(16),
      parentSpanId: undefined,
      name: 'flowtrace instance-start',
      startTimeUnixNano: `${BigInt(restartAt) * 1_000_000n}`,
      endTimeUnixNano: `${BigInt(restartAt) * 1_000_000n}`,
      attributes: { 'flowtrace.marker': 'instance-start' },
      resource: { ...root.resource, 'service.instance.id': 'instance-b' },
    };
    const [change] = await store.ingest([instanceStart], restartAt + 10);
    expect(change!.item).toMatchObject({ status: 'error', errorKind: 'interrupted', durationMs: 2_000 });
    const record = (await store.getExecution(id))!;
    const step = record.nodes.find((n) => n.key === 'print-label')!;
    expect(record.errorInfo?.nodeId).toBe(step.id);
    expect(step).toMatchObject({ status: 'error', error: { type: 'interrupted' } });
    expect(Date.parse(step.endedAt!)).toBe(restartAt);
    release();
    await run.result;
    await store.close();
  });
});

describe('the step blamed for a failure', () => {
  const lookup = flow({ name: 'lookup', input: custom<string>(), output: custom<string | null>() }, async (ctx, sku) => {
    try {
      // Fails deep inside, and is caught: not why the execution failed.
      return await ctx.exec({ fn: () => Promise.reject(new Error(`cache miss for ${sku}`)), key: 'cache' });
    } catch {
      return null;
    }
  });
  const order = flow({ name: 'order', input: custom<string>(), output: custom<void>() }, async (ctx, sku) => {
    await ctx.exec({ flow: lookup, input: sku, key: 'lookup' });
    try {
      await ctx.exec({ fn: () => Promise.reject(new Error('first attempt refused')), key: 'charge-1' });
    } catch {
      await ctx.exec({ fn: () => Promise.reject(new Error('card declined')), key: 'charge-2' });
    }
  });

  it('follows the error that reached the execution, not the deepest or earliest failure', async () => {
    traced.exporter.reset();
    await traced.scope.exec({ flow: order, input: 'sku-9' }).result.catch(() => undefined);
    const spans = normalized(traced.exporter.getFinishedSpans());
    const id = rootOf(spans).attributes['flowtrace.execution.id'] as string;
    // Any delivery order gives the same blame.
    for (const batch of [spans, [...spans].reverse()]) {
      const store = history(createCollector({ db: ':memory:', reconcileIntervalMs: 0, log: () => {} }));
      await store.ingest(batch);
      const record = (await store.getExecution(id))!;
      expect(record.errorInfo).toMatchObject({ nodeId: byKey(spans, 'charge-2')!.spanId, message: 'card declined' });
      // The caught failures stay visible as failed steps.
      expect(record.nodes.filter((n) => n.status === 'error').map((n) => n.key)).toEqual(['cache', 'charge-1', 'charge-2']);
      await store.close();
    }
  });

  it('blames a step that ran out of its ctx.exec timeout, ended when its flow got the timeout', async () => {
    const release = deferred();
    const ship = flow({ name: 'ship', input: custom<void>(), output: custom<void>() }, async (ctx) => {
      await ctx.exec({ fn: () => ({ ok: true }), key: 'pack' });
      await ctx.exec({ fn: () => release.promise, key: 'courier', timeout: 20 });
    });
    traced.exporter.reset();
    await expect(traced.scope.exec({ flow: ship, input: undefined }).result).rejects.toThrow('Operation timeout after 20ms');
    // The courier call is still waiting; its step is over as the flow saw it.
    const spans = normalized(traced.exporter.getFinishedSpans());
    const id = rootOf(spans).attributes['flowtrace.execution.id'] as string;
    const store = history(createCollector({ db: ':memory:', reconcileIntervalMs: 0, log: () => {} }));
    await store.ingest(spans);
    const record = (await store.getExecution(id))!;
    const courier = record.nodes.find((n) => n.key === 'courier')!;
    expect(courier.status).toBe('error');
    expect(record.errorInfo).toMatchObject({ nodeId: byKey(spans, 'courier')!.spanId, message: 'Operation timeout after 20ms' });
    // The SDK anchors each span's clock to Date.now() at its start (whole milliseconds), so the
    // times of two spans can disagree by up to 1 ms.
    expect(Date.parse(courier.endedAt!)).toBeLessThanOrEqual(Date.parse(record.endedAt!) + 1);
    release.resolve();
    await store.close();
  });
});
