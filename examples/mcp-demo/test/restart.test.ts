import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { COLLECTOR_CLI, DEMO_SERVER, startProgram, stopProgram, waitForHttp, type Managed } from '../src/processes.js';
import { freePort, launchChromium, mcpClient, tempDb, waitForExecution } from './support.js';

const running: Managed[] = [];
afterEach(async () => {
  for (const program of running.splice(0).reverse()) await stopProgram(program);
});

describe('the restart rule across real processes', () => {
  it('marks an execution interrupted when its server is killed mid-run and starts again', async () => {
    const [collectorPort, mcpPort] = [await freePort(), await freePort()];
    const collectorUrl = `http://127.0.0.1:${collectorPort}`;
    const env = { ...process.env, FLOWTRACE_COLLECTOR_URL: collectorUrl, DEMO_MCP_PORT: String(mcpPort) };
    running.push(startProgram('collector', COLLECTOR_CLI, ['--port', String(collectorPort), '--db', tempDb()], env, true));
    await waitForHttp(`${collectorUrl}/healthz`);
    const server = startProgram('demo-server', DEMO_SERVER, [], env, true);
    running.push(server);
    await waitForHttp(`http://127.0.0.1:${mcpPort}/`);

    const client = await mcpClient(`http://127.0.0.1:${mcpPort}/mcp`);
    const month = `restart-${randomUUID().slice(0, 8)}`;
    const call = client.callTool({ name: 'monthly_report', arguments: { month, stageMs: 10_000 } });
    call.catch(() => {});
    const pending = await waitForExecution(collectorUrl, 'monthly-report', month, (item) => item.status === 'pending');

    server.child.kill('SIGKILL');
    await new Promise((resolve) => server.child.once('exit', resolve));
    running.push(startProgram('demo-server', DEMO_SERVER, [], env, true));

    const interrupted = await waitForExecution(collectorUrl, 'monthly-report', month, (item) => item.status === 'error');
    expect(interrupted).toMatchObject({ id: pending.id, status: 'error', errorKind: 'interrupted' });
    const record = (await (await fetch(`${collectorUrl}/api/executions/${pending.id}`)).json()) as { errorInfo: { message: string } };
    expect(record.errorInfo.message).toMatch(/flowtrace-demo-shop restarted \(new instance [0-9a-f-]{36}\)/);

    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(`${collectorUrl}/#flow=monthly-report`);
      const row = page.locator('flowtrace-execution-item', { hasText: month });
      await expect.poll(() => row.getAttribute('data-status'), { timeout: 10_000 }).toBe('error');
      expect(await row.locator('[part=tooltip]').textContent()).toBe('Error — interrupted: the service restarted before it finished');
    } finally {
      await browser.close();
    }
    await client.close().catch(() => {});
  }, 90_000);
});
