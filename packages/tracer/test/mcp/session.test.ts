import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import * as sc from '@flowtrace/semconv';
import { memoryTracing } from '../support/memory-tracing.js';
import { SDKS } from '../support/mcp-sdk.js';
import { agentClient, closeSessions, overHttp, shopServer } from '../support/mcp-shop.js';

const tracing = memoryTracing();
afterEach(async () => {
  await closeSessions();
  tracing.reset();
});

const spanId = (span: ReadableSpan) => span.spanContext().spanId;
const named = (name: string, kind: SpanKind) => tracing.spans().filter((s) => s.name === name && s.kind === kind);

/** The one CLIENT span named `name` and the one SERVER span that is its child. */
function exchange(name: string): { sent: ReadableSpan; received: ReadableSpan } {
  const sent = named(name, SpanKind.CLIENT);
  const received = named(name, SpanKind.SERVER);
  if (sent.length !== 1 || received.length !== 1) {
    throw new Error(`expected one CLIENT and one SERVER span "${name}", found ${sent.length} and ${received.length}`);
  }
  return { sent: sent[0]!, received: received[0]! };
}

describe.each(SDKS)('an MCP session over Streamable HTTP, SDK $label', (sdk) => {
  it('traces every request and notification on both sides, each server span a child of its client span, in one trace', async () => {
    const shop = shopServer(sdk, { instrument: true });
    const client = agentClient(sdk, { instrument: true });
    const agent = trace.getTracer('agent');
    const turn = await agent.startActiveSpan('agent turn', async (span) => {
      const session = await overHttp(sdk, shop.server, client);
      await client.ping();
      await client.listTools();
      await client.callTool({ name: 'add', arguments: { a: 2, b: 3 } });
      await client.listPrompts();
      await client.getPrompt({ name: 'review', arguments: { language: 'typescript' } });
      await client.complete({ ref: { type: 'ref/prompt', name: 'review' }, argument: { name: 'language', value: 'py' } });
      await client.listResources();
      await client.listResourceTemplates();
      await client.readResource({ uri: 'docs://readme' });
      await client.setLoggingLevel('info');
      const asked = await client.callTool({ name: 'ask', arguments: { question: 'which?' } });
      expect(asked.content).toEqual([{ type: 'text', text: 'sampled in work' }]);
      span.end();
      return span;
    });
    const traceId = turn.spanContext().traceId;

    // Requests and notifications the client sends: CLIENT span there, SERVER span here.
    const fromClient = [
      'initialize',
      'notifications/initialized',
      'ping',
      'tools/list',
      'tools/call add',
      'prompts/list',
      'prompts/get review',
      'completion/complete review',
      'resources/list',
      'resources/templates/list',
      'resources/read',
      'logging/setLevel',
      'tools/call ask',
    ];
    for (const name of fromClient) {
      const { sent, received } = exchange(name);
      expect(sent.parentSpanContext?.spanId, name).toBe(turn.spanContext().spanId);
      expect(received.parentSpanContext?.spanId, name).toBe(spanId(sent));
      expect([sent.spanContext().traceId, received.spanContext().traceId], name).toEqual([traceId, traceId]);
      expect(sent.attributes[sc.ATTR_MCP_METHOD_NAME], name).toBe(name.split(' ')[0]);
      expect(received.attributes[sc.ATTR_MCP_METHOD_NAME], name).toBe(name.split(' ')[0]);
    }

    // What the server sends while it handles `ask`: requests and a notification to the client.
    const ask = exchange('tools/call ask').received;
    for (const name of ['sampling/createMessage', 'roots/list', 'notifications/message']) {
      const { sent, received } = exchange(name);
      expect(sent.parentSpanContext?.spanId, name).toBe(spanId(ask));
      expect(received.parentSpanContext?.spanId, name).toBe(spanId(sent));
      expect(received.spanContext().traceId, name).toBe(traceId);
    }
    expect(tracing.spans().every((s) => s.spanContext().traceId === traceId)).toBe(true);
  });

  it('records the MCP conventions’ attributes on both sides of a tool call', async () => {
    const session = await overHttp(sdk, shopServer(sdk, { instrument: true }).server, agentClient(sdk, { instrument: true }));
    await session.client.callTool({ name: 'add', arguments: { a: 2, b: 3 } });
    const { sent, received } = exchange('tools/call add');
    const common = {
      [sc.ATTR_MCP_METHOD_NAME]: 'tools/call',
      [sc.ATTR_GEN_AI_TOOL_NAME]: 'add',
      [sc.ATTR_GEN_AI_OPERATION_NAME]: 'execute_tool',
      [sc.ATTR_MCP_SESSION_ID]: session.clientTransport.sessionId,
      [sc.ATTR_MCP_PROTOCOL_VERSION]: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/),
      [sc.ATTR_NETWORK_TRANSPORT]: 'tcp',
      [sc.ATTR_NETWORK_PROTOCOL_NAME]: 'http',
    };
    expect(sent.attributes).toMatchObject(common);
    expect(received.attributes).toMatchObject({
      ...common,
      [sc.ATTR_NETWORK_PROTOCOL_VERSION]: '1.1',
      [sc.ATTR_CLIENT_ADDRESS]: '127.0.0.1',
      [sc.ATTR_CLIENT_PORT]: expect.any(Number),
    });
    expect(received.attributes[sc.ATTR_JSONRPC_REQUEST_ID]).toBe(sent.attributes[sc.ATTR_JSONRPC_REQUEST_ID]);
    expect(sent.attributes[sc.ATTR_JSONRPC_REQUEST_ID]).toMatch(/^\d+$/);
    for (const span of [sent, received]) {
      expect(span.status.code).toBe(SpanStatusCode.UNSET);
      expect(span.attributes[sc.ATTR_ERROR_TYPE]).toBeUndefined();
      expect(JSON.parse(String(span.attributes[sc.ATTR_GEN_AI_TOOL_CALL_ARGUMENTS]))).toEqual({ a: 2, b: 3 });
      expect(JSON.parse(String(span.attributes[sc.ATTR_GEN_AI_TOOL_CALL_RESULT]))).toEqual([{ type: 'text', text: '5' }]);
    }
    expect(sent.attributes[sc.ATTR_CLIENT_ADDRESS]).toBeUndefined();
  });

  it('names resources by attribute, never in the span name, and prompts by name', async () => {
    const session = await overHttp(sdk, shopServer(sdk, { instrument: true }).server, agentClient(sdk, { instrument: true }));
    await session.client.readResource({ uri: 'items://42' });
    await session.client.getPrompt({ name: 'review', arguments: { language: 'python' } });
    const read = exchange('resources/read');
    expect(read.received.attributes[sc.ATTR_MCP_RESOURCE_URI]).toBe('items://42');
    expect(read.sent.attributes[sc.ATTR_MCP_RESOURCE_URI]).toBe('items://42');
    const prompt = exchange('prompts/get review');
    expect(prompt.received.attributes[sc.ATTR_GEN_AI_PROMPT_NAME]).toBe('review');
    expect(prompt.received.attributes[sc.ATTR_GEN_AI_OPERATION_NAME]).toBeUndefined();
  });

  it('records a JSON-RPC error response with its code on both sides', async () => {
    const session = await overHttp(sdk, shopServer(sdk, { instrument: true }).server, agentClient(sdk, { instrument: true }));
    const error = await session.client.readResource({ uri: 'docs://missing' }).then(
      () => undefined,
      (e: { code?: number; message?: string }) => e,
    );
    expect(error?.code).toBe(-32602);
    const { sent, received } = exchange('resources/read');
    for (const span of [sent, received]) {
      expect(span.attributes[sc.ATTR_ERROR_TYPE]).toBe('-32602');
      expect(span.attributes[sc.ATTR_RPC_RESPONSE_STATUS_CODE]).toBe('-32602');
      expect(span.status.code).toBe(SpanStatusCode.ERROR);
      expect(span.status.message).toContain('docs://missing');
    }
  });

  it('links the HTTP request’s span when the caller’s context came in _meta', async () => {
    const shop = shopServer(sdk, { instrument: true });
    const session = await overHttp(sdk, shop.server, agentClient(sdk, { instrument: true }));
    const http = trace.getTracer('http');
    // An HTTP server instrumentation would make its span active around handleRequest.
    const handle = session.serverTransport.handleRequest.bind(session.serverTransport);
    session.serverTransport.handleRequest = ((req: never, res: never, body?: unknown) =>
      http.startActiveSpan(`${(req as { method: string }).method} /mcp`, (span) => handle(req, res, body).finally(() => span.end()))) as typeof handle;
    await session.client.callTool({ name: 'add', arguments: { a: 1, b: 1 } });
    const { sent, received } = exchange('tools/call add');
    const posts = tracing.spans().filter((s) => s.name === 'POST /mcp');
    expect(received.parentSpanContext?.spanId).toBe(spanId(sent));
    expect(received.links).toHaveLength(1);
    expect(posts.map(spanId)).toContain(received.links[0]!.context.spanId);
  });
});
