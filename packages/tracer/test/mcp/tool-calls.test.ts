import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { afterEach, describe, expect, it } from 'vitest';
import * as sc from '@flowtrace/semconv';
import { byName, json, memoryTracing, parentOf } from '../support/memory-tracing.js';
import { SDKS, type Sdk } from '../support/mcp-sdk.js';
import { agentClient, closeSessions, overHttp, shopServer } from '../support/mcp-shop.js';

const tracing = memoryTracing();
afterEach(async () => {
  await closeSessions();
  tracing.reset();
});

const serverSpan = (name: string) => byName(tracing.spans().filter((s) => s.kind === SpanKind.SERVER), name);
const clientSpan = (name: string) => byName(tracing.spans().filter((s) => s.kind === SpanKind.CLIENT), name);

/** Resolves once `find` finds a finished span: spans of a flow that outlives its call end later. */
async function eventually(find: (spans: readonly ReadableSpan[]) => ReadableSpan | undefined): Promise<ReadableSpan> {
  for (;;) {
    const span = find(tracing.spans());
    if (span) return span;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Connects in memory and records every message the server puts on the wire. */
async function inMemory(sdk: Sdk, server: McpServer, client: Client) {
  const [clientSide, serverSide] = sdk.InMemoryTransport.createLinkedPair();
  const sent: JSONRPCMessage[] = [];
  const send = serverSide.send.bind(serverSide);
  serverSide.send = (message, options) => {
    sent.push(message);
    return send(message, options);
  };
  await server.connect(serverSide);
  await client.connect(clientSide);
  return sent;
}

async function scenario(client: Client) {
  return [
    await client.callTool({ name: 'add', arguments: { a: 2, b: 3 } }),
    await client.callTool({ name: 'explode', arguments: { reason: 'test' } }),
    await client.callTool({ name: 'refuse', arguments: { password: 'hunter2' } }),
    await client.callTool({ name: 'nope', arguments: {} }).catch((error: Error) => error.message),
    await client.callTool({ name: 'place_order', arguments: { sku: 'A-1', qty: 2 } }),
    await client.callTool({ name: 'place_order', arguments: { sku: 'A-1', qty: 0 } }),
    await client.callTool({ name: 'add', arguments: { a: 'not a number' } }).catch((error: Error) => error.message),
    await client.getPrompt({ name: 'review', arguments: { language: 'python' } }),
    await client.readResource({ uri: 'docs://missing' }).catch((error: Error) => error.message),
  ];
}

describe.each(SDKS)('MCP tool calls, SDK $label', (sdk) => {
  it('leaves every response the server sends as the plain server sends it', async () => {
    const plainClient = agentClient(sdk, { instrument: false });
    const plainSent = await inMemory(sdk, shopServer(sdk, { instrument: false }).server, plainClient);
    const tracedClient = agentClient(sdk, { instrument: true });
    const tracedSent = await inMemory(sdk, shopServer(sdk, { instrument: true }).server, tracedClient);
    const plainResults = await scenario(plainClient);
    const tracedResults = await scenario(tracedClient);
    expect(JSON.stringify(tracedResults)).toBe(JSON.stringify(plainResults));
    const responses = (sent: JSONRPCMessage[]) => sent.filter((m) => 'id' in m && !('method' in m)).map((m) => JSON.stringify(m));
    expect(responses(tracedSent)).toEqual(responses(plainSent));
    expect(responses(tracedSent).length).toBeGreaterThan(9);
    expect(tracing.spans().filter((s) => s.kind === SpanKind.SERVER && s.name.startsWith('tools/call'))).toHaveLength(7);
  });

  it('records a throwing tool’s exception and an isError result as tool_error, on both sides', async () => {
    const session = await overHttp(sdk, shopServer(sdk, { instrument: true }).server, agentClient(sdk, { instrument: true }));
    await session.client.callTool({ name: 'explode', arguments: { reason: 'test' } });
    await session.client.callTool({ name: 'refuse', arguments: { password: 'hunter2' } });

    const explode = serverSpan('tools/call explode');
    expect(explode.status).toEqual({ code: SpanStatusCode.ERROR, message: 'kaboom: test' });
    expect(explode.attributes[sc.ATTR_ERROR_TYPE]).toBe('tool_error');
    const exception = explode.events.find((e) => e.name === 'exception')!;
    expect(exception.attributes).toMatchObject({ [sc.ATTR_EXCEPTION_TYPE]: 'TypeError', [sc.ATTR_EXCEPTION_MESSAGE]: 'kaboom: test' });
    expect(String(exception.attributes![sc.ATTR_EXCEPTION_STACKTRACE])).toContain('mcp-shop.ts');
    expect(clientSpan('tools/call explode').attributes[sc.ATTR_ERROR_TYPE]).toBe('tool_error');

    for (const span of [serverSpan('tools/call refuse'), clientSpan('tools/call refuse')]) {
      expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'not allowed today' });
      expect(span.attributes[sc.ATTR_ERROR_TYPE]).toBe('tool_error');
      expect(span.attributes[sc.ATTR_RPC_RESPONSE_STATUS_CODE]).toBeUndefined();
      expect(json(span.attributes[sc.ATTR_GEN_AI_TOOL_CALL_ARGUMENTS])).toEqual({ password: '[REDACTED]' });
      expect(span.attributes[sc.ATTR_GEN_AI_TOOL_CALL_RESULT]).toBeUndefined();
    }
  });

  it('opens an execution only for a tool the server runs: unknown, disabled and removed names get an error span and no execution', async () => {
    const shop = shopServer(sdk, { instrument: true });
    const spare = shop.server.registerTool('spare', {}, async () => ({ content: [] }));
    const renamed = shop.server.registerTool('old_name', {}, async () => ({ content: [] }));
    const session = await overHttp(sdk, shop.server, agentClient(sdk, { instrument: true }));
    const call = (name: string) => session.client.callTool({ name, arguments: {} }).catch((error: { code?: number }) => error);

    const unknown = await call('nope');
    spare.disable();
    await call('spare');
    renamed.update({ name: 'new_name' });
    await call('old_name');
    await call('new_name');
    spare.enable();
    spare.remove();
    await call('spare');

    for (const span of tracing.spans().filter((s) => s.kind === SpanKind.SERVER && s.name !== 'tools/call new_name' && s.name.startsWith('tools/call'))) {
      expect(span.attributes[sc.ATTR_EXECUTION_ID], span.name).toBeUndefined();
      expect(span.attributes[sc.ATTR_EXECUTION_ROOT], span.name).toBeUndefined();
      expect(span.status.code, span.name).toBe(SpanStatusCode.ERROR);
    }
    const nope = serverSpan('tools/call nope');
    // The SDK answers an unknown tool with an isError result or a JSON-RPC error, by release.
    if ('code' in unknown) expect(nope.attributes[sc.ATTR_RPC_RESPONSE_STATUS_CODE]).toBe(String(unknown.code));
    else expect(nope.attributes[sc.ATTR_ERROR_TYPE]).toBe('tool_error');
    expect(nope.status.message).toContain('nope');
    const renamedSpan = serverSpan('tools/call new_name');
    expect(renamedSpan.attributes[sc.ATTR_EXECUTION_ROOT]).toBe(true);
    expect(renamedSpan.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('puts a flow tool’s flow and steps under the tool span, in the same execution', async () => {
    const session = await overHttp(sdk, shopServer(sdk, { instrument: true }).server, agentClient(sdk, { instrument: true }));
    const result = await session.client.callTool({ name: 'place_order', arguments: { sku: 'A-1', qty: 2 } });
    expect(result.structuredContent).toEqual({ total: 10, sku: 'A-1' });

    const spans = tracing.spans();
    const tool = serverSpan('tools/call place_order');
    const root = byName(spans, 'flow order');
    expect(parentOf(spans, root)).toBe(tool);
    expect(parentOf(spans, byName(spans, 'flow price'))).toBe(root);
    expect(parentOf(spans, byName(spans, 'step reserve'))).toBe(root);
    const executionId = tool.attributes[sc.ATTR_EXECUTION_ID];
    expect(executionId).toEqual(expect.any(String));
    const execution = [tool, root, byName(spans, 'flow price'), byName(spans, 'step reserve')];
    expect(execution.every((s) => s.attributes[sc.ATTR_EXECUTION_ID] === executionId)).toBe(true);
    expect(tool.attributes).toMatchObject({ [sc.ATTR_EXECUTION_ROOT]: true, [sc.ATTR_FLOW_ID]: 'order', [sc.ATTR_FLOW_NAME]: 'order', [sc.ATTR_STEP_KIND]: 'tool' });
    expect(tool.attributes[sc.ATTR_TIMEOUT_MS]).toBeUndefined();
    expect(root.attributes[sc.ATTR_EXECUTION_ROOT]).toBeUndefined();
    expect([tool, root, byName(spans, 'flow price')].map((s) => s.attributes[sc.ATTR_DEPTH])).toEqual([0, 1, 2]);
    expect(clientSpan('tools/call place_order').attributes[sc.ATTR_EXECUTION_ID]).toBeUndefined();
  });

  it('declares a flow tool’s timeoutMs on its span and ends a call that runs out of it as timeout', async () => {
    const session = await overHttp(sdk, shopServer(sdk, { instrument: true }).server, agentClient(sdk, { instrument: true }));
    const result = await session.client.callTool({ name: 'wait_briefly', arguments: {} });
    expect(result.isError).toBe(true);
    const tool = serverSpan('tools/call wait_briefly');
    expect(tool.attributes).toMatchObject({
      [sc.ATTR_TIMEOUT_MS]: 30,
      [sc.ATTR_ERROR_TYPE]: 'timeout',
      [sc.ATTR_CANCELLED]: true,
      [sc.ATTR_ABORT_KIND]: 'timeout',
    });
    expect(tool.status.code).toBe(SpanStatusCode.ERROR);
    expect(clientSpan('tools/call wait_briefly').attributes[sc.ATTR_ERROR_TYPE]).toBe('tool_error');
  });

  it('ends a call the client cancels as cancelled, on both sides, and aborts the flow', async () => {
    const shop = shopServer(sdk, { instrument: true });
    const session = await overHttp(sdk, shop.server, agentClient(sdk, { instrument: true }));
    const controller = new AbortController();
    const call = session.client.callTool({ name: 'wait', arguments: {} }, undefined, { signal: controller.signal });
    await shop.waiting;
    controller.abort('the user gave up');
    await expect(call).rejects.toThrow();

    const tool = await eventually((spans) => spans.find((s) => s.kind === SpanKind.SERVER && s.name === 'tools/call wait'));
    expect(tool.attributes).toMatchObject({
      [sc.ATTR_TIMEOUT_MS]: 60_000,
      [sc.ATTR_ERROR_TYPE]: 'cancelled',
      [sc.ATTR_CANCELLED]: true,
      [sc.ATTR_ABORT_KIND]: 'abort',
      [sc.ATTR_ABORT_REASON]: 'the user gave up',
    });
    expect(tool.status).toEqual({ code: SpanStatusCode.ERROR, message: 'cancelled by the client: the user gave up' });
    const sent = clientSpan('tools/call wait');
    expect(sent.attributes[sc.ATTR_ERROR_TYPE]).toBe('cancelled');
    expect(tool.parentSpanContext?.spanId).toBe(sent.spanContext().spanId);
    const flowSpan = await eventually((spans) => spans.find((s) => s.name === 'flow wait'));
    expect(flowSpan.attributes[sc.ATTR_CANCELLED]).toBe(true);
    expect(flowSpan.attributes[sc.ATTR_EXECUTION_ID]).toBe(tool.attributes[sc.ATTR_EXECUTION_ID]);
  });

  it('gives concurrent calls of one tool independent spans and execution ids', async () => {
    const session = await overHttp(sdk, shopServer(sdk, { instrument: true }).server, agentClient(sdk, { instrument: true }));
    const client = session.client;
    const results = await Promise.all([1, 2, 3, 4, 5].map((n) => client.callTool({ name: 'place_order', arguments: { sku: `S${n}`, qty: n } })));
    expect(results.map((r) => (r.structuredContent as { total: number }).total)).toEqual([5, 10, 15, 20, 25]);
    const tools = tracing.spans().filter((s) => s.kind === SpanKind.SERVER && s.name === 'tools/call place_order');
    expect(new Set(tools.map((s) => s.attributes[sc.ATTR_EXECUTION_ID])).size).toBe(5);
    for (const tool of tools) {
      const flowSpan = tracing.spans().find((s) => s.name === 'flow order' && s.parentSpanContext?.spanId === tool.spanContext().spanId)!;
      expect(json(flowSpan.attributes[sc.ATTR_INPUT]).qty).toBe(json(tool.attributes[sc.ATTR_GEN_AI_TOOL_CALL_ARGUMENTS]).qty);
    }
  });

  it('traces tools registered after connecting, and keeps the caller’s own _meta keys', async () => {
    const shop = shopServer(sdk, { instrument: true });
    const session = await overHttp(sdk, shop.server, agentClient(sdk, { instrument: true }));
    let seen: unknown;
    shop.server.registerTool('late', { inputSchema: { x: z.string() } }, async ({ x }, extra) => {
      seen = extra._meta;
      return { content: [{ type: 'text', text: x }] };
    });
    await session.client.callTool({ name: 'late', arguments: { x: 'hi' }, _meta: { progressToken: 7 } });
    const late = serverSpan('tools/call late');
    expect(late.attributes[sc.ATTR_EXECUTION_ROOT]).toBe(true);
    const traceparent = `00-${late.spanContext().traceId}-${clientSpan('tools/call late').spanContext().spanId}-01`;
    expect(seen).toMatchObject({ progressToken: 7, traceparent });
  });
});
