import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { startHostPage } from './support/host.js';
import { SHOTS } from './support/shots.js';
import { gate, waiting } from './support/stack.js';
import { browserSuite } from './support/suite.js';

const XSS = '<img src=x onerror=alert(1)>';

const suite = browserSuite({
  seed: async (s) => {
    // 25 orders: #0 oldest … #24 newest; #3, #10 and #17 fail; #23 carries HTML in its first parameter.
    for (let i = 0; i < 25; i++) {
      await s.order({ sku: i === 23 ? XSS : `SKU-${i}`, qty: [3, 10, 17].includes(i) ? 0 : i + 1 });
    }
  },
  // Playwright's own timeout for actions, as before the suite helper.
  timeout: null,
});

const rows = (page: Page) => page.locator('flowtrace-execution-item');
const previews = (page: Page) => page.locator('flowtrace-execution-item [part=preview]').allTextContents();
const tooltipOf = (page: Page, index: number) => rows(page).nth(index).locator('[part=tooltip]');

describe('the list', () => {
  it('shows executions newest first with status, time, duration and first parameter', async () => {
    const page = await suite.openTab({ 'flow-id': 'checkout', 'page-size': '10' });
    await expect.poll(() => rows(page).count()).toBe(10);
    expect(await previews(page)).toEqual([
      'sku: SKU-24', `sku: ${XSS}`, 'sku: SKU-22', 'sku: SKU-21', 'sku: SKU-20',
      'sku: SKU-19', 'sku: SKU-18', 'sku: SKU-17', 'sku: SKU-16', 'sku: SKU-15',
    ]);
    const statuses = await rows(page).evaluateAll((items) => items.map((i) => i.getAttribute('data-status')));
    expect(statuses).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'error', 'fulfilled', 'fulfilled']);
    await expect.poll(() => page.locator('[part=toolbar]').textContent()).toContain('25 executions');
    expect(await rows(page).first().locator('[part=duration]').textContent()).toMatch(/^\d+ (ms|µs)$/);
    expect(await rows(page).first().locator('[part=time]').textContent()).toMatch(/\d{2}:\d{2}:\d{2}/);
    // The status is also said in words to assistive tech, not only by colour.
    expect(await rows(page).nth(7).getAttribute('aria-label')).toContain('Error — a step threw: quantity must be positive, got 0');
    await page.screenshot({ path: `${SHOTS}list.png` });
    await page.close();
  });

  it('explains the status in a tooltip on hover and on keyboard focus', async () => {
    const page = await suite.openTab({ 'flow-id': 'checkout', 'page-size': '10' });
    await expect.poll(() => rows(page).count()).toBe(10);
    expect(await tooltipOf(page, 7).isVisible()).toBe(false);
    await rows(page).nth(7).locator('flowtrace-status-dot').hover();
    await expect.poll(() => tooltipOf(page, 7).isVisible()).toBe(true);
    expect(await tooltipOf(page, 7).textContent()).toBe('Error — a step threw: quantity must be positive, got 0');
    await page.mouse.move(0, 0);
    await expect.poll(() => tooltipOf(page, 7).isVisible()).toBe(false);

    await rows(page).first().focus();
    await expect.poll(() => tooltipOf(page, 0).isVisible()).toBe(true);
    expect(await tooltipOf(page, 0).textContent()).toMatch(/^Fulfilled — finished in \d+/);
    await page.close();
  });

  it('pages with numbers and prev/next, and filters by status', async () => {
    const page = await suite.openTab({ 'flow-id': 'checkout', 'page-size': '10' });
    await expect.poll(() => rows(page).count()).toBe(10);
    const pager = page.locator('flowtrace-pagination');
    expect(await pager.locator('button[aria-label^="Page"]').allTextContents()).toEqual(['1', '2', '3']);
    await pager.locator('button[aria-label="Page 3"]').click();
    await expect.poll(() => previews(page)).toEqual(['sku: SKU-4', 'sku: SKU-3', 'sku: SKU-2', 'sku: SKU-1', 'sku: SKU-0']);
    expect(await pager.locator('[aria-current=page]').textContent()).toBe('3');
    expect(await pager.locator('button[aria-label="Next page"]').isDisabled()).toBe(true);
    await pager.locator('button[aria-label="Previous page"]').click();
    await expect.poll(() => previews(page)).toContain('sku: SKU-14');
    const events = await page.evaluate(() => (window as unknown as { hostEvents: unknown[] }).hostEvents);
    expect(events).toEqual([{ type: 'flowtrace-page', detail: { page: 3 } }, { type: 'flowtrace-page', detail: { page: 2 } }]);

    await page.locator('[part=filter-status] input[value=error]').check();
    await expect.poll(() => previews(page)).toEqual(['sku: SKU-17', 'sku: SKU-10', 'sku: SKU-3']);
    expect(await rows(page).evaluateAll((items) => items.every((i) => i.getAttribute('data-status') === 'error'))).toBe(true);
    await page.locator('[part=filter-status] input[value=error]').uncheck();
    await page.locator('[part=filter-status] input[value=pending]').check();
    await expect.poll(() => page.locator('[part=empty]').textContent()).toContain('No executions match these filters');
    await page.close();
  });

  it('moves through the rows with the keyboard and opens one with Enter', async () => {
    const page = await suite.openTab({ 'flow-id': 'checkout', 'page-size': '10' });
    await expect.poll(() => rows(page).count()).toBe(10);
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    const focused = () => page.evaluate(() => {
      const list = document.querySelector('flowtrace-usage-tab')!.shadowRoot!.querySelector('flowtrace-execution-list')!;
      return list.shadowRoot!.activeElement?.getAttribute('data-id') ?? list.shadowRoot!.activeElement?.tagName ?? null;
    });
    const ids = await rows(page).evaluateAll((items) => items.map((i) => i.getAttribute('data-id')));
    await rows(page).first().focus();
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    expect(await focused()).toBe(ids[2]);
    await page.keyboard.press('End');
    expect(await focused()).toBe(ids[9]);
    await page.keyboard.press('Home');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
    await expect.poll(() => rows(page).nth(1).getAttribute('aria-selected')).toBe('true');
    await expect.poll(() => page.locator('flowtrace-execution-detail [part=header]').textContent()).toContain(ids[1]!);
    await page.close();
  });
});

