import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { SHOTS } from './support/shots.js';
import { waiting } from './support/stack.js';
import { browserSuite } from './support/suite.js';

/**
 * The flow list (issue 17): execution counts follow the live stream; deleted flows are listed
 * apart behind a toggle with their history reachable, and one that runs again stays deleted
 * but says so.
 */

const suite = browserSuite({
  seed: async (s) => {
    await s.order({ sku: 'SKU-1', qty: 1 });
    await s.order({ sku: 'SKU-2', qty: 2 });
  },
  viewport: { width: 1280, height: 800 },
});

const flowButton = (page: Page, flowId: string) => page.locator(`flowtrace-flow-list button[data-flow="${flowId}"]`);

describe('flowtrace-flow-list', () => {
  it('updates execution counts from the live stream', async () => {
    const page = await suite.newPage();
    await page.goto(`${suite.host.origin}/`);
    await page.evaluate((api) => {
      const list = document.createElement('flowtrace-flow-list');
      list.setAttribute('api-base', api);
      document.body.append(list);
    }, suite.stack.url);
    await expect.poll(() => flowButton(page, 'checkout').locator('[part=count]').textContent()).toBe('(2)');
    const polls = await page.evaluate(() => performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/flows')).length);
    await suite.stack.order({ sku: 'SKU-3', qty: 3 });
    await suite.stack.flush();
    await expect.poll(() => flowButton(page, 'checkout').locator('[part=count]').textContent(), { timeout: 5_000 }).toBe('(3)');
    // Re-read because the stream said something changed: one burst, few reads.
    const reads = await page.evaluate(() => performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/flows')).length);
    expect(reads - polls).toBeLessThanOrEqual(3);
    await page.close();
  });

  it('lists deleted flows apart behind a toggle, their history reachable, and says when one ran again', async () => {
    await suite.stack.scope.exec({ flow: waiting, input: { label: 'old', until: Promise.resolve() } }).result;
    await suite.stack.flush();
    const response = await fetch(`${suite.stack.url}/api/flows/waiting`, { method: 'DELETE' });
    expect(response.status).toBe(204);

    const page = await suite.newPage();
    await page.goto(`${suite.stack.url}/`);
    await expect.poll(() => flowButton(page, 'checkout').count()).toBe(1);
    expect(await flowButton(page, 'waiting').count()).toBe(0);
    await page.locator('flowtrace-flow-list [part=deleted-toggle] input').check();
    const deleted = page.locator('flowtrace-flow-list [part=deleted]');
    await expect.poll(() => deleted.locator('button[data-flow="waiting"]').count()).toBe(1);
    expect(await deleted.locator('h3').textContent()).toBe('Deleted flows');

    await deleted.locator('button[data-flow="waiting"]').click();
    await expect.poll(() => page.locator('flowtrace-execution-item [part=preview]').first().textContent()).toContain('old');
    expect(new URL(page.url()).searchParams.get('flow')).toBe('waiting');

    // It runs again: recorded and counted, still deleted, and the list says it ran again.
    await suite.stack.scope.exec({ flow: waiting, input: { label: 'new', until: Promise.resolve() } }).result;
    await suite.stack.flush();
    const button = deleted.locator('button[data-flow="waiting"]');
    await expect.poll(() => button.textContent(), { timeout: 5_000 }).toContain('ran again');
    expect(await button.locator('[part=count]').textContent()).toBe('(2)');
    expect(await button.getAttribute('aria-label')).toBe('waiting (2) · ran again: 2 executions, last fulfilled, deleted since');
    expect(await page.locator('flowtrace-flow-list [part=flows] button[data-flow="waiting"]').count()).toBe(0);
    await page.screenshot({ path: `${SHOTS}deleted-flows.png` });
    await page.close();
  });
});
