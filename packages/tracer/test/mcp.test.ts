import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { createScope, custom, flow } from '@pumped-fn/core-next';
import { z } from 'zod';
import { afterEach, describe, expect, it } from 'vitest';
import { createTracingExtension } from '../src/index.js';
import { instrumentMcpClient, instrumentMcpServer, registerFlowTool } from '../src/mcp/index.js';
import * as sc from '../src/semconv.js';
import { byName, json, memoryTracing, parentOf } from './support/memory-tracing.js';

const tracing = memoryTracing();
afterEach(() => tracing.reset());

const price = flow({ name: 'price', input: custom<{ qty: number }>(), output: custom<number>() }, (_ctx, { qty }) => qty * 5);
const order = flow(
  { name: 'order', input: custom<{ sku: string; qty: number }>(), output: custom<{ total: number; sku: string }>() },
  async (ctx, input) => {
    if (input.qty <= 0) throw new RangeError('qty must be positive');
    const total = await ctx.exec({ flow: price, input: { qty: input.qty }, key: 'price' });
    await ctx.exec({ fn: async (sku: string) => `reserved ${sku}`, params: [input.sku], key: 'reserve' });
    return { total, sku: input.sku };
  },
);

/** The same tools, on an instrumented or a plain server. */
function buildServer(instrument: boolean) {
  const server = new McpServer({ name: 'shop', version: '1.0.0' });
  if (instrument) instrumentMcpServer(server);
  const scope = createScope({ extensions: instrument ? [createTracingExtension()] : [] });
  server.registerTool('add', { description: 'adds', inputSchema: { a: z.number(), b: z.number() } }, async ({ a, b }) => ({
    content: [{ type: 'text', text: String(a + b) }],
  }));
  server.tool('explode', { reason: z.string() }, async ({ reason }) => {
    throw new TypeError(`kaboom: ${reason}`);
  });
  server.registerTool('refuse', { inputSchema: { password: z.string() } }, async () => ({
    isError: true,
    content: [{ type: 'text', text: 'not allowed today' }],
  }));
  server.registerTool('slow', { inputSchema: { n: z.number() } }, async ({ n }) => {
    await new Promise((r) => setTimeout(r, 20 - n));
    return { content: [{ type: 'text', text: `slow ${n}` }] };
  });
  registerFlowTool(server, scope, order, {
    name: 'place_order',
    description: 'Places an order',
    inputSchema: { sku: z.string(), qty: z.number() },
  });
  return server;
}

/** Connects a client in memory and records every message the server sends. */
async function connect(server: McpServer, client = new Client({ name: 'agent', version: '1.0.0' })) {
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  const sent: JSONRPCMessage[] = [];
  const send = serverSide.send.bind(serverSide);
  serverSide.send = (message, options) => {
    sent.push(message);
    return send(message, options);
  };
  await server.connect(serverSide);
  await client.connect(clientSide);
  return { client, sent };
}

async function scenario(client: Client) {
  return [
    await client.callTool({ name: 'add', arguments: { a: 2, b: 3 } }),
    await client.callTool({ name: 'explode', arguments: { reason: 'test' } }),
    await client.callTool({ name: 'refuse', arguments: { password: 'hunter2' } }),
    await client.callTool({ name: 'nope', arguments: {} }),
    await client.callTool({ name: 'place_order', arguments: { sku: 'A-1', qty: 2 } }),
    await client.callTool({ name: 'place_order', arguments: { sku: 'A-1', qty: 0 } }),
    await client.callTool({ name: 'add', arguments: { a: 'not a number' } }),
  ];
}

