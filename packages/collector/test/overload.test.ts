import { history } from './support/history.js';
import { startTracing, type TracingHandle } from '@flowtrace/node';
import { createTracingExtension } from '@flowtrace/tracer';
import { createScope, custom, flow } from '@pumped-fn/core-next';
import { afterAll, describe, expect, it } from 'vitest';
import { getJson, startCollector } from './support/collector.js';
import { RawClient } from './support/raw-http.js';

const job = flow({ name: 'burst', input: custom<{ sender: number; n: number }>(), output: custom<number>() }, async (ctx, input) => {
  await ctx.exec({ key: 'a', fn: () => input.n });
  await ctx.exec({ key: 'b', fn: () => input.n * 2 });
  return input.n;
});

let running: Awaited<ReturnType<typeof startCollector>> | undefined;
const handles: TracingHandle[] = [];
afterAll(async () => {
  for (const handle of handles) await handle.shutdown();
  await running?.close();
});

describe('overload', () => {
  it('answers 503 with Retry-After when senders outpace it, and the exporters’ retries deliver every execution exactly once', async () => {
    // Room to read 1 MiB of bodies at once, nearly all held by a slow sender until the collector
    // has turned the others away: for a while, it takes spans slower than six services send them.
    running = await startCollector({ maxConcurrentIngests: 1, maxBodyBytes: 1024 * 1024, maxReadingBytes: 1024 * 1024 });
    const slow = await RawClient.open(running.url);
    await slow.startChunked();
    await slow.chunk(' '.repeat(1024 * 1024 - 8 * 1024));
    const health = async () => (await getJson(`${running!.url}/healthz`)).body.ingest;
    await expect.poll(async () => (await health()).readingBytes).toBe(1024 * 1024 - 8 * 1024);
    const hog = (async () => {
      await expect.poll(async () => (await health()).busy, { timeout: 30_000 }).toBeGreaterThan(0);
      await slow.finish();
      expect((await slow.response()).status).toBe(200);
      slow.close();
    })();
    const senders = 6;
    const perSender = 400;
    for (let i = 0; i < senders; i++) {
      handles.push(
        startTracing({
          serviceName: `burst-${i}`,
          collectorUrl: running.url,
          register: false,
          collectorBatch: { scheduledDelayMillis: 10, maxExportBatchSize: 256 },
        }),
      );
    }
    await Promise.all(
      handles.map(async (handle, sender) => {
        const scope = createScope({ extensions: [createTracingExtension({ tracer: handle.provider.getTracer('burst') })] });
        // Ten at a time per sender, so spans pile up faster than one request at a time can store.
        for (let n = 0; n < perSender; n += 10) {
          await Promise.all(Array.from({ length: 10 }, (_, k) => scope.exec({ flow: job, input: { sender, n: n + k } })));
        }
        await handle.forceFlush();
      }),
    );
    const { stats } = running.collector;
    const store = history(running.collector);
    await hog;
    await expect.poll(async () => (await store.listExecutions({ flowId: 'burst', page: 1, limit: 1 })).total, { timeout: 60_000, interval: 250 }).toBe(senders * perSender);
    expect(stats.busy).toBeGreaterThan(0);
    expect(stats.failed).toBe(0);
    expect((await store.listExecutions({ flowId: 'burst', page: 1, limit: 1, status: 'fulfilled' })).total).toBe(senders * perSender);
    // Exactly once: one record per (sender, n).
    const seen = new Set<string>();
    for (let page = 1; page <= (senders * perSender) / 100; page++) {
      for (const item of (await store.listExecutions({ flowId: 'burst', page, limit: 100 })).items) {
        const record = (await store.getExecution(item.id))!;
        seen.add(`${record.serviceName}/${JSON.stringify(record.initialParams)}`);
      }
    }
    expect(seen.size).toBe(senders * perSender);
  }, 90_000);
});
