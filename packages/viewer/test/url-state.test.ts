import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { browserSuite } from './support/suite.js';

/**
 * State in the URL (issue 17): with `url-state`, the flow, page, filters and open execution live
 * in the query string, survive a reload, and back/forward step through them; without it the tab
 * never touches the URL. The collector's own page uses the same mechanism.
 */

const suite = browserSuite({
  seed: async (s) => {
    // Twelve orders, SKU-0 … SKU-11; SKU-4 and SKU-9 fail.
    for (let i = 0; i < 12; i++) await s.order({ sku: `SKU-${i}`, qty: [4, 9].includes(i) ? 0 : i + 1 });
  },
});

const rows = (page: Page) => page.locator('flowtrace-execution-item');
const previews = (page: Page) => page.locator('flowtrace-execution-item [part=preview]').allTextContents();
const header = (page: Page) => page.locator('flowtrace-execution-detail [part=header]');
const placeholder = (page: Page) => page.locator('flowtrace-execution-detail [part=placeholder]');
const query = (page: Page) => new URL(page.url()).searchParams;

describe('url-state', () => {
  it('keeps page, filters and the open execution in the URL; reload and back/forward restore them', async () => {
    const page = await suite.newPage();
    await page.goto(`${suite.host.origin}/?flow-id=checkout&page-size=5&url-state=ft`);
    await expect.poll(() => rows(page).count()).toBe(5);
    await expect.poll(() => query(page).get('ft-flow')).toBe('checkout');
    // The host's own parameters are left alone.
    expect(query(page).get('page-size')).toBe('5');

    await page.locator('flowtrace-pagination button[aria-label="Page 2"]').click();
    await expect.poll(() => query(page).get('ft-page')).toBe('2');
    await expect.poll(() => previews(page)).toEqual(['sku: SKU-6', 'sku: SKU-5', 'sku: SKU-4', 'sku: SKU-3', 'sku: SKU-2']);

    await page.locator('[part=filter-status] input[value=error]').check();
    await expect.poll(() => previews(page)).toEqual(['sku: SKU-9', 'sku: SKU-4']);
    expect(query(page).get('ft-status')).toBe('error');
    expect(query(page).has('ft-page')).toBe(false);

    await rows(page).nth(1).click();
    const id = await rows(page).nth(1).getAttribute('data-id');
    await expect.poll(() => query(page).get('ft-execution')).toBe(id);
    await expect.poll(() => header(page).textContent()).toContain(id!);

    await page.reload();
    await expect.poll(() => header(page).textContent()).toContain(id!);
    expect(await previews(page)).toEqual(['sku: SKU-9', 'sku: SKU-4']);
    expect(await page.locator('[part=filter-status] input[value=error]').isChecked()).toBe(true);

    await page.goBack();
    await expect.poll(() => placeholder(page).textContent()).toContain('Select an execution');
    await page.goBack();
    await expect.poll(() => previews(page)).toEqual(['sku: SKU-6', 'sku: SKU-5', 'sku: SKU-4', 'sku: SKU-3', 'sku: SKU-2']);
    expect(await page.locator('[part=filter-status] input[value=error]').isChecked()).toBe(false);
    expect(await page.locator('flowtrace-pagination [aria-current=page]').textContent()).toBe('2');
    await page.goForward();
    await expect.poll(() => previews(page)).toEqual(['sku: SKU-9', 'sku: SKU-4']);
    await page.goForward();
    await expect.poll(() => header(page).textContent()).toContain(id!);
    await page.close();
  });

  it('leaves the URL to the host without the attribute', async () => {
    const page = await suite.newPage();
    await page.goto(`${suite.host.origin}/?flow-id=checkout&page-size=5`);
    await expect.poll(() => rows(page).count()).toBe(5);
    const before = page.url();
    const entries = await page.evaluate(() => history.length);
    await page.locator('flowtrace-pagination button[aria-label="Page 2"]').click();
    await rows(page).first().click();
    await expect.poll(() => header(page).count()).toBe(1);
    expect(page.url()).toBe(before);
    expect(await page.evaluate(() => history.length)).toBe(entries);
    await page.close();
  });
});

describe("the collector's page", () => {
  it('keeps the flow and execution in the URL through the tab, and follows back/forward', async () => {
    const page = await suite.newPage();
    await page.goto(`${suite.stack.url}/`);
    await expect.poll(() => query(page).get('flow')).toBe('checkout');
    await rows(page).first().click();
    const id = await rows(page).first().getAttribute('data-id');
    await expect.poll(() => query(page).get('execution')).toBe(id);
    expect(new URL(page.url()).hash).toBe('');
    await page.reload();
    await expect.poll(() => header(page).textContent()).toContain(id!);
    await page.goBack();
    await expect.poll(() => placeholder(page).textContent()).toContain('Select an execution');
    await page.close();
  });
});
