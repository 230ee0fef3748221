import { history } from './support/history.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTracing } from '@flowtrace/node';
import { createTracingExtension } from '@flowtrace/tracer';
import { freePort } from '@flowtrace/test-servers';
import { createScope, custom, flow } from '@pumped-fn/core-next';
import { describe, expect, it } from 'vitest';
import { createCollector, type Collector } from '../src/app.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const work = flow({ name: 'steady', input: custom<{ n: number }>(), output: custom<number>() }, async (ctx, { n }) => {
  await ctx.exec({ key: 'step', fn: () => sleep(5) });
  return n;
});

describe('a collector outage', () => {
  it('loses no execution when the collector is down for 5 seconds and comes back (startTracing defaults)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flowtrace-outage-'));
    const db = join(dir, 'flowtrace.db');
    const port = await freePort();
    const start = async () => {
      const collector = createCollector({ db, reconcileIntervalMs: 0, log: () => {} });
      await collector.listen(port, '127.0.0.1');
      return collector;
    };
    let collector: Collector = await start();
    const tracing = startTracing({ serviceName: 'outage', collectorUrl: `http://127.0.0.1:${port}` });
    const scope = createScope({ extensions: [createTracingExtension()] });
    try {
      let sent = 0;
      let running = true;
      const load = (async () => {
        while (running) {
          await scope.exec({ flow: work, input: { n: sent++ } });
          await sleep(40);
        }
      })();
      await sleep(1500);
      await collector.close();
      const sentWhenDown = sent;
      await sleep(5000);
      const sentDuringOutage = sent - sentWhenDown;
      collector = await start();
      await sleep(1500);
      running = false;
      await load;
      await tracing.forceFlush();
      expect(sentDuringOutage).toBeGreaterThan(50);

      // The exporter retries what failed during the outage; every execution arrives once.
      await expect
        .poll(async () => (await history(collector).listExecutions({ flowId: 'steady', page: 1, limit: 1 })).total, { timeout: 30_000, interval: 250 })
        .toBe(sent);
      const all = await history(collector).listExecutions({ flowId: 'steady', page: 1, limit: 100, status: 'fulfilled' });
      expect(all.total).toBe(sent);
      const previews = new Set<string>();
      for (let page = 1; page <= Math.ceil(sent / 100); page++) {
        for (const item of (await history(collector).listExecutions({ flowId: 'steady', page, limit: 100 })).items) previews.add(item.preview);
      }
      expect(previews.size).toBe(sent);
    } finally {
      await tracing.shutdown();
      await collector.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
