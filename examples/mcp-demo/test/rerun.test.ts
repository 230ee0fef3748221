import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, launchChromium, mcpClient, tempDb, waitForExecution } from './support.js';

/**
 * Re-run from the Usage page (issue 18) in `npm start`: the page's handler posts to the demo
 * server's /rerun, which calls the flow's tool through an MCP client, and the new execution opens.
 */

const START = fileURLToPath(new URL('../dist/start.js', import.meta.url));
const SHOTS = fileURLToPath(new URL('../test-results/', import.meta.url));

let browser: Browser;
let child: ChildProcess;
let collectorUrl: string;
let rerunUrl: string;
let mcpUrl: string;

beforeAll(async () => {
  const [collectorPort, mcpPort] = [await freePort(), await freePort()];
  collectorUrl = `http://127.0.0.1:${collectorPort}`;
  rerunUrl = `http://127.0.0.1:${mcpPort}/rerun`;
  mcpUrl = `http://127.0.0.1:${mcpPort}/mcp`;
  child = spawn(process.execPath, [START], {
    env: { ...process.env, FLOWTRACE_PORT: String(collectorPort), DEMO_MCP_PORT: String(mcpPort), FLOWTRACE_DB: tempDb(), DEMO_CLIENT: 'off' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('flowtrace is running')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`npm start exited (${code}):\n${output}`)));
  });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  if (child && child.exitCode === null) {
    child.kill('SIGINT');
    await once(child, 'exit');
  }
});

const post = (body: string, origin?: string) =>
  fetch(rerunUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...(origin ? { origin } : {}) }, body });

describe('re-run in npm start', () => {
  it('re-runs an execution from the Usage page with edited parameters and opens the new one', async () => {
    const client = await mcpClient(mcpUrl);
    const first = `ada-${randomUUID().slice(0, 8)}`;
    const order = { customer: first, items: [{ sku: 'mug', qty: 1 }], card: '4242424242424242' };
    await client.callTool({ name: 'place_order', arguments: order });
    await client.close();
    const original = await waitForExecution(collectorUrl, 'place-order', first, (item) => item.status === 'fulfilled');

    const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    await page.goto(`${collectorUrl}/?flow=place-order&execution=${original.id}`);
    const detail = page.locator('flowtrace-execution-detail');
    await expect.poll(() => detail.locator('[part=header]').textContent(), { timeout: 20_000 }).toContain(original.id);
    await detail.getByRole('button', { name: 'Re-run…' }).click();
    const editor = detail.getByRole('textbox', { name: 'Parameters (JSON)' });
    // The parameters as recorded: the tracer redacted the card, so the reader types one in.
    expect(JSON.parse(await editor.inputValue())).toEqual({ ...order, card: '[REDACTED]' });

    const second = `grace-${randomUUID().slice(0, 8)}`;
    const edited = { ...order, customer: second, items: [{ sku: 'kettle', qty: 2 }] };
    await editor.fill(JSON.stringify(edited, null, 2));
    await detail.getByRole('button', { name: 'Run', exact: true }).click();

    // The demo ran the tool again: the new execution opens, in the page's URL too.
    await expect.poll(() => new URL(page.url()).searchParams.get('execution'), { timeout: 20_000 }).not.toBe(original.id);
    const rerunId = new URL(page.url()).searchParams.get('execution')!;
    expect(rerunId).toBeTruthy();
    await expect.poll(() => detail.locator('[part=header]').textContent(), { timeout: 20_000 }).toContain(rerunId);
    await expect.poll(() => detail.locator('[part=params] [part=tree]').textContent(), { timeout: 20_000 }).toContain(second);
    const record = (await (await fetch(`${collectorUrl}/api/executions/${rerunId}`)).json()) as { flowId: string; initialParams: unknown; toolName?: string };
    expect(record.flowId).toBe('place-order');
    expect(record.initialParams).toEqual({ ...edited, card: '[REDACTED]' });
    await waitForExecution(collectorUrl, 'place-order', second, (item) => item.status === 'fulfilled');
    await page.screenshot({ path: `${SHOTS}demo-rerun.png` });
    await page.close();
  });

  it('refuses other origins with 403, answers CORS only for the Usage page, and says what is wrong with bad input (400)', async () => {
    const body = JSON.stringify({ flowId: 'place-order', params: { customer: 'x', items: [], card: '4242' } });
    for (const origin of ['http://evil.example', `${collectorUrl}.evil.example`, undefined]) {
      const refused = await post(body, origin);
      expect(refused.status, String(origin)).toBe(403);
      expect(refused.headers.get('access-control-allow-origin')).toBeNull();
      expect(((await refused.json()) as { message: string }).message).toContain('allowed only from the Usage page');
    }

    const preflight = await fetch(rerunUrl, {
      method: 'OPTIONS',
      headers: { origin: collectorUrl, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(collectorUrl);
    expect(preflight.headers.get('access-control-allow-headers')).toBe('content-type');

    const cases: Array<[string, string]> = [
      ['{"flowId": ', 'the body must be JSON'],
      [JSON.stringify({ flowId: 'delete-everything', params: {} }), 'unknown flow "delete-everything"'],
      [JSON.stringify({ flowId: 'place-order', params: [1, 2] }), 'params must be an object'],
      [JSON.stringify({ flowId: 'place-order', params: { customer: 'x' } }), 'place_order refused these params'],
    ];
    for (const [text, message] of cases) {
      const response = await post(text, collectorUrl);
      expect(response.status, text).toBe(400);
      expect(response.headers.get('access-control-allow-origin')).toBe(collectorUrl);
      expect(((await response.json()) as { message: string }).message).toContain(message);
    }
  });
});
