import { custom, flow } from '@pumped-fn/core-next';
import type { Locator, Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import type { ExecutionNode, ExecutionRecord } from '../src/types.js';
import { SHOTS } from './support/shots.js';
import { gate } from './support/stack.js';
import { browserSuite } from './support/suite.js';

/**
 * The timeline (issue 18): an execution's steps as bars on a time axis from its start, placed and
 * sized by the API's startedAt and durationMs, nested under their parents, parallel steps
 * overlapping; the failing step selected; clicks and keys select a step and show its data;
 * running steps grow; a 10,000-step execution renders only what is on screen.
 */

/** Work that takes a while inside a traced step (not a wait of the test's own). */
const work = <T>(ms: number, value: T) => new Promise<T>((resolve) => setTimeout(() => resolve(value), ms));

const holdSeat = flow({ name: 'hold-seat', input: custom<string>(), output: custom<string>() }, async (ctx, seat) => {
  await ctx.exec({ fn: () => work(30, seat), key: 'lock' });
  await ctx.exec({ fn: () => work(20, seat), key: 'note' });
  return seat;
});

const planTrip = flow({ name: 'plan-trip', input: custom<{ to: string }>(), output: custom<string>() }, async (ctx, input) => {
  await ctx.exec({ flow: holdSeat, input: '12A', key: 'hold' });
  await ctx.parallel([ctx.exec({ fn: () => work(80, 'rail'), key: 'quote-rail' }), ctx.exec({ fn: () => work(40, 'bus'), key: 'quote-bus' })]);
  return ctx.exec({
    fn: () => {
      throw new Error(`no seat to ${input.to}`);
    },
    key: 'confirm',
  });
});

/** A step that takes a while, then one that waits on the test. */
const slowStart = flow({ name: 'slow-start', input: custom<{ until: Promise<void> }>(), output: custom<string>() }, async (ctx, input) => {
  await ctx.exec({ fn: () => work(300, 'ready'), key: 'prepare' });
  await ctx.exec({ fn: () => input.until, key: 'reserve' });
  return 'done';
});

const suite = browserSuite({
  seed: async (s) => {
    await s.scope.exec({ flow: planTrip, input: { to: 'Lyon' } }).result.catch(() => {});
  },
});

const timeline = (page: Page) => page.locator('flowtrace-execution-timeline');
const timelineRows = (page: Page) => timeline(page).locator('[role=treeitem]');
const selectedRow = (page: Page) => timeline(page).locator('[role=treeitem][aria-selected=true]');

interface Drawn {
  id: string;
  level: number;
  status: string;
  left: number;
  width: number;
  trackLeft: number;
  trackWidth: number;
  time: string;
}

/** Each drawn row: its step, level, and its bar's place on its track, in pixels. */
function drawn(page: Page): Promise<Drawn[]> {
  return timelineRows(page).evaluateAll((rows) =>
    rows.map((row) => {
      const bar = row.querySelector('[part=bar]')!.getBoundingClientRect();
      const track = row.querySelector('.track')!.getBoundingClientRect();
      return {
        id: row.getAttribute('data-node-id')!,
        level: Number(row.getAttribute('aria-level')),
        status: row.getAttribute('data-status')!,
        left: bar.left,
        width: bar.width,
        trackLeft: track.left,
        trackWidth: track.width,
        time: row.querySelector('[part=bar-time]')!.textContent ?? '',
      };
    }),
  );
}

async function openPlanTrip(query: Record<string, string> = {}): Promise<{ page: Page; record: ExecutionRecord }> {
  const page = await suite.openTab({ 'flow-id': 'plan-trip', ...query });
  const row = page.locator('flowtrace-execution-item').first();
  await row.click();
  const id = await row.getAttribute('data-id');
  const response = await fetch(`${suite.stack.url}/api/flows/plan-trip/executions/${id}`);
  return { page, record: (await response.json()) as ExecutionRecord };
}

const isFocused = (locator: Locator) => locator.evaluate((el) => (el.getRootNode() as ShadowRoot).activeElement === el);

describe('the timeline of an execution', () => {
  it('places and sizes each bar by the step’s start and duration, nested under its parent, parallel steps overlapping', async () => {
    const { page, record } = await openPlanTrip();
    await page.locator('[part=steps-view] button', { hasText: 'Timeline' }).click();
    await expect.poll(() => timelineRows(page).count()).toBe(record.nodes.length);
    const bars = await drawn(page);

    // The axis runs from the execution's start to its end (or a later step's end).
    const origin = Date.parse(record.startedAt);
    const ends = record.nodes.map((node) => Date.parse(node.startedAt) + (node.durationMs ?? 0));
    const span = Math.max(Date.parse(record.endedAt!), ...ends) - origin;
    const byId = new Map(record.nodes.map((node) => [node.id, node]));
    expect(new Set(bars.map((bar) => bar.id))).toEqual(new Set(byId.keys()));
    for (const bar of bars) {
      const node = byId.get(bar.id)!;
      const pxPerMs = bar.trackWidth / span;
      // Starts are whole milliseconds in the API: allow one, and a pixel of rounding.
      const slack = pxPerMs + 1.5;
      expect(bar.left - bar.trackLeft).toBeGreaterThanOrEqual((Date.parse(node.startedAt) - origin) * pxPerMs - slack);
      expect(bar.left - bar.trackLeft).toBeLessThanOrEqual((Date.parse(node.startedAt) - origin) * pxPerMs + slack);
      // A bar is at least 2 px wide, so an instant step still shows.
      expect(bar.width).toBeCloseTo(Math.max(2, node.durationMs! * pxPerMs), -0.5);
      expect(bar.status).toBe(node.status);
    }

    // Nesting: each row sits right under its parent's subtree, one level deeper, inside its parent's bar.
    for (const [i, bar] of bars.entries()) {
      const parentId = byId.get(bar.id)!.parentId;
      const parentIndex = bars.findIndex((other) => other.id === parentId);
      if (parentIndex < 0) {
        expect(bar.level).toBe(1);
        continue;
      }
      const parent = bars[parentIndex]!;
      expect(parentIndex).toBeLessThan(i);
      expect(bar.level).toBe(parent.level + 1);
      expect(bar.left).toBeGreaterThanOrEqual(parent.left - 1.5);
      expect(bar.left + bar.width).toBeLessThanOrEqual(parent.left + parent.width + 1.5);
    }
    // Siblings in the order they started, top to bottom and left to right.
    const top = bars.filter((bar) => bar.level === 1);
    expect(top.map((bar) => bar.left)).toEqual([...top.map((bar) => bar.left)].sort((a, b) => a - b));

    // The parallel step's two quotes overlap: the second starts before the first ends.
    const parallel = record.nodes.find((node) => node.kind === 'parallel')!;
    const quotes = bars.filter((bar) => byId.get(bar.id)!.parentId === parallel.id);
    expect(quotes).toHaveLength(2);
    const [a, b] = quotes as [Drawn, Drawn];
    expect(Math.max(a.left, b.left)).toBeLessThan(Math.min(a.left + a.width, b.left + b.width) - 10);

    // Duration labels, status by symbol as well as colour, and the failing step selected and outlined.
    const rail = bars.find((bar) => byId.get(bar.id)!.key === 'quote-rail')!;
    expect(rail.time).toMatch(/^\d+ ms$/);
    const failing = timeline(page).locator('[part~=failing]');
    expect(await failing.count()).toBe(1);
    expect(await failing.getAttribute('data-node-id')).toBe(record.errorInfo!.nodeId);
    expect(await failing.getAttribute('aria-selected')).toBe('true');
    expect(await failing.locator('[part=dot]').textContent()).toBe('✕');
    expect(await timeline(page).getByRole('treeitem', { name: /^3 step confirm Error, failing step \d+ ms$/ }).getAttribute('aria-selected')).toBe('true');
    const selected = page.locator('flowtrace-execution-detail [part=selected-step]');
    expect(await selected.textContent()).toContain('no seat to Lyon');
    await page.mouse.move(5, 5);
    await page.screenshot({ path: `${SHOTS}timeline.png` });
    await page.close();
  });

  it('selects a step on click to show its data, the same step the tree then shows open; the view stays in the URL', async () => {
    const { page, record } = await openPlanTrip({ 'url-state': '' });
    await page.locator('[part=steps-view] button', { hasText: 'Timeline' }).click();
    await expect.poll(() => new URL(page.url()).searchParams.get('steps')).toBe('timeline');
    const events: unknown[] = [];
    await page.exposeFunction('recordStep', (detail: unknown) => events.push(detail));
    await page.evaluate(() =>
      document.addEventListener('flowtrace-step-select', (event) => (window as unknown as { recordStep(d: unknown): void }).recordStep((event as CustomEvent).detail)),
    );
    const lock = record.nodes.find((node) => node.key === 'lock')!;
    await timeline(page).locator(`[data-node-id="${lock.id}"] [part=bar]`).click();
    await expect.poll(() => selectedRow(page).getAttribute('data-node-id')).toBe(lock.id);
    expect(events).toEqual([{ executionId: record.id, nodeId: lock.id }]);
    const selected = page.locator('flowtrace-execution-detail [part=selected-step]');
    await expect.poll(() => selected.textContent()).toContain('step lock');
    expect(await selected.textContent()).toContain('Data after this step');
    // Its output, in the data view.
    expect(await selected.locator('flowtrace-json-view').first().locator('[part=tree]').textContent()).toContain('12A');

    // The tree opens the step selected on the timeline.
    await page.locator('[part=steps-view] button', { hasText: 'Tree' }).click();
    const openStep = page.locator(`flowtrace-execution-detail details[data-node-id="${lock.id}"]`);
    await expect.poll(() => openStep.getAttribute('open')).not.toBeNull();
    await expect.poll(() => new URL(page.url()).searchParams.has('steps')).toBe(false);

    // A link to the timeline opens it.
    await page.locator('[part=steps-view] button', { hasText: 'Timeline' }).click();
    await expect.poll(() => new URL(page.url()).searchParams.get('steps')).toBe('timeline');
    await page.reload();
    await expect.poll(() => timelineRows(page).count()).toBe(record.nodes.length);
    await page.close();
  });

  it('moves the selection with the keyboard: arrows, Left to the parent, Right to the first child, Home and End', async () => {
    const { page, record } = await openPlanTrip({ 'steps-view': 'timeline' });
    await expect.poll(() => timelineRows(page).count()).toBe(record.nodes.length);
    const ids = await timelineRows(page).evaluateAll((rows) => rows.map((row) => row.getAttribute('data-node-id')!));
    // One row takes Tab: the selected (failing, last) one.
    expect(await timeline(page).locator('[role=treeitem][tabindex="0"]').getAttribute('data-node-id')).toBe(record.errorInfo!.nodeId);
    await timeline(page).locator('[role=treeitem][tabindex="0"]').focus();
    const at = async () => {
      const row = selectedRow(page);
      expect(await isFocused(row)).toBe(true);
      expect(await row.getAttribute('tabindex')).toBe('0');
      return ids.indexOf((await row.getAttribute('data-node-id'))!);
    };
    await page.keyboard.press('Home');
    expect(await at()).toBe(0);
    await page.keyboard.press('ArrowRight');
    expect(await at()).toBe(1);
    expect(record.nodes.find((node) => node.id === ids[1])!.parentId).toBe(ids[0]);
    await page.keyboard.press('ArrowDown');
    expect(await at()).toBe(2);
    await page.keyboard.press('ArrowLeft');
    expect(await at()).toBe(0);
    await page.keyboard.press('End');
    expect(await at()).toBe(ids.length - 1);
    await page.keyboard.press('ArrowUp');
    expect(await at()).toBe(ids.length - 2);
    await expect.poll(() => page.locator('flowtrace-execution-detail [part=selected-step]').textContent()).toContain('step quote-bus');
    await page.close();
  });

  it('grows a running step’s bar with the clock', async () => {
    const page = await suite.openTab({ 'flow-id': 'slow-start', 'steps-view': 'timeline' });
    const release = gate();
    const run = suite.stack.scope.exec({ flow: slowStart, input: { until: release.opened } });
    try {
      const row = page.locator('flowtrace-execution-item').first();
      await expect.poll(() => row.locator('[part=waiting]').count(), { timeout: 10_000 }).toBe(1);
      await row.click();
      await expect.poll(() => timelineRows(page).evaluateAll((rows) => rows.map((r) => r.getAttribute('data-status')))).toEqual(['fulfilled', 'running']);
      // The running bar against the finished one (300 ms): its share grows as time passes.
      const ratio = async () => {
        const [prepare, reserve] = await drawn(page);
        return reserve!.width / prepare!.width;
      };
      const first = await ratio();
      await expect.poll(ratio, { timeout: 5_000 }).toBeGreaterThan(first + 1);
      const [, reserve] = await drawn(page);
      expect(reserve!.time).toMatch(/^running for /);
      // It reaches the axis' end: now.
      expect(reserve!.left + reserve!.width).toBeCloseTo(reserve!.trackLeft + reserve!.trackWidth, 0);
      await page.mouse.move(5, 5);
      await page.screenshot({ path: `${SHOTS}timeline-running.png` });

      release.open();
      await run.result;
      await expect.poll(() => timelineRows(page).evaluateAll((rows) => rows.map((r) => r.getAttribute('data-status'))), { timeout: 10_000 }).toEqual([
        'fulfilled',
        'fulfilled',
      ]);
      expect((await drawn(page))[1]!.time).toMatch(/^\d+(\.\d+)? m?s$/);
    } finally {
      release.open();
      await run.result;
      await page.close();
    }
  });
});

describe('a 10,000-step timeline', () => {
  it('renders only the rows on screen, reaches the last by keyboard, and isolates step names', async () => {
    const page = await suite.openTab();
    const started = Date.now() - 60_000;
    const nodes: ExecutionNode[] = [];
    for (let chunk = 0; chunk < 100; chunk++) {
      const chunkId = `c${chunk}`;
      const base = { kind: 'fn', flowName: null, dataKey: null, status: 'fulfilled' } as const;
      nodes.push({ ...base, id: chunkId, parentId: null, name: chunk === 0 ? 'flow pay \u202elanigiro' : `flow chunk-${chunk}`, kind: 'flow', key: `chunk-${chunk}`, depth: 1, index: chunk, startedAt: new Date(started + chunk * 500).toISOString(), durationMs: 490 });
      for (let row = 0; row < 99; row++) {
        nodes.push({ ...base, id: `${chunkId}-${row}`, parentId: chunkId, name: `step row-${row}`, key: `row-${row}`, depth: 2, index: row, startedAt: new Date(started + chunk * 500 + row * 4).toISOString(), durationMs: 4 });
      }
    }
    const record = {
      id: 'big', flowId: 'bulk', flowName: 'bulk', traceId: '0'.repeat(31) + '1', serviceName: 'shop', status: 'fulfilled',
      startedAt: new Date(started).toISOString(), endedAt: new Date(started + 50_000).toISOString(), durationMs: 50_000, timeoutMs: 300_000,
      nodeCount: nodes.length, nodes, data: {}, tags: {},
    } satisfies ExecutionRecord;
    await page.evaluate(async (value) => {
      const element = document.createElement('flowtrace-execution-timeline') as HTMLElement & { record: unknown; updateComplete: Promise<unknown> };
      element.record = value;
      document.body.append(element);
      await element.updateComplete;
    }, record);
    const count = () => timelineRows(page).count();
    expect(await count()).toBeGreaterThan(10);
    expect(await count()).toBeLessThan(80);
    expect(await timeline(page).locator('[role=tree] > div').evaluate((el) => el.getBoundingClientRect().height)).toBe(10_000 * 26);
    // The name's direction override stays inside it.
    expect(await timelineRows(page).first().locator('.name').textContent()).toBe('\u2068flow pay \u202elanigiro\u2069');

    await timelineRows(page).first().click();
    await page.keyboard.press('End');
    await expect.poll(() => selectedRow(page).getAttribute('data-node-id')).toBe('c99-98');
    expect(await isFocused(selectedRow(page))).toBe(true);
    expect(await selectedRow(page).getAttribute('aria-posinset')).toBe('99');
    expect(await selectedRow(page).getAttribute('aria-setsize')).toBe('99');
    expect(await count()).toBeLessThan(80);
    await page.keyboard.press('ArrowLeft');
    await expect.poll(() => selectedRow(page).getAttribute('data-node-id')).toBe('c99');
    await page.keyboard.press('PageUp');
    await expect.poll(() => selectedRow(page).getAttribute('data-node-id')).toBe('c98-89');
    expect(await isFocused(selectedRow(page))).toBe(true);
    await page.close();
  });
});
