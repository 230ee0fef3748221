import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { gate, waiting } from './support/stack.js';
import { browserSuite } from './support/suite.js';

/** Switching flows (issue 17): the detail never keeps showing the previous flow's execution. */

const suite = browserSuite({
  seed: async (s) => {
    await s.order({ sku: 'SKU-1', qty: 1 });
    const done = gate();
    done.open();
    await s.scope.exec({ flow: waiting, input: { label: 'other flow', until: done.opened } }).result;
  },
});

async function openCheckout(): Promise<Page> {
  const page = await suite.newPage();
  await page.goto(`${suite.host.origin}/?flow-id=checkout`);
  await page.locator('flowtrace-execution-item').first().click();
  await expect.poll(() => page.locator('flowtrace-execution-detail [part=header]').textContent()).toContain('checkout');
  return page;
}

const tab = (page: Page) => page.locator('flowtrace-usage-tab');

describe('switching flows', () => {
  it('clears the previous flow’s execution from the detail', async () => {
    const page = await openCheckout();
    await tab(page).evaluate((el) => el.setAttribute('flow-id', 'waiting'));
    await expect.poll(() => page.locator('flowtrace-execution-item [part=preview]').first().textContent()).toContain('other flow');
    expect(await page.locator('flowtrace-execution-detail [part=placeholder]').textContent()).toContain('Select an execution');
    expect(await page.locator('flowtrace-execution-detail [part=header]').count()).toBe(0);
    expect(await tab(page).getAttribute('execution-id')).toBeNull();
    await page.close();
  });

  it('opens the execution a host names together with the new flow', async () => {
    const page = await openCheckout();
    const other = (await suite.stack.collector.engine.listExecutions({ flowId: 'waiting', offset: 0, limit: 1 })).executions[0]!;
    await tab(page).evaluate((el, id) => {
      el.setAttribute('flow-id', 'waiting');
      el.setAttribute('execution-id', id);
    }, other.id);
    await expect.poll(() => page.locator('flowtrace-execution-detail [part=header]').textContent()).toContain(other.id);
    expect(await page.locator('flowtrace-execution-detail [part=header]').textContent()).toContain('waiting');
    await page.close();
  });
});
