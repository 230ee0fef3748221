import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { COLLECTOR_CLI, DEMO_SERVER, startProgram, stopProgram, waitForHttp, type Managed } from '../src/processes.js';
import {
  comparable,
  CONFORMANCE_VERSION,
  installConformance,
  listServerScenarios,
  NODE_VERSION,
  runServerSuite,
  type ConformanceCli,
  type SuiteRun,
} from './conformance-cli.js';
import { freePort, mcpClient, tempDb, waitForExecution } from './support.js';

const running: Managed[] = [];
afterEach(async () => {
  for (const program of running.splice(0).reverse()) await stopProgram(program);
});

let cli: ConformanceCli;
beforeAll(async () => {
  // From a clean clone this downloads the suite and a Node 22 from the npm registry.
  cli = await installConformance();
}, 15 * 60_000);

async function startDemo(port: number, env: NodeJS.ProcessEnv): Promise<Managed> {
  const server = startProgram('demo-server', DEMO_SERVER, [], { ...process.env, DEMO_MCP_PORT: String(port), ...env }, true);
  running.push(server);
  await waitForHttp(`http://127.0.0.1:${port}/`);
  return server;
}

/**
 * The suite against a demo server started with `env`, then one call of a demo tool (a flow) with
 * `source`, and the server stopped.
 */
async function suiteAgainstDemo(port: number, env: NodeJS.ProcessEnv, source: string): Promise<SuiteRun> {
  const server = await startDemo(port, env);
  try {
    const run = await runServerSuite(cli, `http://127.0.0.1:${port}/mcp`);
    const client = await mcpClient(`http://127.0.0.1:${port}/mcp`);
    const result = await client.callTool({ name: 'sync_inventory', arguments: { source } });
    expect(result.structuredContent).toEqual({ synced: expect.any(Number) });
    await client.close();
    return run;
  } finally {
    await stopProgram(server);
    running.splice(running.indexOf(server), 1);
  }
}

const checksOf = (run: SuiteRun) => run.scenarios.flatMap(({ scenario, checks }) => checks.map((check) => ({ scenario, ...check })));

async function ingestedSpans(collectorUrl: string): Promise<number> {
  const health = (await (await fetch(`${collectorUrl}/healthz`)).json()) as { ingest: { spans: number } };
  return health.ingest.spans;
}

