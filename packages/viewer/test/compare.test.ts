import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import type { ExecutionRecord } from '../src/types.js';
import { SHOTS } from './support/shots.js';
import { browserSuite } from './support/suite.js';

/**
 * Compare (issue 18): two executions of a flow side by side, step by step — status, the change
 * in duration, and what changed in each step's data — checked against the API's records.
 */

const suite = browserSuite({
  seed: async (s) => {
    await s.order({ sku: 'SKU-A', qty: 2 });
    await s.order({ sku: 'SKU-B', qty: 3 });
    await s.order({ sku: 'SKU-C', qty: 0 });
  },
});

const row = (page: Page, sku: string) => page.locator('flowtrace-execution-item', { hasText: `sku: ${sku}` });
const compare = (page: Page) => page.locator('flowtrace-execution-compare');
const pairs = (page: Page) => compare(page).locator('tr[data-path]');

/** Opens one execution, asks to compare it, opens the other; returns both records from the API. */
async function compareOrders(page: Page, from: string, to: string): Promise<[ExecutionRecord, ExecutionRecord]> {
  const records: ExecutionRecord[] = [];
  for (const [i, sku] of [from, to].entries()) {
    await row(page, sku).click();
    const id = (await row(page, sku).getAttribute('data-id'))!;
    if (i === 0) {
      await expect.poll(() => page.locator('flowtrace-execution-detail [part=header]').textContent()).toContain(id);
      await page.locator('flowtrace-execution-detail [part=export]').getByRole('button', { name: 'Compare with…' }).click();
      await expect.poll(() => page.locator('[part=compare-bar]').textContent()).toContain('Select another execution');
    }
    records.push((await (await fetch(`${suite.stack.url}/api/executions/${id}`)).json()) as ExecutionRecord);
  }
  await expect.poll(() => compare(page).locator('[part=header]').textContent()).toContain(records[1]!.id);
  return records as [ExecutionRecord, ExecutionRecord];
}

describe('comparing two executions', () => {
  it('pairs their steps and shows each one’s status, duration change and data changes, as in the API', async () => {
    const page = await suite.openTab({ 'flow-id': 'checkout' });
    const [a, b] = await compareOrders(page, 'SKU-A', 'SKU-B');
    expect(await compare(page).locator('[part=header]').textContent()).toContain(a.id);

    const keys = a.nodes.map((node) => node.key);
    expect(await pairs(page).evaluateAll((rows) => rows.map((r) => r.getAttribute('data-path')))).toEqual(keys);
    for (const left of a.nodes) {
      const right = b.nodes.find((node) => node.key === left.key)!;
      const pair = pairs(page).and(page.locator(`[data-path="${left.key}"]`));
      expect(Number(await pair.locator('[part=delta]').getAttribute('data-delta-ms'))).toBeCloseTo(right.durationMs! - left.durationMs!, 6);
      expect(await pair.locator('[data-side=left]').textContent()).toContain('Fulfilled');
      expect(await pair.locator('[data-side=right]').textContent()).toContain('Fulfilled');
    }
    // The price step: its output went from 10 to 15.
    const price = pairs(page).and(page.locator('[data-path=price]'));
    await price.locator('summary').click();
    expect(await price.locator('li[data-path=output]').textContent()).toMatch(/output: 10 → 15/);
    expect(await price.locator('li[data-path=output]').getAttribute('data-kind')).toBe('changed');
    // Parameters and result, path by path.
    const params = compare(page).locator('[part=params-diff] li');
    expect(await params.evaluateAll((items) => items.map((li) => li.textContent!.replace(/\s+/g, ' ').trim()))).toEqual(['sku: "SKU-A" → "SKU-B"', 'qty: 2 → 3']);
    expect((await compare(page).locator('[part=result-diff] li').textContent())!.replace(/\s+/g, ' ').trim()).toBe('total: 10 → 15');
    await page.mouse.move(5, 5);
    await page.screenshot({ path: `${SHOTS}compare.png` });
    await page.close();
  });

  it('marks a step whose status differs and the steps only one of them ran', async () => {
    const page = await suite.openTab({ 'flow-id': 'checkout' });
    const [a, c] = await compareOrders(page, 'SKU-A', 'SKU-C');
    const failed = c.nodes.find((node) => node.status === 'error')!;
    const changed = compare(page).locator('tr[part~=changed-status]');
    // The failing step, and the steps after it that only the first ran.
    expect(await changed.evaluateAll((rows) => rows.map((r) => r.getAttribute('data-path')))).toEqual(a.nodes.map((node) => node.key));
    const validate = pairs(page).and(page.locator(`[data-path="${failed.key}"]`));
    expect(await validate.locator('[data-side=right]').textContent()).toContain('Error');
    for (const left of a.nodes.filter((node) => !c.nodes.some((other) => other.key === node.key))) {
      const pair = pairs(page).and(page.locator(`[data-path="${left.key}"]`));
      expect(await pair.locator('[data-side=right]').textContent()).toContain('not run');
      expect(await pair.locator('[part=changes]').textContent()).toContain('only in the first');
      expect(await pair.locator('[part=delta]').textContent()).toBe('–');
    }
    // Closing the comparison shows the execution opened last.
    await page.locator('[part=compare-panel]').getByRole('button', { name: 'Close comparison' }).click();
    await expect.poll(() => page.locator('flowtrace-execution-detail [part=header]').textContent()).toContain(c.id);
    expect(await compare(page).count()).toBe(0);
    await page.close();
  });
});
