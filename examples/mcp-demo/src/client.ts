import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { trace } from '@opentelemetry/api';
import { startTracing } from '@flowtrace/node';
import { instrumentMcpClient } from '@flowtrace/tracer/mcp';

/**
 * A stand-in for an agent: calls the demo tools now and then so the Usage tab has life.
 * Environment: DEMO_MCP_URL (default http://127.0.0.1:3001/mcp), DEMO_CLIENT_INTERVAL_MS
 * (average pause between calls, default 3000).
 */
const url = new URL(process.env.DEMO_MCP_URL ?? 'http://127.0.0.1:3001/mcp');
const interval = Number(process.env.DEMO_CLIENT_INTERVAL_MS ?? 3000);
const tracing = startTracing({ serviceName: 'flowtrace-demo-agent' });
const tracer = trace.getTracer('flowtrace-demo-agent');

const customers = ['ada', 'grace', 'linus', 'margaret', 'ken'];
const products = ['tea-green', 'tea-black', 'mug', 'kettle'];
const pick = <T>(list: readonly T[]): T => list[Math.floor(Math.random() * list.length)]!;

function nextCall(): { name: string; arguments: Record<string, unknown> } {
  const roll = Math.random();
  if (roll < 0.6) {
    const items = Array.from({ length: 1 + Math.floor(Math.random() * 3) }, () => ({ sku: pick(products), qty: 1 + Math.floor(Math.random() * 4) }));
    return { name: 'place_order', arguments: { customer: pick(customers), items, card: Math.random() < 0.2 ? '4000000000020000' : '4242424242424242' } };
  }
  if (roll < 0.9) {
    const failAt = Math.random() < 0.35 ? pick(['extract', 'transform', 'load'] as const) : undefined;
    return { name: 'sync_inventory', arguments: { source: pick(['warehouse-a', 'warehouse-b']), ...(failAt ? { failAt } : {}) } };
  }
  return { name: 'monthly_report', arguments: { month: pick(['2026-09', '2026-10', '2026-11']) } };
}

let client: Client | undefined;
async function connect(): Promise<Client> {
  const fresh = instrumentMcpClient(new Client({ name: 'flowtrace-demo-agent', version: '0.1.0' }));
  await fresh.connect(new StreamableHTTPClientTransport(url));
  return fresh;
}

let running = true;
async function loop() {
  while (running) {
    const call = nextCall();
    try {
      client ??= await connect();
      await tracer.startActiveSpan(`agent calls ${call.name}`, async (span) => {
        try {
          const result = await client!.callTool(call);
          console.log(`[demo-client] ${call.name} → ${result.isError ? 'error' : 'ok'}`);
        } finally {
          span.end();
        }
      });
    } catch (error) {
      // The server restarts or is not up yet: connect again next time.
      console.log(`[demo-client] ${call.name} failed: ${(error as Error).message}`);
      client = undefined;
    }
    await new Promise((r) => setTimeout(r, interval * (0.5 + Math.random())));
  }
}

process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
async function stop() {
  running = false;
  await client?.close().catch(() => {});
  await tracing.shutdown();
  process.exit(0);
}
void loop();
