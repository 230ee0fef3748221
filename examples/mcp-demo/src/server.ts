import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { startTracing, tracesUrl } from '@flowtrace/node';
import { createTracingExtension } from '@flowtrace/tracer';
import { instrumentMcpServer, registerFlowTool } from '@flowtrace/tracer/mcp';
import { createScope } from '@pumped-fn/core-next';
import { z } from 'zod';
import { monthlyReport, placeOrder, syncInventory } from './flows.js';
import { executionIdsByTrace, rerunHandler } from './rerun.js';

/**
 * The demo MCP server: three tools that are traced pumped-fn flows, over Streamable HTTP with a
 * session per client. Environment: DEMO_MCP_PORT (default 3001), DEMO_MCP_HOST (default
 * 127.0.0.1), DEMO_MCP_ALLOWED_HOSTS (more Host header values to accept, comma-separated, such as
 * demo:3001 for a container reached by its service name), DEMO_TRACING=off (the same server
 * without flowtrace: no tracing setup, extension or MCP instrumentation), FLOWTRACE_COLLECTOR_URL
 * (default http://localhost:4318), DEMO_JAEGER_URL (optional extra OTLP destination, a base URL
 * such as http://localhost:4318; or the standard OTEL_EXPORTER_OTLP_ENDPOINT), DEMO_RERUN_ORIGINS
 * (the origins, comma-separated, whose pages may POST /rerun: the collector's Usage page).
 */
const port = Number(process.env.DEMO_MCP_PORT ?? 3001);
const host = process.env.DEMO_MCP_HOST ?? '127.0.0.1';
const jaeger = process.env.DEMO_JAEGER_URL;
const traced = process.env.DEMO_TRACING !== 'off';

/**
 * DNS-rebinding protection: the Host header values a request may carry, host:port as a browser
 * sends it. A page on evil.example.com whose name resolves to 127.0.0.1 reaches this port with
 * `Host: evil.example.com`, and is refused.
 */
const allowedHosts = [
  ...new Set([
    ...['127.0.0.1', 'localhost', host.includes(':') ? `[${host}]` : host].flatMap((name) =>
      // Browsers leave out the default port.
      port === 80 ? [name, `${name}:80`] : [`${name}:${port}`],
    ),
    ...(process.env.DEMO_MCP_ALLOWED_HOSTS ?? '').split(',').map((value) => value.trim()).filter(Boolean),
  ]),
];

const tracing = traced
  ? startTracing({
      serviceName: 'flowtrace-demo-shop',
      // Option URLs are used as given: the base URL gets the OTLP traces path here.
      exporters: jaeger ? [{ url: tracesUrl(jaeger), protocol: 'http/protobuf' }] : undefined,
    })
  : undefined;
const executionIds = executionIdsByTrace();
// The id extension after the tracing one: it reads the id the tracing extension has just set.
const scope = createScope({ extensions: traced ? [createTracingExtension(), executionIds.extension] : [] });

function buildServer(): McpServer {
  const plain = new McpServer({ name: 'flowtrace-demo-shop', version: '0.1.0' });
  const server = traced ? instrumentMcpServer(plain) : plain;
  registerFlowTool(server, scope, placeOrder, {
    name: 'place_order',
    description: 'Validates, prices, reserves stock for and charges an order. Cards ending 0000 are declined.',
    inputSchema: {
      customer: z.string(),
      items: z.array(z.object({ sku: z.string(), qty: z.number().int() })),
      card: z.string(),
    },
  });
  registerFlowTool(server, scope, syncInventory, {
    name: 'sync_inventory',
    description: 'Extracts, transforms and loads stock levels; failAt makes a stage fail.',
    inputSchema: { source: z.string(), failAt: z.enum(['extract', 'transform', 'load']).optional() },
  });
  registerFlowTool(server, scope, monthlyReport, {
    name: 'monthly_report',
    description: 'Builds a monthly report in three slow stages.',
    inputSchema: { month: z.string(), stageMs: z.number().int().positive().optional() },
    timeoutMs: 60_000,
  });
  return server;
}

const sessions = new Map<string, StreamableHTTPServerTransport>();

/** POST /rerun: the Usage page's Re-run, which calls the flow's tool on this server's /mcp. */
const rerun = rerunHandler({
  allowedOrigins: (process.env.DEMO_RERUN_ORIGINS ?? '').split(',').map((value) => value.trim()).filter(Boolean),
  allowedHosts,
  mcpUrl: new URL(`http://${['0.0.0.0', '::'].includes(host) ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host}:${port}/mcp`),
  toolOfFlow: new Map([
    [placeOrder.definition.name, 'place_order'],
    [syncInventory.definition.name, 'sync_inventory'],
    [monthlyReport.definition.name, 'monthly_report'],
  ]),
  ids: executionIds,
});

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : undefined;
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.url === '/rerun') return rerun(req, res);
  if (!req.url?.startsWith('/mcp')) {
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'the MCP endpoint is /mcp' }));
    return;
  }
  const sessionId = req.headers['mcp-session-id'];
  const existing = typeof sessionId === 'string' ? sessions.get(sessionId) : undefined;
  if (req.method === 'POST') {
    const body = await readJson(req);
    if (existing) return existing.handleRequest(req, res, body);
    if (!isInitializeRequest(body)) {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message: 'no valid session: initialize first' }, id: null }));
      return;
    }
    // The SDK's own Host check: a request with another Host is answered 403 and not handled.
    // (1.32 marks these options deprecated for its hostHeaderValidation, Express middleware; this
    // server is node:http.)
    // Requests that reach no transport get the 404 and 400 answers whatever their Host.
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      enableDnsRebindingProtection: true,
      allowedHosts,
      onsessioninitialized: (id) => void sessions.set(id, transport),
    });
    transport.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
    };
    await buildServer().connect(transport);
    return transport.handleRequest(req, res, body);
  }
  if (existing) return existing.handleRequest(req, res);
  res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'unknown or missing mcp-session-id' }));
}

const http = createServer((req, res) => {
  handle(req, res).catch((error: unknown) => {
    console.error('[demo-server] request failed:', error);
    if (!res.headersSent) res.writeHead(500).end();
  });
});
http.listen(port, host, () => {
  console.log(`[demo-server] MCP server listening on http://${host}:${port}/mcp${traced ? '' : ' (tracing off)'}`);
});

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  for (const transport of sessions.values()) await transport.close().catch(() => {});
  http.close();
  http.closeAllConnections();
  await tracing?.shutdown();
  process.exit(0);
}
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
