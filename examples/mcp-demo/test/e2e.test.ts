import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, launchChromium, mcpClient, tempDb, waitForExecution } from './support.js';

const START = fileURLToPath(new URL('../dist/start.js', import.meta.url));
const SHOTS = fileURLToPath(new URL('../test-results/', import.meta.url));
mkdirSync(SHOTS, { recursive: true });

let browser: Browser;
beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});

describe('npm start', () => {
  it('runs collector, demo server and client; a tool call shows pending then fulfilled, a failing one red with its failing step', async () => {
    const [collectorPort, mcpPort] = [await freePort(), await freePort()];
    const collectorUrl = `http://127.0.0.1:${collectorPort}`;
    const child = spawn(process.execPath, [START], {
      env: { ...process.env, FLOWTRACE_PORT: String(collectorPort), DEMO_MCP_PORT: String(mcpPort), FLOWTRACE_DB: tempDb(), DEMO_CLIENT_INTERVAL_MS: '1500' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    try {
      await expect.poll(() => output, { timeout: 30_000 }).toContain('flowtrace is running');
      expect(output).toContain(`Usage tab:   ${collectorUrl}/`);

      const client = await mcpClient(`http://127.0.0.1:${mcpPort}/mcp`);
      const month = `e2e-${randomUUID().slice(0, 8)}`;
      const report = client.callTool({ name: 'monthly_report', arguments: { month, stageMs: 1500 } });

      const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
      await page.goto(`${collectorUrl}/#flow=monthly-report`);
      const row = page.locator('flowtrace-execution-item', { hasText: month });
      await expect.poll(() => row.getAttribute('data-status'), { timeout: 20_000 }).toBe('pending');
      await row.click();
      await expect.poll(() => page.locator('flowtrace-execution-detail [part=header]').textContent()).toContain('Pending');
      await page.screenshot({ path: `${SHOTS}demo-pending.png` });

      const result = await report;
      expect(result.isError).toBeFalsy();
      expect(result.structuredContent).toEqual({ month, pages: expect.any(Number) });
      await expect.poll(() => row.getAttribute('data-status'), { timeout: 20_000 }).toBe('fulfilled');
      const names = page.locator('flowtrace-execution-detail [part~=node] .name');
      await expect.poll(() => names.allTextContents(), { timeout: 10_000 }).toEqual([
        '1 flow monthly-report',
        '1.1 step gather',
        '1.2 step analyse',
        '1.3 step render',
      ]);

      // The tool's timeoutMs (60 s) is the record's budget, not the collector's 5-minute default.
      const done = await waitForExecution(collectorUrl, 'monthly-report', month, (item) => item.status === 'fulfilled');
      expect((done as { timeoutMs?: number }).timeoutMs).toBe(60_000);

      // A call the client cancels ends `cancelled` as soon as the cancellation reaches the server.
      const abandoned = `e2e-${randomUUID().slice(0, 8)}`;
      const controller = new AbortController();
      const cancelled = client.callTool({ name: 'monthly_report', arguments: { month: abandoned, stageMs: 5000 } }, undefined, { signal: controller.signal });
      await waitForExecution(collectorUrl, 'monthly-report', abandoned, (item) => item.status === 'pending');
      controller.abort('the e2e test gave up');
      await expect(cancelled).rejects.toThrow();
      const ended = await waitForExecution(collectorUrl, 'monthly-report', abandoned, (item) => item.status === 'error');
      expect(ended.errorKind).toBe('cancelled');

      const source = `e2e-${randomUUID().slice(0, 8)}`;
      const failed = await client.callTool({ name: 'sync_inventory', arguments: { source, failAt: 'transform' } });
      expect(failed.isError).toBe(true);
      await page.goto(`${collectorUrl}/#flow=sync-inventory`);
      const red = page.locator('flowtrace-execution-item', { hasText: source });
      await expect.poll(() => red.getAttribute('data-status'), { timeout: 20_000 }).toBe('error');
      await red.click();
      const failing = page.locator('flowtrace-execution-detail [part~=failing]');
      await expect.poll(() => failing.locator('.name').textContent(), { timeout: 10_000 }).toContain('step transform');
      expect(await failing.textContent()).toContain(`transform failed: ${source} did not answer`);
      await page.screenshot({ path: `${SHOTS}demo-error.png` });
      await page.close();
      await client.close();
      // The demo client calls tools too (its first call may be the slow report).
      await expect.poll(() => output, { timeout: 30_000 }).toMatch(/\[demo-client\] \w+ → (ok|error)/);
      expect(output).not.toContain('request failed');
    } finally {
      child.kill('SIGINT');
      const [code] = await once(child, 'exit');
      expect(code).toBe(0);
    }
    // Everything it started is gone: both ports are free again.
    await expect.poll(async () => fetch(`${collectorUrl}/healthz`).then(() => 'up', () => 'down')).toBe('down');
    await expect.poll(async () => fetch(`http://127.0.0.1:${mcpPort}/mcp`).then(() => 'up', () => 'down')).toBe('down');
  }, 120_000);
});
