import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { createScope, custom, flow } from '@pumped-fn/core-next';
import { z } from 'zod';
import { afterEach, describe, expect, it } from 'vitest';
import { createTracingExtension, executionIdOf } from '../src/index.js';
import { instrumentMcpServer, registerFlowTool } from '../src/mcp/index.js';
import * as attr from '@flowtrace/semconv';
import { memoryTracing } from './support/memory-tracing.js';

const tracing = memoryTracing();
afterEach(() => tracing.reset());

/** The ids a flow's own code sees, from its top context and from a context two levels down. */
function idFlows() {
  const seen: { depth0?: string; depth2?: string } = {};
  const leaf = flow({ name: 'leaf', input: custom<void>(), output: custom<void>() }, (ctx) => {
    seen.depth2 = executionIdOf(ctx);
  });
  const middle = flow({ name: 'middle', input: custom<void>(), output: custom<void>() }, async (ctx) => {
    await ctx.exec({ flow: leaf, input: undefined });
  });
  const top = flow({ name: 'top', input: custom<void>(), output: custom<string>() }, async (ctx) => {
    seen.depth0 = executionIdOf(ctx);
    await ctx.exec({ flow: middle, input: undefined });
    return 'done';
  });
  return { seen, top };
}

const recordedIds = () => new Set(tracing.spans().map((s) => s.attributes[attr.ATTR_EXECUTION_ID]));

describe('executionIdOf', () => {
  it('gives the recorded execution id from a ctx at depth 0 and 2 and from what scope.exec returned', async () => {
    const { seen, top } = idFlows();
    const scope = createScope({ extensions: [createTracingExtension({ tracer: tracing.tracer })] });
    const execution = scope.exec({ flow: top, input: undefined });
    // Known as soon as scope.exec returns, before the flow has run, so it can go in a log line.
    const fromExecution = executionIdOf(execution);
    expect(fromExecution).toMatch(/^[0-9a-f-]{36}$/);
    await execution.result;
    expect(recordedIds()).toEqual(new Set([fromExecution]));
    expect(seen).toEqual({ depth0: fromExecution, depth2: fromExecution });
    // Not pumped-fn's FlowExecution.id: extensions never see that one.
    expect(fromExecution).not.toBe(execution.id);
  });

  it('gives a standalone context its own id', async () => {
    const scope = createScope({ extensions: [createTracingExtension({ tracer: tracing.tracer })] });
    const ctx = scope.createExecution({ name: 'import' });
    await ctx.exec({ fn: () => 1, key: 'one' });
    await ctx.close();
    expect(recordedIds()).toEqual(new Set([executionIdOf(ctx)]));
  });

  it('gives the tool call execution id inside a flow run by an MCP tool', async () => {
    const { seen, top } = idFlows();
    const server = new McpServer({ name: 'ids', version: '1.0.0' });
    instrumentMcpServer(server);
    registerFlowTool(server, createScope({ extensions: [createTracingExtension()] }), top, { name: 'top' });
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await server.connect(serverSide);
    const client = new Client({ name: 'agent', version: '1.0.0' });
    await client.connect(clientSide);
    await client.callTool({ name: 'top', arguments: {} });
    await client.close();
    // The session's other messages (initialize, …) are spans of no execution.
    const ids = new Set([...recordedIds()].filter((id) => id !== undefined));
    expect(ids.size).toBe(1);
    expect(seen).toEqual({ depth0: [...ids][0], depth2: [...ids][0] });
    const tool = tracing.spans().find((s) => s.name === 'tools/call top')!;
    expect(tool.attributes[attr.ATTR_EXECUTION_ID]).toBe(seen.depth0);
  });

  it('is undefined for an untraced execution', async () => {
    const { seen, top } = idFlows();
    const execution = createScope().exec({ flow: top, input: undefined });
    await execution.result;
    expect(executionIdOf(execution)).toBeUndefined();
    expect(seen).toEqual({ depth0: undefined, depth2: undefined });
  });
});
