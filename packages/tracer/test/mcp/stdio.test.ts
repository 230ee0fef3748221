import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SpanKind, trace } from '@opentelemetry/api';
import { afterEach, describe, expect, it } from 'vitest';
import * as sc from '@flowtrace/semconv';
import { byName, memoryTracing } from '../support/memory-tracing.js';
import { SDKS } from '../support/mcp-sdk.js';
import { agentClient } from '../support/mcp-shop.js';

/** The server runs in a child process: the trace can only reach it in `params._meta` over the pipe. */
const SERVER = fileURLToPath(new URL('../fixtures/stdio-shop-server.mjs', import.meta.url));

interface ChildSpan {
  name: string;
  kind: SpanKind;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  attributes: Record<string, unknown>;
}

const tracing = memoryTracing();
const dirs: string[] = [];
afterEach(() => {
  tracing.reset();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** The child's spans, once `ready` says the ones a test needs have been written. */
async function childSpans(file: string, ready: (spans: ChildSpan[]) => boolean): Promise<ChildSpan[]> {
  for (;;) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      // not written yet
    }
    const spans = text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as ChildSpan);
    if (ready(spans)) return spans;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe.each(SDKS)('MCP over stdio, SDK $label', (sdk) => {
  it('continues the client’s trace in the server process: client span → server span → flow → steps', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flowtrace-stdio-'));
    dirs.push(dir);
    const spansFile = join(dir, 'spans.jsonl');
    const client = agentClient(sdk, { instrument: true });
    const transport = new sdk.StdioClientTransport({
      command: process.execPath,
      args: [SERVER],
      env: { PATH: process.env.PATH ?? '', MCP_SDK: sdk.packageName, SPANS_FILE: spansFile },
      stderr: 'inherit',
    });
    const turn = await trace.getTracer('agent').startActiveSpan('agent turn', async (span) => {
      await client.connect(transport);
      const result = await client.callTool({ name: 'double', arguments: { n: 21 } });
      expect(result.structuredContent).toEqual({ doubled: 42 });
      span.end();
      return span;
    });
    const spans = await childSpans(spansFile, (found) => found.some((s) => s.name === 'tools/call double') && found.some((s) => s.name === 'flow double'));
    await client.close();

    const sent = byName(tracing.spans(), 'tools/call double');
    expect(sent.kind).toBe(SpanKind.CLIENT);
    expect(sent.attributes[sc.ATTR_NETWORK_TRANSPORT]).toBe('pipe');
    const received = spans.find((s) => s.name === 'tools/call double')!;
    expect(received.kind).toBe(SpanKind.SERVER);
    expect(received.traceId).toBe(turn.spanContext().traceId);
    expect(received.parentSpanId).toBe(sent.spanContext().spanId);
    expect(received.attributes).toMatchObject({
      [sc.ATTR_NETWORK_TRANSPORT]: 'pipe',
      [sc.ATTR_MCP_METHOD_NAME]: 'tools/call',
      [sc.ATTR_GEN_AI_TOOL_NAME]: 'double',
      [sc.ATTR_EXECUTION_ROOT]: true,
      [sc.ATTR_MCP_PROTOCOL_VERSION]: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/),
    });
    const flowSpan = spans.find((s) => s.name === 'flow double')!;
    expect(flowSpan.parentSpanId).toBe(received.spanId);
    expect(spans.find((s) => s.name === 'step times-two')?.parentSpanId).toBe(flowSpan.spanId);
    expect(spans.find((s) => s.name === 'initialize')?.parentSpanId).toBe(byName(tracing.spans(), 'initialize').spanContext().spanId);
  });
});
