import { readFile } from 'node:fs/promises';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { SHOTS } from './support/shots.js';
import { browserSuite } from './support/suite.js';

/**
 * Export (issue 18): an execution downloads as the JSON the API returns for it, and "Copy link"
 * copies the address that opens it (with url-state, the tab's own URL).
 */

const suite = browserSuite({
  seed: async (s) => {
    await s.order({ sku: 'SKU-1', qty: 2 });
    await s.order({ sku: 'SKU-2', qty: 0 });
  },
});

const detail = (page: Page) => page.locator('flowtrace-execution-detail');
const exportBar = (page: Page) => detail(page).locator('[part=export]');

/** Opens the failing execution; returns its id. */
async function openFailing(page: Page): Promise<string> {
  const row = page.locator('flowtrace-execution-item[data-status=error]').first();
  await row.click();
  const id = (await row.getAttribute('data-id'))!;
  await expect.poll(() => detail(page).locator('[part=header]').textContent()).toContain(id);
  return id;
}

describe('export', () => {
  it('downloads the execution as the JSON GET /api/executions/:id returns', async () => {
    const page = await suite.openTab({ 'flow-id': 'checkout' });
    const id = await openFailing(page);
    const [download] = await Promise.all([page.waitForEvent('download'), exportBar(page).getByRole('button', { name: 'Download JSON' }).click()]);
    expect(download.suggestedFilename()).toBe(`execution-${id}.json`);
    const saved = JSON.parse(await readFile((await download.path())!, 'utf8')) as unknown;
    const api = (await (await fetch(`${suite.stack.url}/api/executions/${id}`)).json()) as unknown;
    expect(saved).toEqual(api);
    // The same fields in the same order, not only the same values.
    expect(JSON.stringify(saved)).toBe(JSON.stringify(api));
    // Without url-state the tab has no address of its own to offer.
    expect(await exportBar(page).getByRole('button', { name: 'Copy link' }).count()).toBe(0);
    await page.close();
  });

  it('copies a link that opens the same execution, with url-state', async () => {
    const page = await suite.openTab({ 'flow-id': 'checkout', 'url-state': 'ft' });
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: suite.host.origin });
    await page.locator('[part=filter-status] input[value=error]').check();
    const id = await openFailing(page);
    await exportBar(page).getByRole('button', { name: 'Copy link' }).click();
    await expect.poll(() => exportBar(page).locator('[part=copy-status]').textContent()).toBe('Link copied.');
    const link = await page.evaluate(() => navigator.clipboard.readText());
    const url = new URL(link);
    expect(url.origin).toBe(suite.host.origin);
    expect(url.searchParams.get('ft-execution')).toBe(id);
    expect(url.searchParams.get('ft-status')).toBe('error');
    await page.mouse.move(5, 5);
    await page.screenshot({ path: `${SHOTS}export.png` });

    const other = await suite.newPage();
    await other.goto(link);
    await expect.poll(() => detail(other).locator('[part=header]').textContent()).toContain(id);
    await other.close();
    await page.close();
  });

  it('shows the link to copy by hand when the page may not write the clipboard', async () => {
    const page = await suite.openTab({ 'flow-id': 'checkout', 'url-state': '' }, undefined, (p) =>
      p.addInitScript(() => {
        Object.defineProperty(navigator, 'clipboard', { value: { writeText: () => Promise.reject(new DOMException('denied', 'NotAllowedError')) } });
      }),
    );
    const id = await openFailing(page);
    await exportBar(page).getByRole('button', { name: 'Copy link' }).click();
    await expect.poll(() => exportBar(page).locator('[part=copy-status]').textContent()).toBe('Copy this link:');
    const field = exportBar(page).getByRole('textbox', { name: 'Link to this execution' });
    expect(new URL(await field.inputValue()).searchParams.get('execution')).toBe(id);
    expect(await field.evaluate((el) => (el.getRootNode() as ShadowRoot).activeElement === el)).toBe(true);
    await page.close();
  });
});
