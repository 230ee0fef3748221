import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createScope, custom, flow, type Core } from '@pumped-fn/core-next';
import { z } from 'zod';
import { createTracingExtension } from '../../src/index.js';
import { instrumentMcpClient, instrumentMcpServer, registerFlowTool } from '../../src/mcp/index.js';
import type { Sdk } from './mcp-sdk.js';

/**
 * A small MCP shop that uses every part of the protocol the instrumentation traces: tools (plain,
 * throwing, refusing, flow tools with and without a budget, one that samples and lists roots on
 * the client), a prompt with completion, a resource and a resource template, logging.
 */

const price = flow({ name: 'price', input: custom<{ qty: number }>(), output: custom<number>() }, (_ctx, { qty }) => qty * 5);
export const order = flow(
  { name: 'order', input: custom<{ sku: string; qty: number }>(), output: custom<{ total: number; sku: string }>() },
  async (ctx, input) => {
    if (input.qty <= 0) throw new RangeError('qty must be positive');
    const total = await ctx.exec({ flow: price, input: { qty: input.qty }, key: 'price' });
    await ctx.exec({ fn: async (sku: string) => `reserved ${sku}`, params: [input.sku], key: 'reserve' });
    return { total, sku: input.sku };
  },
);

/** Resolves when a `wait` flow has started; the flow then waits until its signal aborts. */
export function waitingFlow(name: string) {
  let started!: () => void;
  const running = new Promise<void>((resolve) => (started = resolve));
  const definition = flow({ name, input: custom<Record<string, never>>(), output: custom<string>() }, (ctx) => {
    started();
    return new Promise<string>((_resolve, reject) => {
      if (ctx.signal.aborted) reject(ctx.signal.reason);
      ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true });
    });
  });
  return { definition, running };
}

export interface Shop {
  server: McpServer;
  scope: Core.Scope;
  /** Resolves once the `wait` tool's flow runs. */
  waiting: Promise<void>;
}

export function shopServer(sdk: Sdk, options: { instrument: boolean }): Shop {
  const server = new sdk.McpServer({ name: 'shop', version: '1.0.0' }, { capabilities: { logging: {} } });
  if (options.instrument) instrumentMcpServer(server);
  const scope = createScope({ extensions: options.instrument ? [createTracingExtension()] : [] });
  const text = (value: string) => ({ content: [{ type: 'text' as const, text: value }] });

  server.registerTool('add', { inputSchema: { a: z.number(), b: z.number() } }, async ({ a, b }) => text(String(a + b)));
  server.registerTool('explode', { inputSchema: { reason: z.string() } }, async ({ reason }) => {
    throw new TypeError(`kaboom: ${reason}`);
  });
  server.registerTool('refuse', { inputSchema: { password: z.string() } }, async () => ({ isError: true, ...text('not allowed today') }));
  server.registerTool('ask', { inputSchema: { question: z.string() } }, async ({ question }, extra) => {
    const sampled = await extra.sendRequest(
      { method: 'sampling/createMessage', params: { messages: [{ role: 'user', content: { type: 'text', text: question } }], maxTokens: 10 } },
      sdk.types.CreateMessageResultSchema,
    );
    const roots = await extra.sendRequest({ method: 'roots/list' }, sdk.types.ListRootsResultSchema);
    await extra.sendNotification({ method: 'notifications/message', params: { level: 'info', data: 'asked' } });
    const answer = sampled.content.type === 'text' ? sampled.content.text : '?';
    return text(`${answer} in ${roots.roots.map((r) => r.name).join(',')}`);
  });
  registerFlowTool(server, scope, order, { name: 'place_order', inputSchema: { sku: z.string(), qty: z.number() } });
  const wait = waitingFlow('wait');
  registerFlowTool(server, scope, wait.definition, { name: 'wait', timeoutMs: 60_000 });
  registerFlowTool(server, scope, waitingFlow('wait_briefly').definition, { name: 'wait_briefly', timeoutMs: 30 });

  server.registerPrompt(
    'review',
    { argsSchema: { language: sdk.completable(z.string(), (value) => ['typescript', 'python'].filter((l) => l.startsWith(value))) } },
    ({ language }) => ({ messages: [{ role: 'user', content: { type: 'text', text: `review this ${language}` } }] }),
  );
  server.registerResource('readme', 'docs://readme', { mimeType: 'text/plain' }, async (uri) => ({ contents: [{ uri: uri.href, text: 'read me' }] }));
  server.registerResource('item', new sdk.ResourceTemplate('items://{id}', { list: undefined }), {}, async (uri, { id }) => ({
    contents: [{ uri: uri.href, text: `item ${String(id)}` }],
  }));
  return { server, scope, waiting: wait.running };
}

/** An agent's client that answers the server's sampling and roots requests. */
export function agentClient(sdk: Sdk, options: { instrument: boolean }): Client {
  const client = new sdk.Client({ name: 'agent', version: '1.0.0' }, { capabilities: { sampling: {}, roots: { listChanged: true } } });
  client.setRequestHandler(sdk.types.CreateMessageRequestSchema, async () => ({
    role: 'assistant',
    content: { type: 'text', text: 'sampled' },
    model: 'test-model',
  }));
  client.setRequestHandler(sdk.types.ListRootsRequestSchema, async () => ({ roots: [{ uri: 'file:///work', name: 'work' }] }));
  if (options.instrument) instrumentMcpClient(client);
  return client;
}

export interface HttpSession {
  client: Client;
  clientTransport: StreamableHTTPClientTransport;
  serverTransport: StreamableHTTPServerTransport;
  /** Ends the MCP session on both sides and stops the HTTP server. */
  close(): Promise<void>;
}

const open: HttpSession[] = [];

/** Closes every session `overHttp` opened: call it after each test. */
export async function closeSessions(): Promise<void> {
  for (const session of open.splice(0)) await session.close();
}

/** Serves `server` over Streamable HTTP on a loopback port and connects `client` to it. */
export async function overHttp(sdk: Sdk, server: McpServer, client: Client): Promise<HttpSession> {
  const serverTransport = new sdk.StreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID() });
  await server.connect(serverTransport);
  const http = createServer((req, res) => void serverTransport.handleRequest(req, res));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  const clientTransport = new sdk.StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`));
  await client.connect(clientTransport);
  const session: HttpSession = {
    client,
    clientTransport,
    serverTransport,
    async close() {
      await client.close();
      await serverTransport.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
  open.push(session);
  return session;
}