describe('the detail', () => {
  it('shows a placeholder until an execution is opened, then its parameters, steps, data and result', async () => {
    const page = await suite.openTab({ 'flow-id': 'checkout', 'page-size': '10' });
    await expect.poll(() => page.locator('flowtrace-execution-detail [part=placeholder]').textContent()).toContain('Select an execution');
    await rows(page).first().click();
    const detail = page.locator('flowtrace-execution-detail');
    await expect.poll(() => detail.locator('[part~=node]').count()).toBe(3);
    expect(await detail.locator('[part~=node] .name').allTextContents()).toEqual(['1 flow validate', '2 step price', '3 step reserve']);
    expect(await detail.locator('[part=params] [part=tree]').textContent()).toContain('"SKU-24"');
    await detail.locator('[part~=node] summary').nth(1).click();
    const price = detail.locator('[part~=node]').nth(1);
    // An opened step renders its data on the element's next update, after the toggle event.
    await expect.poll(() => price.textContent()).toContain('Data after this step');
    const after = await price.locator('flowtrace-json-view').last().locator('[part=tree]').textContent();
    expect(after).toContain('validate');
    expect(after).toContain('price');
    expect(after).not.toContain('reserve');
    expect(await detail.locator('[part=result] [part=tree]').textContent()).toContain('total');
    const events = await page.evaluate(() => (window as unknown as { hostEvents: Array<{ type: string }> }).hostEvents);
    expect(events.filter((e) => e.type === 'flowtrace-select')).toHaveLength(1);
    await page.screenshot({ path: `${SHOTS}detail.png` });
    await page.close();
  });

  it('highlights, opens and scrolls to the failing step with its error', async () => {
    const page = await suite.openTab({ 'flow-id': 'checkout', 'page-size': '10', 'trace-url': 'http://jaeger.local/trace/{traceId}' }, { width: 1280, height: 520 });
    await expect.poll(() => rows(page).count()).toBe(10);
    await rows(page).nth(7).click();
    const failing = page.locator('flowtrace-execution-detail [part~=failing]');
    await expect.poll(() => failing.count()).toBe(1);
    expect(await failing.getAttribute('open')).not.toBeNull();
    expect(await failing.textContent()).toContain('RangeError: quantity must be positive, got 0');
    expect(await page.locator('flowtrace-execution-detail [part=summary]').textContent()).toContain('Failed at flow validate');
    await expect.poll(() => failing.evaluate((el) => {
      const box = el.getBoundingClientRect();
      return box.top >= 0 && box.top < window.innerHeight;
    })).toBe(true);
    const link = page.locator('flowtrace-execution-detail [part=trace-link]');
    expect(await link.getAttribute('href')).toMatch(/^http:\/\/jaeger\.local\/trace\/[0-9a-f]{32}$/);
    await page.screenshot({ path: `${SHOTS}error-detail.png` });
    await page.close();
  });

  it('shows a large execution a page of steps at a time and loads the next on demand', async () => {
    await suite.stack.bulk(11, 1000);
    await suite.stack.flush();
    const page = await suite.openTab({ 'flow-id': 'bulk-import', 'page-size': '10' });
    await rows(page).first().click();
    const detail = page.locator('flowtrace-execution-detail');
    await expect.poll(() => detail.locator('#steps-title').textContent(), { timeout: 60_000 }).toBe('Steps (11011)');
    expect(await detail.locator('[part~=node]').count()).toBe(1000);
    expect(await detail.locator('[part=more-steps]').textContent()).toContain('Showing 1000 of 11011 steps.');
    await detail.locator('[part=more-steps] button').click();
    await expect.poll(() => detail.locator('[part~=node]').count()).toBe(2000);
    // Numbered by nesting: the first chunk and its 1000 rows, then the second chunk.
    expect(await detail.locator('[part~=node] .name').nth(1000).textContent()).toBe('1.1000 step row-999');
    expect(await detail.locator('[part~=node] .name').nth(1001).textContent()).toBe('2 flow import-chunk');
    await page.screenshot({ path: `${SHOTS}more-steps.png` });
    await page.close();
  }, 120_000);

  it('opens the execution named by execution-id (deep link)', async () => {
    const first = (await suite.stack.collector.engine.listExecutions({ flowId: 'checkout', offset: 0, limit: 1, statuses: ['error'] })).executions[0]!;
    const page = await suite.openTab({ 'flow-id': 'checkout', 'page-size': '10', 'execution-id': first.id });
    await expect.poll(() => page.locator('flowtrace-execution-detail [part=header]').textContent()).toContain(first.id);
    await page.close();
  });
});

