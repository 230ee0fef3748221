import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { executionIdOf } from '@flowtrace/tracer';
import type { RerunDetail } from '../src/events.js';
import { SHOTS } from './support/shots.js';
import { checkout } from './support/stack.js';
import { browserSuite } from './support/suite.js';

/**
 * Re-run (issue 18): the detail's "Re-run…" edits the initial parameters as JSON and fires
 * `flowtrace-rerun` for the host app to run; the execution id the host answers with is opened.
 */

const suite = browserSuite({
  seed: async (s) => {
    await s.order({ sku: 'SKU-1', qty: 2 });
    await s.order({ sku: 'SKU-2', qty: 3 });
  },
});

const detail = (page: Page) => page.locator('flowtrace-execution-detail');
const editor = (page: Page) => detail(page).getByRole('textbox', { name: 'Parameters (JSON)' });
const runButton = (page: Page) => detail(page).getByRole('button', { name: 'Run', exact: true });
const status = (page: Page) => detail(page).locator('[part=rerun-status]');
const header = (page: Page) => detail(page).locator('[part=header]');

interface Seen {
  detail: { flowId: string; executionId: string; params: unknown };
  bubbles: boolean;
  composed: boolean;
  cancelable: boolean;
}

/**
 * The host page's listener: records each event and answers with a promise the test settles with
 * `window.answer(id)` or `window.fail(message)`.
 */
function listen(page: Page) {
  return page.evaluate(() => {
    const w = window as unknown as Record<string, unknown>;
    w.reruns = [];
    document.addEventListener('flowtrace-rerun', (event) => {
      const { detail } = event as CustomEvent<RerunDetail>;
      (w.reruns as unknown[]).push({ detail: { flowId: detail.flowId, executionId: detail.executionId, params: detail.params }, bubbles: event.bubbles, composed: event.composed, cancelable: event.cancelable });
      detail.respondWith(new Promise<string | undefined>((resolve, reject) => {
        w.answer = resolve;
        w.fail = (message: string) => reject(new Error(message));
      }));
    });
  });
}

/** Opens the execution of the row with `sku`, and the Re-run editor; returns its id. */
async function openRerun(page: Page, sku: string): Promise<string> {
  const row = page.locator('flowtrace-execution-item', { hasText: sku });
  await row.click();
  const id = (await row.getAttribute('data-id'))!;
  await expect.poll(() => header(page).textContent()).toContain(id);
  await detail(page).getByRole('button', { name: 'Re-run…' }).click();
  return id;
}

