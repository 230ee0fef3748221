import { context, propagation, trace } from '@opentelemetry/api';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { createTracingExtension } from '@flowtrace/tracer';
import { instrumentMcpServer, registerFlowTool } from '@flowtrace/tracer/mcp';
import { createScope } from '@pumped-fn/core-next';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { placeOrder } from '../src/flows.js';

/**
 * The demo's place_order tool takes a full card number: as a tool argument, in the flow's input
 * and as a parameter of its `charge` step. Run in process — the demo's own flow, registered and
 * instrumented as its server does, over an in-memory MCP transport, with the tracer's default
 * options and a real SDK provider — and nothing recorded may hold the number.
 */
const exporter = new InMemorySpanExporter();
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
let client: Client;

beforeAll(async () => {
  trace.disable();
  context.disable();
  propagation.disable();
  provider.register();
  const server = instrumentMcpServer(new McpServer({ name: 'flowtrace-demo-shop', version: '0.1.0' }));
  const scope = createScope({ extensions: [createTracingExtension()] });
  registerFlowTool(server, scope, placeOrder, {
    name: 'place_order',
    inputSchema: { customer: z.string(), items: z.array(z.object({ sku: z.string(), qty: z.number().int() })), card: z.string() },
  });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  client = new Client({ name: 'redaction-test', version: '1.0.0' });
  await client.connect(clientSide);
});

afterAll(async () => {
  await client?.close();
  await provider.shutdown();
  trace.disable();
  context.disable();
});

/** Every digit sequence of 13 or more digits (spaces and dashes between them ignored) in the recorded attributes. */
function longNumbers(text: string): string[] {
  return (text.match(/\d(?:[ -]?\d){12,}/g) ?? []).map((n) => n.replace(/[ -]/g, ''));
}

describe('the demo records no card number', () => {
  // The client's card, the same spaced, and a Luhn-valid one ending 0000 (the demo declines those).
  const cases = [
    { card: '4242424242424242', declined: false },
    { card: '4242 4242 4242 4242', declined: false },
    { card: '4000000000020000', declined: true },
  ];

  for (const { card, declined } of cases) {
    it(`place_order with ${declined ? 'a declined' : 'an accepted'} card (${card.slice(0, 4)}…)`, async () => {
      exporter.reset();
      const result = await client.callTool({ name: 'place_order', arguments: { customer: 'ann', items: [{ sku: 'mug', qty: 1 }], card } });
      expect(Boolean(result.isError)).toBe(declined);

      const spans = exporter.getFinishedSpans();
      const names = spans.map((s) => s.name);
      expect(names).toEqual(expect.arrayContaining(['tools/call place_order', 'flow place-order', 'step charge']));
      const charge = spans.find((s) => s.name === 'step charge')!;
      // The charge step's parameters were recorded, with the card hidden in place.
      expect(JSON.parse(String(charge.attributes['flowtrace.input']))).toEqual(['[REDACTED]', 12]);

      const recorded = JSON.stringify(spans.map((s) => ({ attributes: s.attributes, events: s.events, status: s.status })));
      const digits = card.replace(/ /g, '');
      expect(recorded).not.toContain(card);
      expect(longNumbers(recorded)).not.toContain(digits);
      expect(recorded).toContain('[REDACTED]');
    });
  }
});
