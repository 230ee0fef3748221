import { timeoutTag } from '@flowtrace/tracer';
import { custom, flow } from '@pumped-fn/core-next';
import type { Locator, Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import type { ExecutionNode, ExecutionRecord } from '../src/types.js';
import { SHOTS } from './support/shots.js';
import { gate } from './support/stack.js';
import { browserSuite } from './support/suite.js';

/**
 * Running steps (issue 15, the viewer's part): a step that started and has not ended shows as
 * `running` with a running time that ticks, in the detail and in the list row, and a step left
 * running when the execution timed out is the one marked as failing.
 */

/** Three steps, the third waiting on a promise the test resolves. */
function reserveFlow(name: string, budgetMs?: number) {
  return flow(
    { name, input: custom<{ label: string; until: Promise<void> }>(), output: custom<string>(), tags: budgetMs ? [timeoutTag(budgetMs)] : [] },
    async (ctx, input) => {
      await ctx.exec({ fn: () => input.label.length > 0, key: 'validate' });
      const price = await ctx.exec({ fn: (n: number) => n * 5, params: [input.label.length], key: 'price' });
      await ctx.exec({ fn: async () => (await input.until, { reserved: price }), key: 'reserve' });
      return `reserved ${input.label}`;
    },
  );
}

const live = reserveFlow('reserve-live');
const BUDGET_MS = 1500;
const timed = reserveFlow('reserve-timed', BUDGET_MS);

// Playwright's own timeout for actions, as before the suite helper.
const suite = browserSuite({ timeout: null });

/**
 * A page with the bundle loaded. Intervals are counted from the start, so a test can see how
 * many timers the elements keep.
 */
async function openPage(query: Record<string, string> = {}): Promise<Page> {
  return suite.openTab(query, undefined, (page) =>
    page.addInitScript(() => {
      const active = new Set<unknown>();
      const set = window.setInterval.bind(window);
      const clear = window.clearInterval.bind(window);
      window.setInterval = ((handler: TimerHandler, ms?: number, ...args: unknown[]) => {
        const id = set(handler, ms, ...args);
        active.add(id);
        return id;
      }) as typeof window.setInterval;
      window.clearInterval = ((id?: number) => {
        active.delete(id);
        clear(id);
      }) as typeof window.clearInterval;
      (window as unknown as { activeIntervals: () => number }).activeIntervals = () => active.size;
    }),
  );
}

/** "under 1 s" → 0, "12 s" → 12, "2 min 10 s" → 130: the running time in a text, in seconds. */
function secondsIn(text: string | null): number {
  const match = /for (under 1 s|(?:(\d+) min ?)?(?:(\d+) s)?)/.exec(text ?? '');
  if (!match) throw new Error(`no running time in ${JSON.stringify(text)}`);
  if (match[1] === 'under 1 s') return 0;
  return Number(match[2] ?? 0) * 60 + Number(match[3] ?? 0);
}

/** Waits until the running time shown in `locator` is later than it is now. */
async function expectTicking(locator: Locator) {
  const first = secondsIn(await locator.textContent());
  await expect.poll(async () => secondsIn(await locator.textContent()), { timeout: 5_000 }).toBeGreaterThan(first);
}

const rows = (page: Page) => page.locator('flowtrace-execution-item');
const detail = (page: Page) => page.locator('flowtrace-execution-detail');
const nodes = (page: Page) => detail(page).locator('[part~=node]');
const nodeStatuses = (page: Page) => nodes(page).evaluateAll((all) => all.map((node) => node.getAttribute('data-status')));

describe('a running step, end to end', () => {
  it('lists the execution waiting on the step, shows the step running with a time that ticks, then fulfilled', async () => {
    const page = await openPage({ 'flow-id': 'reserve-live', 'page-size': '10' });
    await expect.poll(() => page.locator('[part=empty]').count()).toBe(1);
    const release = gate();
    const run = suite.stack.scope.exec({ flow: live, input: { label: 'live', until: release.opened } });

    // The list row: pending, and the step it waits on with a running time.
    await expect.poll(() => rows(page).count(), { timeout: 10_000 }).toBe(1);
    const row = rows(page).first();
    expect(await row.getAttribute('data-status')).toBe('pending');
    const waiting = row.locator('[part=waiting]');
    await expect.poll(() => waiting.textContent(), { timeout: 10_000 }).toMatch(/^waiting on step reserve for /);
    await expectTicking(waiting);
    await row.focus();
    const tooltip = row.locator('[part=tooltip]');
    await expect.poll(() => tooltip.isVisible()).toBe(true);
    expect(await tooltip.textContent()).toMatch(/^Pending — waiting on step reserve for (under 1 s|\d+ s)$/);
    // The label assistive tech reads does not change every second.
    expect(await row.getAttribute('aria-label')).toMatch(/\d{2}:\d{2}:\d{2}( [AP]M)?\. Pending — waiting on step reserve$/);

    // The detail: steps 1 and 2 done, step 3 running, its time ticking.
    await row.click();
    await expect.poll(() => nodeStatuses(page), { timeout: 10_000 }).toEqual(['fulfilled', 'fulfilled', 'running']);
    const reserve = nodes(page).nth(2);
    expect(await reserve.locator('.name').textContent()).toBe('3 step reserve');
    const reserveTime = reserve.locator('[part=node-time]');
    expect(await reserveTime.textContent()).toMatch(/^Running for /);
    expect(await reserveTime.textContent()).not.toContain('µs');
    await expectTicking(reserveTime);
    // Its own colour, symbol and word: not the pending execution's.
    const dot = reserve.locator('flowtrace-status-dot [part=dot]');
    expect(await dot.textContent()).toBe('▶');
    const colours = await page.evaluate(() => {
      const probe = document.createElement('flowtrace-status-dot');
      document.body.append(probe);
      const colourOf = async (status: string) => {
        probe.setAttribute('status', status);
        await (probe as unknown as { updateComplete: Promise<unknown> }).updateComplete;
        return getComputedStyle(probe.shadowRoot!.querySelector('[part=dot]')!).backgroundColor;
      };
      return (async () => ({ running: await colourOf('running'), pending: await colourOf('pending'), fulfilled: await colourOf('fulfilled') }))().finally(() => probe.remove());
    });
    expect(await dot.evaluate((el) => getComputedStyle(el).backgroundColor)).toBe(colours.running);
    expect(new Set(Object.values(colours)).size).toBe(3);
    await reserve.locator('summary').click();
    expect(await reserve.locator('.body').textContent()).toContain('Data so far');
    const header = detail(page).locator('[part=header]');
    expect(await header.locator('[role=status]').textContent()).toBe('Pending — waiting on step reserve');
    expect(await header.locator('[part=duration]').textContent()).toMatch(/^running for /);
    await page.screenshot({ path: `${SHOTS}running-step.png` });

    // Released: the step and the execution end, the row stops waiting.
    release.open();
    expect(await run.result).toBe('reserved live');
    await expect.poll(() => nodeStatuses(page), { timeout: 10_000 }).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
    expect(await reserve.locator('[part=node-time]').textContent()).toMatch(/^Fulfilled · \d+(\.\d+)? s$/);
    await expect.poll(() => row.getAttribute('data-status'), { timeout: 10_000 }).toBe('fulfilled');
    expect(await waiting.count()).toBe(0);
    await expect.poll(() => detail(page).locator('[part=result] [part=tree]').textContent()).toContain('reserved live');
    await page.close();
  });

  it('marks the step still running when the execution times out as the failing step, with a real duration', async () => {
    const page = await openPage({ 'flow-id': 'reserve-timed', 'page-size': '10' });
    const release = gate();
    const run = suite.stack.scope.exec({ flow: timed, input: { label: 'hung', until: release.opened } });
    try {
      await expect.poll(() => rows(page).locator('[part=waiting]').textContent(), { timeout: 10_000 }).toMatch(/^waiting on step reserve/);
      await rows(page).first().click();
      await expect.poll(() => nodeStatuses(page), { timeout: 10_000 }).toEqual(['fulfilled', 'fulfilled', 'running']);

      // The collector decides the timeout once the budget has passed (its periodic check is off here).
      await expect
        .poll(async () => (await suite.stack.collector.reconcile(), rows(page).first().getAttribute('data-status')), { timeout: 10_000, interval: 250 })
        .toBe('error');
      await expect.poll(() => nodeStatuses(page), { timeout: 10_000 }).toEqual(['fulfilled', 'fulfilled', 'error']);
      const failing = detail(page).locator('[part~=failing]');
      expect(await failing.count()).toBe(1);
      expect(await failing.locator('.name').textContent()).toBe('3 step reserve');
      expect(await failing.getAttribute('open')).not.toBeNull();
      expect(await detail(page).locator('[part=summary]').textContent()).toContain('Failed at step reserve');
      // It ended when the timeout was decided: a real duration, never 0.
      const took = await failing.locator('[part=node-time]').textContent();
      expect(took).toMatch(/^Error · \d+(\.\d+)? (s|ms)$/);
      expect(took).not.toContain('µs');
      const duration = await detail(page).locator('[part=header] [part=duration]').textContent();
      expect(duration).toMatch(/^\d+(\.\d+)? s$/);
      expect(Number.parseFloat(duration!)).toBeGreaterThanOrEqual(BUDGET_MS / 1000);
      expect(await rows(page).first().locator('[part=tooltip]').textContent()).toBe('Error — timed out after 1.5 s');
      expect(await rows(page).first().locator('[part=waiting]').count()).toBe(0);
      await page.screenshot({ path: `${SHOTS}hung-step.png` });
    } finally {
      release.open();
      await run.result;
      await page.close();
    }
  });
});

// The rendering itself, with records handed to the elements as properties: exact texts at
// chosen times, and the timers the elements keep.

const STARTED = Date.now() - 65_000;
const iso = (ms: number) => new Date(ms).toISOString();

function node(over: Partial<ExecutionNode> & Pick<ExecutionNode, 'id' | 'name' | 'status'>): ExecutionNode {
  return {
    parentId: null,
    kind: 'fn',
    key: over.name.replace(/^step /, ''),
    flowName: null,
    depth: 1,
    index: 0,
    startedAt: iso(STARTED),
    dataKey: null,
    ...over,
  };
}

function record(over: Partial<ExecutionRecord>): ExecutionRecord {
  const nodes = over.nodes ?? [];
  return {
    id: 'exec-1',
    flowId: 'reserve',
    flowName: 'reserve',
    traceId: '0'.repeat(31) + '1',
    serviceName: 'shop',
    status: 'pending',
    startedAt: iso(STARTED),
    timeoutMs: 300_000,
    nodeCount: nodes.length,
    nodes,
    data: {},
    tags: {},
    ...over,
  };
}

const RUNNING = record({
  nodes: [
    node({ id: 'a', name: 'step price', status: 'fulfilled', endedAt: iso(STARTED + 40), durationMs: 40, output: 25, dataKey: 'price' }),
    node({ id: 'b', name: 'flow reserve', kind: 'flow', status: 'running', startedAt: iso(STARTED + 50_000) }),
    node({ id: 'c', name: 'step hold', status: 'running', depth: 2, parentId: 'b', startedAt: iso(STARTED + 60_000) }),
  ],
});

type Detail = HTMLElement & { record?: ExecutionRecord; updateComplete: Promise<unknown> };

describe('rendering running steps', () => {
  it('shows each running step with its running time, a step without an end never as 0 µs', async () => {
    const page = await openPage();
    await page.evaluate((value) => {
      const element = document.createElement('flowtrace-execution-detail') as Detail;
      element.id = 'detail';
      element.record = value;
      document.body.append(element);
    }, RUNNING);
    await expect.poll(() => nodeStatuses(page)).toEqual(['fulfilled', 'running', 'running']);
    const times = () => nodes(page).locator('[part=node-time]').allTextContents();
    const [price, flowTime, holdTime] = await times();
    expect(price).toBe('Fulfilled · 40 ms');
    expect(secondsIn(flowTime!)).toBeGreaterThanOrEqual(15);
    expect(secondsIn(holdTime!)).toBeGreaterThanOrEqual(5);
    expect(secondsIn(holdTime!)).toBeLessThan(secondsIn(flowTime!));
    // The record says what it waits on: the deepest running step.
    expect(await detail(page).locator('[part=header] [role=status]').textContent()).toBe('Pending — waiting on step hold');
    expect(secondsIn(await detail(page).locator('[part=header] [part=duration]').textContent())).toBeGreaterThanOrEqual(65);
    await expectTicking(nodes(page).nth(2).locator('[part=node-time]'));

    // Ended without a known end (an old record, or one cut short): no made-up "0 µs".
    await page.evaluate((value) => {
      (document.getElementById('detail') as Detail).record = value;
    }, record({
      status: 'error',
      errorKind: 'interrupted',
      nodes: [node({ id: 'x', name: 'step hold', status: 'error', error: { message: 'interrupted', type: 'Interrupted' } })],
    }));
    await expect.poll(() => nodeStatuses(page)).toEqual(['error']);
    expect(await nodes(page).first().locator('[part=node-time]').textContent()).toBe('Error');
    expect(await detail(page).locator('[part=header]').textContent()).not.toContain('µs');
    expect(await detail(page).locator('[part=header] [part=duration]').count()).toBe(0);
    await page.close();
  });

  it('keeps one timer for all running times, only while something runs, and none once removed', async () => {
    const page = await openPage();
    const intervals = () => page.evaluate(() => (window as unknown as { activeIntervals: () => number }).activeIntervals());
    const show = (value: ExecutionRecord) =>
      page.evaluate(async (value) => {
        const element = document.getElementById('detail') as Detail;
        element.record = value;
        await element.updateComplete;
      }, value);
    await page.evaluate(async () => {
      const element = document.createElement('flowtrace-execution-detail') as Detail;
      element.id = 'detail';
      document.body.append(element);
      await element.updateComplete;
    });
    const done = record({ status: 'fulfilled', endedAt: iso(STARTED + 100), durationMs: 100, nodes: [RUNNING.nodes[0]!] });
    await show(done);
    expect(await intervals()).toBe(0);

    // A running record and two pending rows: one shared timer, not one each.
    await show(RUNNING);
    await page.evaluate(async (started) => {
      for (const id of ['r1', 'r2']) {
        const row = document.createElement('flowtrace-execution-item') as HTMLElement & { item: unknown; updateComplete: Promise<unknown> };
        row.className = 'row';
        row.item = {
          id, flowId: 'reserve', flowName: 'reserve', status: 'pending', startedAt: started, timeoutMs: 300_000, preview: id,
          runningStep: { id: 'c', name: 'step hold', startedAt: started },
        };
        document.body.append(row);
        await row.updateComplete;
      }
    }, iso(STARTED));
    expect(await intervals()).toBe(1);
    expect(await rows(page).first().locator('[part=waiting]').textContent()).toMatch(/^waiting on step hold for 1 min \d+ s$/);
    await expectTicking(rows(page).first().locator('[part=waiting]'));

    // Nothing running any more: the timer stops.
    await page.evaluate(() => document.querySelectorAll('flowtrace-execution-item').forEach((row) => row.remove()));
    await show(done);
    expect(await intervals()).toBe(0);

    // Running again, then taken out of the page and put back.
    await show(RUNNING);
    expect(await intervals()).toBe(1);
    const element = await page.evaluateHandle(() => {
      const element = document.getElementById('detail')!;
      element.remove();
      return element;
    });
    expect(await intervals()).toBe(0);
    await page.evaluate(async (element) => {
      document.body.append(element);
      await (element as Detail).updateComplete;
    }, element);
    expect(await intervals()).toBe(1);
    await page.close();
  });
});
