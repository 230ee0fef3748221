import { custom, flow } from '@pumped-fn/core-next';
import { describe, expect, it } from 'vitest';
import { browserSuite } from './support/suite.js';

/**
 * Text the viewer shows comes from whoever calls the traced app. A right-to-left override in it
 * must not reorder what the viewer writes around it, and a trace-url template must not turn
 * into a script link.
 */

const RLO = '\u202e';
const transfer = flow({ name: 'transfer', input: custom<{ to: string }>(), output: custom<string>() }, async (ctx, input) =>
  ctx.exec({
    fn: () => {
      throw new Error(`refused ${RLO}exe.txt`);
    },
    key: `pay ${RLO}lanigiro`,
    params: [input.to],
  }),
);

const suite = browserSuite({
  seed: async (s) => {
    await s.scope.exec({ flow: transfer, input: { to: `acct ${RLO}1234` } }).result.catch(() => {});
  },
});

describe('hostile text in the Usage tab', () => {
  it('isolates user text that carries direction controls, so what follows it stays in place', async () => {
    const page = await suite.newPage();
    await page.goto(`${suite.host.origin}/?flow-id=transfer`);
    const row = page.locator('flowtrace-execution-item').first();
    await expect.poll(() => row.getAttribute('data-status')).toBe('error');
    expect(await row.locator('[part=preview]').textContent()).toMatch(/^\u2068.*\u202e1234.*\u2069$/);
    await row.click();

    const summary = page.locator('flowtrace-execution-detail [part=summary]');
    await expect.poll(() => summary.textContent()).toContain('refused');
    const message = summary.locator('span').first();
    expect(await message.textContent()).toBe(`\u2068refused ${RLO}exe.txt\u2069`);
    // The error type written after the message is still to its right: the override stopped at the message's end.
    const type = summary.locator('.took');
    const [messageBox, typeBox] = [(await message.boundingBox())!, (await type.boundingBox())!];
    expect(typeBox.x).toBeGreaterThanOrEqual(messageBox.x + messageBox.width - 1);
    expect(await type.textContent()).toBe('(Error)');
    await page.close();
  });

  it('links trace ids only through http(s) templates', async () => {
    const page = await suite.newPage();
    await page.goto(`${suite.host.origin}/?flow-id=transfer&trace-url=${encodeURIComponent('javascript:alert(1)//{traceId}')}`);
    const row = page.locator('flowtrace-execution-item').first();
    await expect.poll(() => row.getAttribute('data-status')).toBe('error');
    await row.click();
    const header = page.locator('flowtrace-execution-detail [part=header]');
    await expect.poll(() => header.textContent()).toContain('Trace');
    expect(await page.locator('flowtrace-execution-detail [part=trace-link]').count()).toBe(0);
    await page.close();
  });
});
