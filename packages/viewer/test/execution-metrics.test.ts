import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { formatDuration } from '../src/format.js';
import type { ExecutionListItem, ExecutionStatus, FlowMetrics, Page as ListPage } from '../src/types.js';
import { SHOTS } from './support/shots.js';
import { browserSuite } from './support/suite.js';

/**
 * The flow's metrics above the list (issue 18): bars per time bucket stacked by status, a p95
 * duration line and a table, for the range the filter bar chooses; its numbers are the
 * collector's, and they agree with a count of the executions the list API returns.
 */

const suite = browserSuite({
  seed: async (s) => {
    // Five orders; quantities 0 fail validation.
    for (const qty of [1, 0, 3, 0, 5]) await s.order({ sku: `SKU-${qty}`, qty });
  },
});

const chart = (page: Page) => page.locator('flowtrace-execution-metrics');

/** What the chart draws: the count each bar stands for, summed by status. */
function drawnCounts(page: Page): Promise<Record<string, number>> {
  return chart(page)
    .locator('rect[part=bar]')
    .evaluateAll((bars) => {
      const sums: Record<string, number> = { pending: 0, fulfilled: 0, error: 0 };
      for (const bar of bars) sums[bar.getAttribute('data-status')!]! += Number(bar.getAttribute('data-count'));
      return sums;
    });
}

/** What the table says, summed by status. */
function tableCounts(page: Page): Promise<Record<string, number>> {
  return chart(page)
    .locator('td[data-status]')
    .evaluateAll((cells) => {
      const sums: Record<string, number> = { pending: 0, fulfilled: 0, error: 0 };
      for (const cell of cells) sums[cell.getAttribute('data-status')!]! += Number(cell.textContent);
      return sums;
    });
}

/** An independent count: every execution of the flow from the list API, by status. */
async function listedCounts(): Promise<Record<ExecutionStatus, number>> {
  const counts: Record<ExecutionStatus, number> = { pending: 0, fulfilled: 0, error: 0 };
  for (let page = 1; ; page++) {
    const list = (await (await fetch(`${suite.stack.url}/api/flows/checkout/executions?limit=100&page=${page}`)).json()) as ListPage<ExecutionListItem>;
    for (const item of list.items) counts[item.status]++;
    if (page >= list.totalPages) return counts;
  }
}

describe('the metrics chart', () => {
  it('draws the collector’s counts per bucket and status, equal to a count of the listed executions, for the filter bar’s range', async () => {
    const page = await suite.openTab({ 'flow-id': 'checkout' });
    const expected = await listedCounts();
    expect(expected).toEqual({ pending: 0, fulfilled: 3, error: 2 });
    await expect.poll(() => drawnCounts(page)).toEqual(expected);
    // Without a range: the last 24 hours, by the hour.
    expect(await chart(page).locator('[part=chart]').getAttribute('data-bucket')).toBe('1h');
    expect(await chart(page).locator('[part=summary]').textContent()).toMatch(/^5 executions: 3 fulfilled, 2 error, 0 pending · error rate 40 % · p95 up to \d/);
    await chart(page).locator('[part=table] summary').click();
    expect(await tableCounts(page)).toEqual(expected);

    // The filter bar's range is the chart's: the last hour, by the minute.
    await page.locator('[part=filter-range]').selectOption('1h');
    const figure = chart(page).locator('[part=chart]');
    await expect.poll(() => figure.getAttribute('data-bucket')).toBe('1m');
    const from = Date.parse((await figure.getAttribute('data-from'))!);
    const to = Date.parse((await figure.getAttribute('data-to'))!);
    expect(to - from).toBe(60 * 60_000);
    expect(await drawnCounts(page)).toEqual(expected);

    // Bucket by bucket, the bars and the table are the endpoint's figures for that range.
    const metrics = (await (
      await fetch(`${suite.stack.url}/api/flows/checkout/metrics?${new URLSearchParams({ from: new Date(from).toISOString(), to: new Date(to).toISOString(), bucket: '1m' })}`)
    ).json()) as FlowMetrics;
    const busy = metrics.buckets.filter((bucket) => bucket.counts.fulfilled + bucket.counts.error + bucket.counts.pending > 0);
    const rows = chart(page).locator('tbody tr');
    expect(await rows.count()).toBe(busy.length);
    for (const [i, bucket] of busy.entries()) {
      const row = rows.nth(i);
      expect(await row.getAttribute('data-start')).toBe(bucket.start);
      for (const status of ['fulfilled', 'error', 'pending'] as const) {
        expect(Number(await row.locator(`td[data-status=${status}]`).textContent())).toBe(bucket.counts[status]);
        const bar = chart(page).locator(`rect[data-start="${bucket.start}"][data-status=${status}]`);
        expect(bucket.counts[status] === 0 ? await bar.count() : Number(await bar.getAttribute('data-count'))).toBe(bucket.counts[status] === 0 ? 0 : bucket.counts[status]);
      }
      // The endpoint's error rate and durations, as the table shows them.
      expect(await row.locator('td[data-error-rate]').textContent()).toBe(bucket.errorRate === null ? '–' : `${Math.round(bucket.errorRate * 1000) / 10} %`);
      for (const key of ['p50', 'p95', 'p99', 'max'] as const) {
        expect(await row.locator(`td[data-duration=${key}]`).textContent()).toBe(bucket.durationMs ? formatDuration(bucket.durationMs[key]) : '–');
      }
    }
    // A duration line on its own scale, and axis labels.
    expect(await chart(page).locator('[part=duration-line]').count()).toBeGreaterThan(0);
    const most = Math.max(...busy.map((bucket) => bucket.counts.fulfilled + bucket.counts.error + bucket.counts.pending));
    expect(await chart(page).locator('[part=axis] text').allTextContents()).toEqual(expect.arrayContaining(['0', String(most)]));
    await page.mouse.move(5, 5);
    await page.screenshot({ path: `${SHOTS}metrics-chart.png` });
    await page.close();
  });

  it('reads the metrics again when an execution of the flow arrives live', async () => {
    const page = await suite.openTab({ 'flow-id': 'checkout' });
    const before = await listedCounts();
    await expect.poll(() => drawnCounts(page)).toEqual(before);
    await suite.stack.order({ sku: 'SKU-late', qty: 0 });
    await suite.stack.flush();
    await expect.poll(() => drawnCounts(page), { timeout: 10_000 }).toEqual({ ...before, error: before.error + 1 });
    expect(await listedCounts()).toEqual({ ...before, error: before.error + 1 });
    await page.close();
  });
});