describe('live updates', () => {
  it('shows a new execution pending at the top and turns it green when it finishes, without a reload', async () => {
    const page = await suite.openTab({ 'flow-id': 'waiting', 'page-size': '10' });
    await expect.poll(() => page.locator('[part=empty]').textContent()).toContain('This flow has not run yet');
    await page.screenshot({ path: `${SHOTS}empty.png` });

    const release = gate();
    const run = suite.stack.scope.exec({ flow: waiting, input: { label: 'live', until: release.opened } });
    await expect.poll(() => rows(page).count(), { timeout: 10_000 }).toBe(1);
    expect(await rows(page).first().getAttribute('data-status')).toBe('pending');
    // The step's start notice names what it waits on (it may land just after the row).
    await expect.poll(() => tooltipOf(page, 0).textContent(), { timeout: 10_000 }).toMatch(/^Pending — waiting on step wait for /);
    expect(await rows(page).first().locator('[part=duration]').textContent()).toMatch(/^running /);
    await rows(page).first().click();
    await expect.poll(() => page.locator('flowtrace-execution-detail [part=header]').textContent()).toContain('Pending');

    release.open();
    await run.result;
    await expect.poll(() => rows(page).first().getAttribute('data-status'), { timeout: 10_000 }).toBe('fulfilled');
    await expect.poll(() => page.locator('flowtrace-execution-detail [part=result] [part=tree]').textContent(), { timeout: 10_000 }).toContain('done live');
    await page.close();
  });

  it('puts a row that arrives late where it started, not on top', async () => {
    const page = await suite.openTab({ 'flow-id': 'waiting', 'page-size': '10' });
    const offline = suite.stack.heldService();
    const release = gate();
    const early = offline.scope.exec({ flow: waiting, input: { label: 'started-first', until: release.opened } });
    // The tracer starts a span a microtask after the call: let it start, then let the clock move
    // on (a tie of millisecond stamps is ordered by span id), so "started first" is what the spans say.
    await new Promise((resolve) => setImmediate(resolve));
    const startedAt = Date.now();
    while (Date.now() <= startedAt) await new Promise((resolve) => setImmediate(resolve));
    const later = gate();
    later.open();
    await suite.stack.scope.exec({ flow: waiting, input: { label: 'started-second', until: later.opened } }).result;
    const latest = page.locator('flowtrace-execution-item', { hasText: 'started-second' });
    await expect.poll(() => latest.getAttribute('data-status'), { timeout: 10_000 }).toBe('fulfilled');

    release.open();
    await early.result;
    await offline.deliver();
    const late = page.locator('flowtrace-execution-item', { hasText: 'started-first' });
    await expect.poll(() => late.count(), { timeout: 10_000 }).toBe(1);
    const order = async () => {
      const previews = await page.locator('flowtrace-execution-item [part=preview]').allTextContents();
      const at = (label: string) => previews.findIndex((text) => text.includes(label));
      return at('started-first') - at('started-second');
    };
    await expect.poll(order).toBe(1);
    await page.close();
  });

  it('polls while a row is pending when the source has no live stream', async () => {
    const release = gate();
    const run = suite.stack.scope.exec({ flow: waiting, input: { label: 'polled', until: release.opened } });
    await suite.stack.flush();
    const page = await suite.browser.newPage();
    await page.goto(`${suite.host.origin}/`);
    await page.waitForFunction(() => customElements.get('flowtrace-usage-tab') !== undefined);
    await page.evaluate((api) => {
      const tab = document.createElement('flowtrace-usage-tab') as HTMLElement & { source: unknown };
      (window as unknown as { listCalls: number }).listCalls = 0;
      const json = (path: string) => fetch(api + path).then((r) => r.json());
      // A host's own source: plain fetch, no subscribe.
      tab.source = {
        listExecutions: (flowId: string, q: { page: number; limit: number }) => {
          (window as unknown as { listCalls: number }).listCalls++;
          return json(`/api/flows/${flowId}/executions?page=${q.page}&limit=${q.limit}`);
        },
        getExecution: (flowId: string, id: string) => json(`/api/flows/${flowId}/executions/${id}`),
      };
      tab.setAttribute('flow-id', 'waiting');
      document.body.append(tab);
    }, suite.stack.url);
    const pendingRow = page.locator('flowtrace-execution-item[data-status=pending]');
    await expect.poll(() => pendingRow.count(), { timeout: 10_000 }).toBe(1);
    release.open();
    await run.result;
    await expect.poll(() => pendingRow.count(), { timeout: 10_000 }).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { listCalls: number }).listCalls)).toBeGreaterThan(1);
    await page.close();
  });
});

