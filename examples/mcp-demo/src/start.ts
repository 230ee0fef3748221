import { join } from 'node:path';
import { COLLECTOR_CLI, DEMO_CLIENT, DEMO_SERVER, startProgram, stopProgram, waitForHttp, type Managed } from './processes.js';

/**
 * `npm start`: the collector on embedded SQLite, the demo MCP server and a client calling its
 * tools, each its own process. Ctrl-C stops them all. Environment: FLOWTRACE_PORT (4318),
 * FLOWTRACE_DB (flowtrace.db in the directory npm was run from), DEMO_MCP_PORT (3001), DEMO_CLIENT=off to call the tools yourself,
 * FLOWTRACE_FORWARD / DEMO_JAEGER_URL to also send spans to Jaeger.
 */
const collectorPort = process.env.FLOWTRACE_PORT ?? '4318';
const mcpPort = process.env.DEMO_MCP_PORT ?? '3001';
const collectorUrl = `http://127.0.0.1:${collectorPort}`;
const mcpUrl = `http://127.0.0.1:${mcpPort}/mcp`;
// npm runs this from the workspace folder; INIT_CWD is where the user typed `npm start`.
const database = process.env.FLOWTRACE_DB ?? join(process.env.INIT_CWD ?? process.cwd(), 'flowtrace.db');
// The Usage page's Re-run asks the demo server to call the tool again; only that page may.
const rerunUrl = `http://127.0.0.1:${mcpPort}/rerun`;
const usageOrigins = [collectorUrl, `http://localhost:${collectorPort}`].join(',');
const env = { ...process.env, FLOWTRACE_COLLECTOR_URL: collectorUrl, DEMO_MCP_PORT: mcpPort, DEMO_MCP_URL: mcpUrl, DEMO_RERUN_ORIGINS: usageOrigins };
const running: Managed[] = [];
let stopping = false;

// The demo first, the collector last: the demo's final flush on SIGTERM goes to the collector.
async function stopAll(code: number): Promise<never> {
  if (stopping) return new Promise<never>(() => {});
  stopping = true;
  for (const program of [...running].reverse()) {
    await stopProgram(program);
    console.log(`[start] ${program.name} stopped`);
  }
  process.exit(code);
}

function supervise(program: Managed): Managed {
  running.push(program);
  program.child.once('exit', (code, signal) => {
    if (stopping) return;
    console.error(`[start] ${program.name} stopped unexpectedly (${signal ?? `exit code ${code}`}); stopping the rest`);
    void stopAll(1);
  });
  return program;
}

process.on('SIGINT', () => void stopAll(0));
process.on('SIGTERM', () => void stopAll(0));

try {
  supervise(startProgram('collector', COLLECTOR_CLI, ['--port', collectorPort, '--db', database, '--rerun-url', rerunUrl], env));
  await waitForHttp(`${collectorUrl}/healthz`);
  supervise(startProgram('demo-server', DEMO_SERVER, [], env));
  await waitForHttp(`http://127.0.0.1:${mcpPort}/`);
  if (process.env.DEMO_CLIENT !== 'off') supervise(startProgram('demo-client', DEMO_CLIENT, [], env));
  console.log(`
  flowtrace is running.
    Usage tab:   ${collectorUrl}/
    MCP server:  ${mcpUrl}
    OTLP/HTTP:   ${collectorUrl}/v1/traces
  Press Ctrl-C to stop.
`);
} catch (error) {
  console.error(`[start] ${(error as Error).message}`);
  await stopAll(1);
}
