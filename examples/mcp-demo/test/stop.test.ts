import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { COLLECTOR_CLI, startProgram, stopProgram, waitForHttp, type Managed } from '../src/processes.js';
import { freePort, mcpClient, tempDb, waitForExecution } from './support.js';

const START = fileURLToPath(new URL('../dist/start.js', import.meta.url));

const running: Managed[] = [];
afterEach(async () => {
  for (const program of running.splice(0)) await stopProgram(program);
});

describe('Ctrl-C on npm start', () => {
  it('stops the demo first and the collector last, so a call that just finished is recorded', async () => {
    const [collectorPort, mcpPort] = [await freePort(), await freePort()];
    const collectorUrl = `http://127.0.0.1:${collectorPort}`;
    const db = tempDb();
    // Its own process group, signalled as a whole as a terminal does on Ctrl-C.
    const launcher = spawn(process.execPath, [START], {
      env: { ...process.env, FLOWTRACE_PORT: String(collectorPort), DEMO_MCP_PORT: String(mcpPort), FLOWTRACE_DB: db, DEMO_CLIENT: 'off' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    launcher.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    launcher.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = once(launcher, 'exit');
    try {
      await expect.poll(() => output, { timeout: 30_000 }).toContain('flowtrace is running');
      const client = await mcpClient(`http://127.0.0.1:${mcpPort}/mcp`);
      const month = `stop-${randomUUID().slice(0, 8)}`;
      const result = await client.callTool({ name: 'monthly_report', arguments: { month, stageMs: 1 } });
      expect(result.isError).toBeFalsy();
      await client.close();
      // At once: the call's last spans may still wait in the demo's batch, sent by its shutdown.
      process.kill(-launcher.pid!, 'SIGINT');
      const [code] = await exited;
      expect(code).toBe(0);

      const demoStopped = output.indexOf('[start] demo-server stopped');
      const collectorStopping = output.indexOf('[collector] SIGTERM: stopping');
      expect(demoStopped).toBeGreaterThan(-1);
      expect(collectorStopping).toBeGreaterThan(demoStopped);
      expect(output).not.toContain('[collector] SIGINT');
      expect(output).not.toContain('ECONNREFUSED');

      // The same database, read by a collector started again: the call ended fulfilled.
      running.push(startProgram('collector', COLLECTOR_CLI, ['--port', String(collectorPort), '--db', db], process.env, true));
      await waitForHttp(`${collectorUrl}/healthz`);
      const record = await waitForExecution(collectorUrl, 'monthly-report', month, (item) => item.status !== 'pending');
      expect(record.status).toBe('fulfilled');
    } finally {
      if (launcher.exitCode === null && launcher.signalCode === null) process.kill(-launcher.pid!, 'SIGKILL');
    }
  });
});