describe('re-run', () => {
  it('fires flowtrace-rerun with the flow, the execution and the edited parameters, and opens the id the host answers', async () => {
    const page = await suite.openTab({ 'flow-id': 'checkout' });
    await listen(page);
    const id = await openRerun(page, 'SKU-1');
    expect(JSON.parse(await editor(page).inputValue())).toEqual({ sku: 'SKU-1', qty: 2 });
    await editor(page).fill('{ "sku": "SKU-1", "qty": 7, "note": "again" }');
    await runButton(page).click();

    const seen = (await page.evaluate(() => (window as unknown as { reruns: unknown[] }).reruns)) as Seen[];
    expect(seen).toEqual([{ detail: { flowId: 'checkout', executionId: id, params: { sku: 'SKU-1', qty: 7, note: 'again' } }, bubbles: true, composed: true, cancelable: true }]);
    await expect.poll(() => status(page).textContent()).toBe('Running…');
    expect(await runButton(page).isDisabled()).toBe(true);

    // The host ran it and answers with the new execution's id (here the other seeded one): it opens, as a click on its row would.
    const other = (await page.locator('flowtrace-execution-item', { hasText: 'SKU-2' }).getAttribute('data-id'))!;
    await page.evaluate((next) => (window as unknown as { answer: (id: string) => void }).answer(next), other);
    await expect.poll(() => header(page).textContent()).toContain(other);
    expect(await page.locator('flowtrace-execution-item[selected]').getAttribute('data-id')).toBe(other);
    const selects = (await page.evaluate(() => (window as unknown as { hostEvents: Array<{ type: string; detail: { executionId: string } }> }).hostEvents)).filter(
      (event) => event.type === 'flowtrace-select',
    );
    expect(selects.at(-1)?.detail.executionId).toBe(other);
    await page.close();
  });

  it('keeps Run disabled while the JSON is invalid and says where it is wrong', async () => {
    const page = await suite.openTab({ 'flow-id': 'checkout' });
    await listen(page);
    await openRerun(page, 'SKU-2');
    expect(await runButton(page).isEnabled()).toBe(true);
    const error = detail(page).locator('[part=params-error]');

    await editor(page).fill('{\n  "sku": "SKU-2",\n  "qty": }');
    expect(await runButton(page).isDisabled()).toBe(true);
    expect(await error.textContent()).toBe("Line 3, column 10: Unexpected token '}'");
    await page.mouse.move(5, 5);
    await detail(page).screenshot({ path: `${SHOTS}rerun.png` });
    expect(await editor(page).getAttribute('aria-invalid')).toBe('true');
    expect(await editor(page).getAttribute('aria-describedby')).toBe('params-error');

    await editor(page).fill('{ "sku": "SKU-2", "qty": 3,, }');
    expect(await error.textContent()).toMatch(/^Line 1, column 28: /);
    await editor(page).fill('');
    expect(await error.textContent()).toBe('Line 1, column 1: Unexpected end of JSON input');

    await editor(page).fill('{ "sku": "SKU-2", "qty": 4 }');
    expect(await runButton(page).isEnabled()).toBe(true);
    expect(await error.textContent()).toBe('');
    expect(await editor(page).getAttribute('aria-invalid')).toBe('false');
    expect(await page.evaluate(() => (window as unknown as { reruns: unknown[] }).reruns)).toEqual([]);
    await page.close();
  });

  it('waits for an answered execution that has not reached the collector yet, and shows the host failing', async () => {
    const page = await suite.openTab({ 'flow-id': 'checkout' });
    await listen(page);
    await openRerun(page, 'SKU-1');
    await runButton(page).click();
    await page.evaluate(() => (window as unknown as { fail: (message: string) => void }).fail('the app is read-only today'));
    await expect.poll(() => status(page).textContent()).toBe('Re-run failed: the app is read-only today');
    expect(await runButton(page).isEnabled()).toBe(true);

    // The host's run is held back from the collector (as spans still in an exporter's queue): the id is answered first.
    const offline = suite.stack.heldService();
    const run = offline.scope.exec({ flow: checkout, input: { sku: 'SKU-LATE', qty: 1 } });
    const late = executionIdOf(run)!;
    await run.result;
    await runButton(page).click();
    await page.evaluate((next) => (window as unknown as { answer: (id: string) => void }).answer(next), late);
    await expect.poll(() => detail(page).locator('[part=placeholder]').textContent()).toContain(`Execution ${late} is not in the collector yet; it opens here when it arrives.`);
    await offline.deliver();
    await expect.poll(() => header(page).textContent(), { timeout: 10_000 }).toContain(late);
    await page.close();
  });

  it('tells the reader when the host app does not re-run executions', async () => {
    const page = await suite.openTab({ 'flow-id': 'checkout' });
    const id = await openRerun(page, 'SKU-2');
    await runButton(page).click();
    await expect.poll(() => status(page).textContent()).toBe('This page cannot re-run executions: its host app does not handle flowtrace-rerun.');
    expect(await header(page).textContent()).toContain(id);

    // A host that claims the event without answering an id is told it was sent.
    await page.evaluate(() => document.addEventListener('flowtrace-rerun', (event) => event.preventDefault()));
    await runButton(page).click();
    await expect.poll(() => status(page).textContent()).toBe('Sent to the host app.');
    await page.close();
  });
});