describe('safety and layout', () => {
  it('shows HTML in parameters as text', async () => {
    const page = await suite.openTab({ 'flow-id': 'checkout', 'page-size': '10' });
    await expect.poll(() => rows(page).count()).toBe(10);
    expect(await rows(page).nth(1).locator('[part=preview]').textContent()).toBe(`sku: ${XSS}`);
    await rows(page).nth(1).click();
    await expect.poll(() => page.locator('flowtrace-execution-detail [part=params] [part=tree]').textContent()).toContain(XSS);
    const images = await page.evaluate(() => {
      const all: Element[] = [];
      const walk = (root: Document | ShadowRoot) => {
        all.push(...root.querySelectorAll('img'));
        for (const el of root.querySelectorAll('*')) if (el.shadowRoot) walk(el.shadowRoot);
      };
      walk(document);
      return all.length;
    });
    expect(images).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { alerts: string[] }).alerts)).toEqual([]);
    await page.close();
  });

  it('stacks the columns on a narrow screen', async () => {
    const page = await suite.openTab({ 'flow-id': 'checkout', 'page-size': '10' }, { width: 480, height: 900 });
    await expect.poll(() => rows(page).count()).toBe(10);
    const list = await page.locator('flowtrace-execution-list').boundingBox();
    const detail = await page.locator('flowtrace-execution-detail').boundingBox();
    expect(detail!.y).toBeGreaterThanOrEqual(list!.y + list!.height - 1);
    expect(Math.abs(detail!.x - list!.x)).toBeLessThan(2);
    await page.close();
  });

  it('cannot be loaded by an origin the collector does not allow', async () => {
    const other = await startHostPage();
    other.useCollector(suite.stack.url);
    const page = await suite.browser.newPage();
    await page.goto(`${other.origin}/?flow-id=checkout`);
    await page.waitForTimeout(500);
    expect(await page.evaluate(() => customElements.get('flowtrace-usage-tab') === undefined)).toBe(true);
    await page.close();
    await other.close();
  });
});