/** POSTs an MCP initialize with the given Host header: the status and the session it opened. */
function initializeWithHost(port: number, host: string, sessionId?: string): Promise<{ status: number; sessionId?: string; body: string }> {
  const body = JSON.stringify(
    sessionId
      ? { jsonrpc: '2.0', id: 2, method: 'tools/list' }
      : { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'host-test', version: '1.0.0' } } },
  );
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/mcp',
        method: 'POST',
        headers: {
          host,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          ...(sessionId ? { 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-11-25' } : {}),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => {
          const id = res.headers['mcp-session-id'];
          resolve({ status: res.statusCode!, sessionId: typeof id === 'string' ? id : undefined, body: text });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe(`MCP conformance suite ${CONFORMANCE_VERSION} (on Node ${NODE_VERSION}) against the demo server`, () => {
  it('gives the same results with flowtrace as without, and the DNS-rebinding check passes', async () => {
    const scenarios = await listServerScenarios(cli);
    expect(scenarios).toContain('dns-rebinding-protection');

    const [collectorPort, mcpPort] = [await freePort(), await freePort()];
    const collectorUrl = `http://127.0.0.1:${collectorPort}`;
    running.push(startProgram('collector', COLLECTOR_CLI, ['--port', String(collectorPort), '--db', tempDb()], process.env, true));
    await waitForHttp(`${collectorUrl}/healthz`);
    const env = { FLOWTRACE_COLLECTOR_URL: collectorUrl };

    // The same port for both: some results quote the URL's host and port.
    const tag = randomUUID().slice(0, 8);
    const untraced = await suiteAgainstDemo(mcpPort, { ...env, DEMO_TRACING: 'off' }, `untraced-${tag}`);
    // Stopped, so it would have sent what it had: nothing.
    expect(await ingestedSpans(collectorUrl)).toBe(0);
    const traced = await suiteAgainstDemo(mcpPort, { ...env, DEMO_TRACING: 'on' }, `traced-${tag}`);
    // The traced server did trace: the demo tool called after the suite is a recorded execution.
    const execution = await waitForExecution(collectorUrl, 'sync-inventory', `traced-${tag}`, (item) => item.status !== 'pending');
    expect(execution.status).toBe('fulfilled');

    const summary = (run: SuiteRun) => checksOf(run).map(({ scenario, id, status }) => `${status} ${scenario}/${id}`);
    console.log(`conformance ${CONFORMANCE_VERSION}, untraced demo server:\n  ${summary(untraced).join('\n  ')}`);
    console.log(`traced demo server:\n  ${summary(traced).join('\n  ')}`);

    for (const run of [untraced, traced]) {
      // Every scenario ran and wrote its checks.
      expect(run.scenarios.map((result) => result.scenario)).toEqual([...scenarios].sort((a, b) => a.localeCompare(b)));
      for (const result of run.scenarios) expect(result.checks.length, result.scenario).toBeGreaterThan(0);
      // The CLI's verdict agrees with the checks: exit 1 when any failed.
      expect(run.exitCode, run.output).toBe(checksOf(run).some((check) => check.status === 'FAILURE') ? 1 : 0);
      const dns = run.scenarios.find((result) => result.scenario === 'dns-rebinding-protection')!;
      expect(dns.checks.map(({ id, status, errorMessage }) => ({ id, status, errorMessage }))).toEqual([
        { id: 'localhost-host-rebinding-rejected', status: 'SUCCESS', errorMessage: undefined },
        { id: 'localhost-host-valid-accepted', status: 'SUCCESS', errorMessage: undefined },
      ]);
    }

    const passed = (run: SuiteRun) => checksOf(run).filter((check) => check.status === 'SUCCESS').map(({ scenario, id }) => `${scenario}/${id}`);
    expect(passed(traced)).toEqual(passed(untraced));
    // All of it alike: statuses, error messages, and the responses the suite recorded.
    expect(comparable(traced.scenarios)).toEqual(comparable(untraced.scenarios));
    expect(traced.exitCode).toBe(untraced.exitCode);
  }, 5 * 60_000);

  it('accepts the Host forms of 127.0.0.1, localhost, DEMO_MCP_HOST and DEMO_MCP_ALLOWED_HOSTS, refuses others, in sessions too', async () => {
    const port = await freePort();
    // All interfaces, as in the Docker image.
    await startDemo(port, { DEMO_TRACING: 'off', DEMO_MCP_HOST: '0.0.0.0', DEMO_MCP_ALLOWED_HOSTS: 'demo:3001, mcp.example.test' });
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `0.0.0.0:${port}`, 'demo:3001', 'mcp.example.test']) {
      expect((await initializeWithHost(port, host)).status, host).toBe(200);
    }
    for (const host of ['evil.example.com', `evil.example.com:${port}`, `127.0.0.1:${port + 1}`, '127.0.0.1', 'demo:3002']) {
      const refused = await initializeWithHost(port, host);
      expect(refused.status, host).toBe(403);
      expect(JSON.parse(refused.body)).toMatchObject({ jsonrpc: '2.0', error: { code: -32000, message: `Invalid Host header: ${host}` } });
    }
    // A session opened from a good Host does not answer a request with another.
    const { sessionId } = await initializeWithHost(port, `127.0.0.1:${port}`);
    expect(sessionId).toBeTruthy();
    expect((await initializeWithHost(port, 'evil.example.com', sessionId)).status).toBe(403);
    expect((await initializeWithHost(port, `localhost:${port}`, sessionId)).status).toBe(200);
  });
});
