import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCollector } from '@flowtrace/collector';
import type { Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { startHostPage } from './support/host.js';
import { SHOTS } from './support/shots.js';
import { BUNDLE } from './support/stack.js';
import { browserSuite } from './support/suite.js';

/**
 * Failure states (issue 17): a forbidden origin, a missing or wrong token, a collector that is
 * down or restarting — each a message in the tab that tells the host developer what to do, with
 * Retry where it helps, never "0 executions" beside it; once the collector is back the tab
 * reloads by itself.
 */

const dir = mkdtempSync(join(tmpdir(), 'flowtrace-failures-'));
const db = join(dir, 'flowtrace.db');
/** The collector serving stack.url now: the stack's, or one started again on its address. */
let current: ReturnType<typeof createCollector>;

// One stack per file: the tracer registers itself globally once.
const suite = browserSuite({
  stack: { db },
  seed: async (s) => {
    current = s.collector;
    await s.order({ sku: 'SKU-1', qty: 1 });
  },
  closeStack: async (s) => {
    await s.tracing.shutdown();
    await current?.close();
  },
  viewport: { width: 1280, height: 700 },
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** The collector comes back on the same address with the same history, as after a restart. */
async function startAgain() {
  current = createCollector({ db, viewerBundle: BUNDLE, reconcileIntervalMs: 0, log: () => {}, corsOrigins: [suite.host.origin] });
  await current.listen(Number(new URL(suite.stack.url).port), '127.0.0.1');
}

/**
 * A host page whose copy of the viewer does not come from the collector (as when a host app
 * bundles it), so the element exists whatever the collector allows or whether it runs at all.
 */
async function openHosted(origin: string, collectorUrl: string, attributes: Record<string, string>): Promise<Page> {
  const page = await suite.newPage();
  await page.route(`${collectorUrl}/viewer/flowtrace-viewer.js`, (route) =>
    route.fulfill({ path: BUNDLE, contentType: 'text/javascript', headers: { 'access-control-allow-origin': '*' } }),
  );
  await page.goto(`${origin}/?${new URLSearchParams(attributes)}`);
  return page;
}

const error = (page: Page) => page.locator('flowtrace-execution-list [part=error]');
const rows = (page: Page) => page.locator('flowtrace-execution-item');

/** The list says nothing about a count it could not read. */
async function expectNoCount(page: Page) {
  expect(await page.locator('flowtrace-execution-list [part=count]').count()).toBe(0);
  expect(await page.locator('flowtrace-execution-list').textContent()).not.toMatch(/0 executions/);
}

describe('failure states', () => {
  it('names a forbidden origin and the collector option that allows it', async () => {
    const other = await startHostPage();
    other.useCollector(suite.stack.url);
    const page = await openHosted(other.origin, suite.stack.url, { 'flow-id': 'checkout' });
    await expect.poll(() => error(page).textContent()).toContain(`does not allow this page's origin (${other.origin})`);
    expect(await error(page).textContent()).toContain(`--cors-origin ${other.origin}`);
    expect(await error(page).getAttribute('role')).toBe('alert');
    expect(await page.locator('[part=retry]').count()).toBe(1);
    await expectNoCount(page);
    await page.screenshot({ path: `${SHOTS}forbidden-origin.png` });
    await page.close();
    await other.close();
  });

  it('tells a missing token from a wrong one, without a Retry that cannot help', async () => {
    const guarded = createCollector({ db: join(dir, 'guarded.db'), viewerBundle: BUNDLE, log: () => {}, corsOrigins: [suite.host.origin], token: 'secret' });
    const url = await guarded.listen(0, '127.0.0.1');
    const tab = { 'flow-id': 'checkout', 'api-base': url };
    const wrong = await openHosted(suite.host.origin, suite.stack.url, { ...tab, token: 'wrong' });
    await expect.poll(() => error(wrong).textContent()).toContain("The collector refused the token. Set the tab's token attribute");
    expect(await wrong.locator('[part=retry]').count()).toBe(0);
    await expectNoCount(wrong);
    await wrong.close();
    const missing = await openHosted(suite.host.origin, suite.stack.url, tab);
    await expect.poll(() => error(missing).textContent()).toContain("The collector needs a token. Set the tab's token attribute");
    await missing.close();
    await guarded.close();
  });

  it('says the collector is down, then loads by itself once it is back', async () => {
    await current.close();
    const page = await openHosted(suite.host.origin, suite.stack.url, { 'flow-id': 'checkout' });
    await expect.poll(() => error(page).textContent()).toContain(`Cannot reach the flowtrace collector at ${suite.stack.url}`);
    await expectNoCount(page);
    await page.screenshot({ path: `${SHOTS}collector-down.png` });

    await startAgain();
    // No click: the tab reloads once its live stream connects again.
    await expect.poll(() => rows(page).count(), { timeout: 15_000 }).toBe(1);
    expect(await error(page).count()).toBe(0);
    expect(await page.locator('flowtrace-execution-list [part=count]').textContent()).toBe('1 execution');
    await page.close();
  });

  it('shows that live updates paused while the collector restarts, and follows it again after', async () => {
    const page = await openHosted(suite.host.origin, suite.stack.url, { 'flow-id': 'checkout' });
    await rows(page).first().click();
    await expect.poll(() => page.locator('flowtrace-execution-detail [part=header]').count()).toBe(1);

    await current.close();
    const notice = page.locator('flowtrace-usage-tab [part=live-state]');
    await expect.poll(() => notice.textContent(), { timeout: 10_000 }).toContain('Live updates paused: reconnecting to the collector');
    // Rows already read stay: the list is not replaced by an error while only the stream is down.
    expect(await rows(page).count()).toBe(1);

    await startAgain();
    await expect.poll(() => notice.count(), { timeout: 15_000 }).toBe(0);
    // Live again: a new execution shows without a reload.
    await suite.stack.order({ sku: 'SKU-2', qty: 2 });
    await suite.stack.flush();
    await expect.poll(() => rows(page).count(), { timeout: 10_000 }).toBe(2);
    expect(await page.locator('flowtrace-execution-detail [part=header]').count()).toBe(1);
    await page.close();
  });
});
