import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './support/browser.js';
import { startHostPage } from './support/host.js';
import { gate, startStack, waiting } from './support/stack.js';

/** Switching flows (issue 17): the detail never keeps showing the previous flow's execution. */

let stack: Awaited<ReturnType<typeof startStack>>;
let host: Awaited<ReturnType<typeof startHostPage>>;
let browser: Browser;

beforeAll(async () => {
  host = await startHostPage();
  stack = await startStack({ corsOrigins: [host.origin] });
  host.useCollector(stack.url);
  await stack.order({ sku: 'SKU-1', qty: 1 });
  const done = gate();
  done.open();
  await stack.scope.exec({ flow: waiting, input: { label: 'other flow', until: done.opened } }).result;
  await stack.flush();
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await stack?.close();
  await host?.close();
});

async function openCheckout(): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  page.setDefaultTimeout(10_000);
  page.on('pageerror', (error) => {
    throw error;
  });
  await page.goto(`${host.origin}/?flow-id=checkout`);
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
    const other = (await stack.collector.engine.listExecutions({ flowId: 'waiting', offset: 0, limit: 1 })).executions[0]!;
    await tab(page).evaluate((el, id) => {
      el.setAttribute('flow-id', 'waiting');
      el.setAttribute('execution-id', id);
    }, other.id);
    await expect.poll(() => page.locator('flowtrace-execution-detail [part=header]').textContent()).toContain(other.id);
    expect(await page.locator('flowtrace-execution-detail [part=header]').textContent()).toContain('waiting');
    await page.close();
  });
});