describe('instrumentMcpServer', () => {
  it('leaves every response byte for byte as the plain server sends it', async () => {
    const plain = await connect(buildServer(false));
    const traced = await connect(buildServer(true));
    const plainResults = await scenario(plain.client);
    const tracedResults = await scenario(traced.client);
    expect(JSON.stringify(tracedResults)).toBe(JSON.stringify(plainResults));
    expect(traced.sent.map((m) => JSON.stringify(m))).toEqual(plain.sent.map((m) => JSON.stringify(m)));
    expect(tracing.spans().filter((s) => s.name.startsWith('tools/call'))).toHaveLength(7);
  });

  it('traces a successful call as a SERVER span with the MCP semantic conventions', async () => {
    const { client } = await connect(buildServer(true));
    await client.callTool({ name: 'add', arguments: { a: 2, b: 3 } });
    const span = byName(tracing.spans(), 'tools/call add');
    expect(span.kind).toBe(SpanKind.SERVER);
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(span.attributes).toMatchObject({
      [sc.ATTR_MCP_METHOD_NAME]: 'tools/call',
      [sc.ATTR_GEN_AI_TOOL_NAME]: 'add',
      [sc.ATTR_GEN_AI_OPERATION_NAME]: 'execute_tool',
      [sc.ATTR_JSONRPC_REQUEST_ID]: expect.stringMatching(/^\d+$/),
      [sc.ATTR_MCP_PROTOCOL_VERSION]: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/),
      [sc.ATTR_EXECUTION_ROOT]: true,
      [sc.ATTR_STEP_KIND]: 'tool',
      [sc.ATTR_FLOW_ID]: 'add',
    });
    expect(json(span.attributes[sc.ATTR_GEN_AI_TOOL_CALL_ARGUMENTS])).toEqual({ a: 2, b: 3 });
    expect(json(span.attributes[sc.ATTR_GEN_AI_TOOL_CALL_RESULT])).toEqual([{ type: 'text', text: '5' }]);
    expect(span.attributes[sc.ATTR_NETWORK_TRANSPORT]).toBeUndefined();
    expect(span.parentSpanContext).toBeUndefined();
  });

  it('marks a throwing tool ERROR with the exception, an isError result and an unknown tool as tool_error', async () => {
    const { client } = await connect(buildServer(true));
    await scenario(client);
    const spans = tracing.spans();
    const explode = byName(spans, 'tools/call explode');
    expect(explode.status).toEqual({ code: SpanStatusCode.ERROR, message: 'kaboom: test' });
    expect(explode.attributes[sc.ATTR_ERROR_TYPE]).toBe('tool_error');
    const exception = explode.events.find((e) => e.name === 'exception')!;
    expect(exception.attributes).toMatchObject({ [sc.ATTR_EXCEPTION_TYPE]: 'TypeError', [sc.ATTR_EXCEPTION_MESSAGE]: 'kaboom: test' });

    const refuse = byName(spans, 'tools/call refuse');
    expect(refuse.status).toEqual({ code: SpanStatusCode.ERROR, message: 'not allowed today' });
    expect(refuse.attributes[sc.ATTR_ERROR_TYPE]).toBe('tool_error');
    expect(json(refuse.attributes[sc.ATTR_GEN_AI_TOOL_CALL_ARGUMENTS])).toEqual({ password: '[REDACTED]' });

    const unknown = byName(spans, 'tools/call nope');
    expect(unknown.status.code).toBe(SpanStatusCode.ERROR);
    expect(unknown.status.message).toContain('Tool nope not found');
  });

  it('puts a flow tool’s flow and steps under the tool span, in the same execution', async () => {
    const { client } = await connect(buildServer(true));
    const result = await client.callTool({ name: 'place_order', arguments: { sku: 'A-1', qty: 2 } });
    expect(result.structuredContent).toEqual({ total: 10, sku: 'A-1' });
    expect(result.content).toEqual([{ type: 'text', text: '{"total":10,"sku":"A-1"}' }]);

    const spans = tracing.spans();
    const tool = byName(spans, 'tools/call place_order');
    const root = byName(spans, 'flow order');
    expect(parentOf(spans, root)).toBe(tool);
    expect(parentOf(spans, byName(spans, 'flow price'))).toBe(root);
    expect(parentOf(spans, byName(spans, 'step reserve'))).toBe(root);
    const executionId = tool.attributes[sc.ATTR_EXECUTION_ID];
    expect(spans.every((s) => s.attributes[sc.ATTR_EXECUTION_ID] === executionId)).toBe(true);
    expect(tool.attributes[sc.ATTR_FLOW_ID]).toBe('order');
    expect(tool.attributes[sc.ATTR_FLOW_NAME]).toBe('order');
    expect(root.attributes[sc.ATTR_FLOW_ID]).toBe('order');
    expect(root.attributes[sc.ATTR_EXECUTION_ROOT]).toBeUndefined();
    expect([tool, root, byName(spans, 'flow price')].map((s) => s.attributes[sc.ATTR_DEPTH])).toEqual([0, 1, 2]);
    expect(json(tool.attributes[sc.ATTR_GEN_AI_TOOL_CALL_RESULT])).toEqual({ total: 10, sku: 'A-1' });
  });

  it('answers a failing flow with an isError result carrying its message', async () => {
    const { client } = await connect(buildServer(true));
    const result = await client.callTool({ name: 'place_order', arguments: { sku: 'A-1', qty: 0 } });
    expect(result).toEqual({ isError: true, content: [{ type: 'text', text: 'qty must be positive' }] });
    const spans = tracing.spans();
    expect(byName(spans, 'flow order').status.code).toBe(SpanStatusCode.ERROR);
    expect(byName(spans, 'tools/call place_order').attributes[sc.ATTR_ERROR_TYPE]).toBe('tool_error');
  });

  it('gives concurrent calls of one tool independent spans and execution ids', async () => {
    const { client } = await connect(buildServer(true));
    const results = await Promise.all([1, 2, 3, 4, 5].map((n) => client.callTool({ name: 'slow', arguments: { n } })));
    expect(results.map((r) => (r.content as Array<{ text: string }>)[0]!.text)).toEqual(['slow 1', 'slow 2', 'slow 3', 'slow 4', 'slow 5']);
    const spans = tracing.spans().filter((s) => s.name === 'tools/call slow');
    expect(new Set(spans.map((s) => s.attributes[sc.ATTR_EXECUTION_ID])).size).toBe(5);
    expect(new Set(spans.map((s) => s.attributes[sc.ATTR_JSONRPC_REQUEST_ID])).size).toBe(5);
    expect(spans.map((s) => json(s.attributes[sc.ATTR_GEN_AI_TOOL_CALL_ARGUMENTS]).n).sort()).toEqual([1, 2, 3, 4, 5]);
  });

  it('traces tools registered after instrumenting and after connecting', async () => {
    const server = new McpServer({ name: 'late', version: '1.0.0' }, { capabilities: { tools: {} } });
    instrumentMcpServer(server);
    const { client } = await connect(server);
    server.registerTool('late', { inputSchema: { x: z.string() } }, async ({ x }) => ({ content: [{ type: 'text', text: x }] }));
    await client.callTool({ name: 'late', arguments: { x: 'hi' } });
    expect(byName(tracing.spans(), 'tools/call late').attributes[sc.ATTR_GEN_AI_TOOL_NAME]).toBe('late');
  });
});

