import { custom, flow } from '@pumped-fn/core-next';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { browserSuite } from './support/suite.js';

/**
 * Status tooltips in the list (issue 17): open while the pointer is on a row or keyboard focus
 * is, closed when they leave (a click's focus does not keep one open), closed by Escape, and
 * never over the rows below.
 */

const charge = flow({ name: 'charge', input: custom<{ card: string }>(), output: custom<string>() }, async (ctx, input) =>
  ctx.exec({
    fn: () => {
      throw new Error(`the payment provider declined ${input.card}: insufficient funds on the account, try another card or contact the bank that issued it`);
    },
    key: 'authorize',
  }),
);

const suite = browserSuite({
  seed: async (s) => {
    for (const card of ['visa', 'amex', 'mastercard']) await s.scope.exec({ flow: charge, input: { card } }).result.catch(() => {});
  },
  viewport: { width: 1280, height: 700 },
});

async function openList(): Promise<Page> {
  const page = await suite.newPage();
  await page.goto(`${suite.host.origin}/?flow-id=charge`);
  await expect.poll(() => rows(page).count()).toBe(3);
  return page;
}

const rows = (page: Page) => page.locator('flowtrace-execution-item');
const tooltip = (page: Page, index: number) => rows(page).nth(index).locator('[part=tooltip]');

describe('status tooltips', () => {
  it('stay within their row, never over the rows below', async () => {
    const page = await openList();
    await rows(page).nth(0).hover();
    await expect.poll(() => tooltip(page, 0).isVisible()).toBe(true);
    const tip = (await tooltip(page, 0).boundingBox())!;
    const next = (await rows(page).nth(1).boundingBox())!;
    expect(tip.y + tip.height).toBeLessThanOrEqual(next.y);
    await page.close();
  });

  it('close when the pointer leaves, even from the row just clicked', async () => {
    const page = await openList();
    await rows(page).nth(1).click();
    await expect.poll(() => tooltip(page, 1).isVisible()).toBe(true);
    await page.mouse.move(900, 650);
    await expect.poll(() => tooltip(page, 1).isVisible()).toBe(false);
    expect(await rows(page).nth(1).getAttribute('aria-selected')).toBe('true');
    await page.close();
  });

  it('follow keyboard focus, and Escape closes one', async () => {
    const page = await openList();
    // From the search box (Reset is disabled while no filter is set), Tab reaches the first row.
    await page.locator('[part=search]').focus();
    await page.keyboard.press('Tab');
    await expect.poll(() => tooltip(page, 0).isVisible()).toBe(true);
    await page.keyboard.press('ArrowDown');
    await expect.poll(() => tooltip(page, 1).isVisible()).toBe(true);
    expect(await tooltip(page, 0).isVisible()).toBe(false);
    await page.keyboard.press('Escape');
    await expect.poll(() => tooltip(page, 1).isVisible()).toBe(false);
    await page.close();
  });
});
