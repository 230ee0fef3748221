import { describe, expect, it } from 'vitest';
import { getJson, startCollector } from './support/collector.js';
import { checkoutSpans, jsonBody, memoryProvider } from './support/traced.js';

const DAY = 86_400_000;

describe('retention (--retain-days)', () => {
  it('deletes executions that started more than N days ago, with their spans and counts, and keeps the rest', async () => {
    const provider = memoryProvider();
    const old = await checkoutSpans([{ sku: 'old', qty: 1 }], provider);
    const startOf = (spans: typeof old) => Math.min(...spans.map((s) => s.startTime[0] * 1000 + s.startTime[1] / 1e6));
    const oldStart = startOf(old);
    let now = oldStart;
    const running = await startCollector({ retainDays: 2, now: () => now });
    try {
      const post = async (body: Buffer) =>
        (await fetch(`${running.url}/v1/traces`, { method: 'POST', body, headers: { 'content-type': 'application/json' } })).status;
      expect(await post(jsonBody(old))).toBe(200);
      const oldId = old[0]!.attributes['flowtrace.execution.id'] as string;
      const traceId = old[0]!.spanContext().traceId;

      now = oldStart + 2 * DAY - 1;
      expect(await running.collector.retain()).toBe(0);
      // A second execution that starts a little later, then a clock that keeps only that one.
      while (Date.now() < oldStart + 10) await new Promise((resolve) => setTimeout(resolve, 2));
      const recent = await checkoutSpans([{ sku: 'recent', qty: 1 }], provider);
      expect(await post(jsonBody(recent))).toBe(200);
      const recentId = recent[0]!.attributes['flowtrace.execution.id'] as string;
      now = startOf(recent) + 2 * DAY - 1;
      expect(await running.collector.retain()).toBe(1);

      expect((await getJson(`${running.url}/api/executions/${oldId}`)).status).toBe(404);
      expect((await getJson(`${running.url}/api/traces/${traceId}`)).status).toBe(404);
      expect((await getJson(`${running.url}/api/executions/${recentId}`)).status).toBe(200);
      const flows = (await getJson(`${running.url}/api/flows`)).body.items;
      expect(flows).toMatchObject([{ flowId: 'checkout', executionCount: 1 }]);
    } finally {
      await running.close();
      await provider.provider.shutdown();
    }
  });
});
