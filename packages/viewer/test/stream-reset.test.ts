import { describe, expect, it } from 'vitest';
import { browserSuite } from './support/suite.js';

/**
 * The stream's `reset` event (issue 17): when the collector cannot replay what changed since
 * the client's Last-Event-ID, it says so and the tab reads what it shows again at once, instead
 * of going on with changes missing. Provoking a real one takes 10,000 missed changes or a
 * replaced database, and the reconnect that follows reloads too; so the first stream response
 * here is replaced by one in the collector's wire form, and the test checks the reads come
 * before that reconnect. The rest is the real stack.
 */

const suite = browserSuite({
  seed: async (s) => {
    await s.order({ sku: 'SKU-1', qty: 1 });
  },
});

describe('the reset event', () => {
  it('makes the tab read the list and the open execution again at once', async () => {
    const execution = (await suite.stack.collector.engine.listExecutions({ flowId: 'checkout', offset: 0, limit: 1 })).executions[0]!;
    const page = await suite.browser.newPage();
    page.setDefaultTimeout(10_000);
    const seen: string[] = [];
    page.on('request', (request) => {
      const path = new URL(request.url()).pathname;
      if (path === '/api/stream') seen.push('stream');
      else if (path.endsWith(`/executions/${execution.id}`)) seen.push('detail');
      else if (path.endsWith('/executions')) seen.push('list');
    });
    let first = true;
    await page.route(`${suite.stack.url}/api/stream*`, async (route) => {
      if (!first) return route.continue();
      first = false;
      await route.fulfill({
        status: 200,
        headers: { 'content-type': 'text/event-stream', 'access-control-allow-origin': suite.host.origin },
        body: 'id: 1\nevent: reset\ndata: {"reason":"more than 10000 changes were missed"}\n\n',
      });
    });
    await page.goto(`${suite.host.origin}/?flow-id=checkout&execution-id=${execution.id}`);
    await expect.poll(() => seen.filter((s) => s === 'stream').length, { timeout: 10_000 }).toBe(2);
    // Between the reset and the reconnect (half a second later), the tab has read both again.
    const between = seen.slice(seen.indexOf('stream') + 1, seen.lastIndexOf('stream'));
    expect(between).toContain('detail');
    expect(between).toContain('list');
    await page.close();
  });
});
