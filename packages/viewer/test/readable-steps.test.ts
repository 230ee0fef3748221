import { custom, flow } from '@pumped-fn/core-next';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { SHOTS } from './support/shots.js';
import { browserSuite } from './support/suite.js';

/**
 * Readable steps (issue 17): the detail shows the steps as the tree they ran in, built from
 * `parentId`, numbered by nesting, parallel members under their parallel step; a failing step's
 * stack shows the reader's own frames, with flowtrace's, OpenTelemetry's, pumped-fn's and Node's
 * folded behind a toggle.
 */

const pack = flow({ name: 'pack', input: custom<number>(), output: custom<number>() }, async (ctx, n) => {
  await ctx.exec({ fn: () => n, key: 'box' });
  await ctx.exec({ fn: () => n + 1, key: 'label' });
  return n;
});

function confirmCourier(courier: string): string {
  throw new Error(`no courier ${courier}`);
}

const ship = flow({ name: 'ship', input: custom<{ courier: string }>(), output: custom<string>() }, async (ctx, input) => {
  await ctx.exec({ flow: pack, input: 1, key: 'pack' });
  await ctx.parallel([ctx.exec({ fn: async () => 'a', key: 'quote-a' }), ctx.exec({ fn: async () => 'b', key: 'quote-b' })]);
  return ctx.exec({ fn: () => confirmCourier(input.courier), key: 'confirm' });
});

const suite = browserSuite({
  seed: async (s) => {
    await s.scope.exec({ flow: ship, input: { courier: 'north' } }).result.catch(() => {});
  },
  viewport: { width: 1280, height: 900 },
});

async function openShip(): Promise<Page> {
  // A missing element fails the test with the locator that found nothing, within the test's time.
  const page = await suite.newPage();
  await page.goto(`${suite.host.origin}/?flow-id=ship`);
  await page.locator('flowtrace-execution-item').first().click();
  return page;
}

describe('the steps of an execution', () => {
  it('are a tree from parentId, numbered by nesting, parallel members under their parallel step', async () => {
    const page = await openShip();
    const detail = page.locator('flowtrace-execution-detail');
    await expect.poll(() => detail.locator('[part~=node]').count()).toBe(7);
    expect(await detail.locator('[part~=node] .name').allTextContents()).toEqual([
      '1 flow pack',
      '1.1 step box',
      '1.2 step label',
      '2 parallel',
      '2.1 step quote-a',
      '2.2 step quote-b',
      '3 step confirm',
    ]);
    // Nested lists: each member sits inside its parent's list item, so its depth is told, not only drawn.
    const placed = Object.fromEntries(
      await detail.locator('[part~=node]').evaluateAll((nodes) =>
        nodes.map((el) => {
          const outer = el.closest('li')!.parentElement!.closest('li');
          const parent = outer?.querySelector(':scope > details .name')?.textContent ?? null;
          return [el.querySelector('.name')!.textContent, { parent, x: el.getBoundingClientRect().x }];
        }),
      ),
    );
    expect(placed['2.2 step quote-b']!.parent).toBe('2 parallel');
    expect(placed['1.2 step label']!.parent).toBe('1 flow pack');
    expect(placed['3 step confirm']!.parent).toBeNull();
    expect(placed['2.1 step quote-a']!.x).toBeGreaterThan(placed['2 parallel']!.x);
    await page.close();
  });

  it('fold library frames of a stack behind a toggle', async () => {
    const page = await openShip();
    const failing = page.locator('flowtrace-execution-detail [part~=failing]');
    await expect.poll(() => failing.locator('.name').textContent()).toBe('3 step confirm');
    const stackText = failing.locator('[part=stack]');
    await expect.poll(() => stackText.textContent()).toContain('Error: no courier north');
    const folded = await stackText.textContent();
    expect(folded).toContain('confirmCourier');
    expect(folded).not.toMatch(/node_modules[\\/]@pumped-fn/);
    expect(folded).not.toMatch(/\(node:internal/);
    expect(folded).toMatch(/… \d+ library frames?/);
    const toggle = failing.locator('[part=toggle]');
    expect(await toggle.getAttribute('aria-expanded')).toBe('false');
    expect(await toggle.textContent()).toMatch(/Show \d+ library frames?/);
    await page.mouse.move(1200, 880);
    await page.screenshot({ path: `${SHOTS}steps-tree.png` });

    await toggle.press('Enter');
    await expect.poll(() => toggle.getAttribute('aria-expanded')).toBe('true');
    const full = await stackText.textContent();
    expect(full).toMatch(/node_modules[\\/]@pumped-fn/);
    expect(full).not.toContain('library frame');
    await toggle.click();
    await expect.poll(() => stackText.textContent()).toBe(folded);
    await page.close();
  });
});
