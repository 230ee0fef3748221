import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { SHOTS } from './support/shots.js';
import { browserSuite } from './support/suite.js';

/**
 * The filter bar (issue 17): several statuses at once, a date range (presets and custom) read as
 * `from`/`to`, a debounced search over parameters (`q`, from 3 characters), the count of active
 * filters and a reset; an empty filtered list says so, unlike a flow that never ran.
 */

const suite = browserSuite({
  seed: async (s) => {
    // Six orders, SKU-0 … SKU-5; SKU-2 fails.
    for (let i = 0; i < 6; i++) await s.order({ sku: `SKU-${i}`, qty: i === 2 ? 0 : i + 1 });
  },
});

/** The tab on checkout, with every list request the tab sends kept (as URLSearchParams). */
async function openList(): Promise<{ page: Page; queries: URLSearchParams[] }> {
  const page = await suite.newPage();
  const queries: URLSearchParams[] = [];
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (url.pathname.endsWith('/executions')) queries.push(url.searchParams);
  });
  await page.goto(`${suite.host.origin}/?flow-id=checkout`);
  await expect.poll(() => rows(page).count()).toBe(6);
  return { page, queries };
}

const rows = (page: Page) => page.locator('flowtrace-execution-item');
const previews = (page: Page) => page.locator('flowtrace-execution-item [part=preview]').allTextContents();
const count = (page: Page) => page.locator('[part=filter-count]').textContent();

describe('the filter bar', () => {
  it('filters by several statuses at once and counts the active filters', async () => {
    const { page, queries } = await openList();
    expect(await count(page)).toBe('No filters');
    await page.locator('[part=filter-status] input[value=error]').check();
    await expect.poll(() => previews(page)).toEqual(['sku: SKU-2']);
    expect(await count(page)).toBe('1 filter');
    // The keyboard reaches the status box before it and ticks it.
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Space');
    await expect.poll(() => rows(page).count()).toBe(6);
    expect(queries.at(-1)?.get('status')).toBe('fulfilled,error');
    expect(await page.locator('[part=count]').textContent()).toBe('6 executions match');
    await page.close();
  });

  it('searches the parameters once the reader pauses, from 3 characters, with a hint below that', async () => {
    const { page, queries } = await openList();
    const search = page.locator('[part=search]');
    await search.pressSequentially('SK');
    await expect.poll(() => page.locator('[part=search-hint]').textContent()).toBe('Type at least 3 characters to search.');
    expect(await page.locator('[part=search-hint]').isVisible()).toBe(true);
    await search.pressSequentially('U-3');
    await expect.poll(() => previews(page)).toEqual(['sku: SKU-3']);
    expect(await page.locator('[part=search-hint]').isVisible()).toBe(false);
    // Debounced: one request for the whole word, none for the short text (the collector answers 400 below 3).
    expect(queries.filter((q) => q.has('q')).map((q) => q.get('q'))).toEqual(['SKU-3']);
    expect(await count(page)).toBe('1 filter');
    await page.close();
  });

  it('narrows by a date range, tells an empty filtered list from a flow that never ran, and resets', async () => {
    const { page, queries } = await openList();
    await page.locator('[part=filter-range]').selectOption('15m');
    await expect.poll(() => queries.at(-1)?.get('from') ?? null).not.toBeNull();
    const from = Date.parse(queries.at(-1)!.get('from')!);
    expect(Math.abs(Date.now() - 15 * 60_000 - from)).toBeLessThan(60_000);
    expect(await rows(page).count()).toBe(6);

    await page.locator('[part=filter-range]').selectOption('custom');
    // A custom window that starts tomorrow: nothing matches.
    const tomorrow = new Date(Date.now() + 24 * 60 * 60_000);
    const local = new Date(tomorrow.getTime() - tomorrow.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
    await page.locator('[part=filter-from]').fill(local);
    await page.locator('[part=filter-status] input[value=fulfilled]').check();
    const empty = page.locator('[part=empty]');
    await expect.poll(() => empty.textContent()).toContain('No executions match these filters.');
    expect(await empty.getAttribute('data-reason')).toBe('filtered');
    expect(Date.parse(queries.at(-1)!.get('from')!)).toBe(new Date(local).getTime());
    expect(await count(page)).toBe('2 filters');
    expect(await page.locator('[part=count]').textContent()).toBe('0 executions match');
    await page.screenshot({ path: `${SHOTS}filtered-empty.png` });

    await page.locator('[part=reset]').click();
    await expect.poll(() => rows(page).count()).toBe(6);
    expect(await count(page)).toBe('No filters');
    expect(await page.locator('[part=filter-range]').inputValue()).toBe('');
    expect(await page.locator('[part=filter-status] input:checked').count()).toBe(0);
    const last = queries.at(-1)!;
    expect(['status', 'from', 'to', 'q'].filter((name) => last.has(name))).toEqual([]);
    await page.close();
  });

  it('says a flow that never ran has not run, not that filters hide it', async () => {
    const page = await suite.browser.newPage();
    page.setDefaultTimeout(10_000);
    await page.goto(`${suite.host.origin}/?flow-id=never-ran`);
    const empty = page.locator('[part=empty]');
    await expect.poll(() => empty.getAttribute('data-reason')).toBe('none');
    expect(await empty.textContent()).toContain('This flow has not run yet');
    await page.close();
  });
});
