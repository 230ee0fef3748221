import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { browserSuite } from './support/suite.js';

/**
 * An automated accessibility audit (axe-core, in Chromium, through the open shadow roots) of the
 * tab in the states a reader meets: the list with the filter bar, an open failing execution with
 * its stack (as a tree and as a timeline), the Re-run editor, the flow list with deleted flows shown, and an error.
 */

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

const suite = browserSuite({
  seed: async (s) => {
    await s.order({ sku: 'SKU-1', qty: 1 });
    await s.order({ sku: 'SKU-2', qty: 0 });
  },
  rethrowPageErrors: false,
});

/** axe's violations on the page, as "rule: target" lines a failure message can show. */
async function violations(page: Page): Promise<string[]> {
  await page.addScriptTag({ path: AXE });
  const found = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(context: Document, options: object): Promise<{ violations: Array<{ id: string; nodes: Array<{ target: unknown }> }> }> } }).axe;
    const result = await axe.run(document, { resultTypes: ['violations'] });
    return result.violations.flatMap((v) => v.nodes.map((n) => `${v.id}: ${JSON.stringify(n.target)}`));
  });
  return found;
}

async function newPage(url: string): Promise<Page> {
  const page = await suite.newPage();
  await page.goto(url);
  return page;
}

describe('accessibility audit', () => {
  it('finds nothing in the list, the filter bar and an open failing execution', async () => {
    const page = await newPage(`${suite.host.origin}/?flow-id=checkout`);
    await page.locator('[part=filter-status] input[value=error]').check();
    await page.locator('[part=search]').fill('SK');
    await page.locator('flowtrace-execution-item').first().click();
    await page.locator('flowtrace-execution-detail [part=toggle]').waitFor();
    // Off the row: axe reads a hovered row's tooltip as text the label must include, though the
    // tooltip is aria-hidden and the label already says the same sentence.
    await page.mouse.move(1200, 20);
    expect(await violations(page)).toEqual([]);
    await page.close();
  });

  it('finds nothing in the timeline of a failing execution, its step selected', async () => {
    const page = await newPage(`${suite.host.origin}/?flow-id=checkout&steps-view=timeline`);
    await page.locator('[part=filter-status] input[value=error]').check();
    await page.locator('flowtrace-execution-item').first().click();
    await page.locator('flowtrace-execution-timeline [role=treeitem][aria-selected=true]').focus();
    await page.locator('flowtrace-execution-detail [part=selected-step]').waitFor();
    await page.mouse.move(1200, 20);
    expect(await violations(page)).toEqual([]);
    await page.close();
  });

  it('finds nothing in a comparison of two executions', async () => {
    const page = await newPage(`${suite.host.origin}/?flow-id=checkout`);
    const rows = page.locator('flowtrace-execution-item');
    await rows.first().click();
    await page.locator('flowtrace-execution-detail [part=export]').getByRole('button', { name: 'Compare with…' }).click();
    await rows.nth(1).click();
    await page.locator('flowtrace-execution-compare [part=steps-diff] summary').first().click();
    await page.mouse.move(1200, 20);
    expect(await violations(page)).toEqual([]);
    await page.close();
  });

  it('finds nothing in the Re-run editor with invalid JSON and the unsupported message', async () => {
    const page = await newPage(`${suite.host.origin}/?flow-id=checkout`);
    await page.locator('flowtrace-execution-item').first().click();
    const detail = page.locator('flowtrace-execution-detail');
    await detail.getByRole('button', { name: 'Re-run…' }).click();
    await detail.getByRole('button', { name: 'Run', exact: true }).click();
    await detail.locator('[part=rerun-status]').filter({ hasText: 'cannot re-run' }).waitFor();
    await detail.getByRole('textbox', { name: 'Parameters (JSON)' }).fill('{ "sku": ');
    await page.mouse.move(1200, 20);
    expect(await violations(page)).toEqual([]);
    await page.close();
  });

  it('finds nothing in the collector page with deleted flows shown', async () => {
    const page = await newPage(`${suite.stack.url}/`);
    await page.locator('flowtrace-flow-list [part=deleted-toggle] input').check();
    await page.locator('flowtrace-execution-item').first().waitFor();
    expect(await violations(page)).toEqual([]);
    await page.close();
  });

  it('finds nothing in an error state', async () => {
    const page = await newPage(`${suite.host.origin}/?flow-id=checkout&token=wrong&api-base=${encodeURIComponent('http://127.0.0.1:9')}`);
    await page.locator('flowtrace-execution-list [part=error]').waitFor();
    expect(await violations(page)).toEqual([]);
    await page.close();
  });
});