describe('instrumentMcpClient', () => {
  it('carries the caller’s trace into the server span through params._meta', async () => {
    const client = instrumentMcpClient(new Client({ name: 'agent', version: '1.0.0' }));
    const { sent } = await connect(buildServer(true), client);
    expect(sent.length).toBeGreaterThan(0);
    const agent = trace.getTracer('agent');
    await agent.startActiveSpan('agent turn', async (span) => {
      await client.callTool({ name: 'place_order', arguments: { sku: 'B', qty: 1 } });
      span.end();
    });
    const spans = tracing.spans();
    const turn = byName(spans, 'agent turn');
    const tool = byName(spans, 'tools/call place_order');
    expect(tool.parentSpanContext?.spanId).toBe(turn.spanContext().spanId);
    expect(tool.spanContext().traceId).toBe(turn.spanContext().traceId);
    expect(byName(spans, 'flow order').spanContext().traceId).toBe(turn.spanContext().traceId);
  });

  it('keeps the caller’s own _meta keys', async () => {
    const client = instrumentMcpClient(new Client({ name: 'agent', version: '1.0.0' }));
    const server = new McpServer({ name: 'meta', version: '1.0.0' });
    let seen: unknown;
    server.registerTool('peek', {}, async (extra) => {
      seen = extra._meta;
      return { content: [] };
    });
    await connect(server, client);
    await trace.getTracer('agent').startActiveSpan('turn', async (span) => {
      await client.callTool({ name: 'peek', arguments: {}, _meta: { progressToken: 7 } });
      span.end();
    });
    expect(seen).toMatchObject({ progressToken: 7, traceparent: expect.stringMatching(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/) });
  });
});

describe('over Streamable HTTP on loopback', () => {
  let httpServer: Server | undefined;
  afterEach(() => new Promise<void>((resolve) => (httpServer ? httpServer.close(() => resolve()) : resolve())));

  it('records the session, protocol version and transport, and continues the trace', async () => {
    const mcp = buildServer(true);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID() });
    await mcp.connect(transport);
    httpServer = createServer((req, res) => void transport.handleRequest(req, res));
    await new Promise<void>((resolve) => httpServer!.listen(0, '127.0.0.1', resolve));
    const { port } = httpServer.address() as AddressInfo;

    const client = instrumentMcpClient(new Client({ name: 'agent', version: '1.0.0' }));
    const clientTransport = new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`));
    await client.connect(clientTransport);
    await trace.getTracer('agent').startActiveSpan('turn', async (span) => {
      const result = await client.callTool({ name: 'place_order', arguments: { sku: 'H', qty: 3 } });
      expect(result.structuredContent).toEqual({ total: 15, sku: 'H' });
      span.end();
    });
    await client.close();

    const spans = tracing.spans();
    const tool = byName(spans, 'tools/call place_order');
    expect(tool.attributes).toMatchObject({
      [sc.ATTR_MCP_SESSION_ID]: clientTransport.sessionId,
      [sc.ATTR_NETWORK_TRANSPORT]: 'tcp',
      [sc.ATTR_MCP_PROTOCOL_VERSION]: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/),
    });
    expect(tool.parentSpanContext?.spanId).toBe(byName(spans, 'turn').spanContext().spanId);
    expect(parentOf(spans, byName(spans, 'flow order'))).toBe(tool);
  });
});
