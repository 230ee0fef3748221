import { context, SpanKind, SpanStatusCode, trace, TraceFlags } from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { destinationExporter, type Destination } from '../src/exporters.js';
import { ExportThread } from '../src/export-thread/export-thread.js';
import { isolatedTests } from './support/isolated.js';

const receiver = isolatedTests();

const parent = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: TraceFlags.SAMPLED, isRemote: true, traceState: new TraceState('vendor=a,other=b') };
const linked = { traceId: '1bf7651916cd43dd8448eb211c80319d', spanId: 'c7ad6b7169203332', traceFlags: TraceFlags.NONE, isRemote: true, traceState: new TraceState('linked=1') };

/** Spans with every field an OTLP exporter writes: events, links, trace states, status, odd attribute types, two scopes. */
function richSpans(): ReadableSpan[] {
  const memory = new InMemorySpanExporter();
  const provider = new NodeTracerProvider({ resource: resourceFromAttributes({ 'service.name': 'rich', 'deployment.environment.name': 'test' }), spanProcessors: [new SimpleSpanProcessor(memory)] });
  const span = provider.getTracer('rich-scope', '1.2.3').startSpan(
    'rich span',
    { kind: SpanKind.CLIENT, startTime: [1_700_000_000, 5], links: [{ context: linked, attributes: { 'link.n': 1 } }], attributes: { s: 'é ✓ 𝄞', n: 2.5, i: 7, b: false, list: ['a', 'b'] } },
    trace.setSpanContext(context.active(), parent),
  );
  span.addEvent('retry', { attempt: 2 }, [1_700_000_000, 900]);
  span.setStatus({ code: SpanStatusCode.ERROR, message: 'it broke' });
  span.end([1_700_000_001, 0]);
  provider.getTracer('other-scope').startSpan('plain', { startTime: [1_700_000_002, 0] }).end([1_700_000_003, 0]);
  return memory.getFinishedSpans();
}

async function send(exporter: SpanExporter, spans: ReadableSpan[]): Promise<void> {
  const result = await new Promise<{ code: number }>((resolve) => exporter.export(spans, resolve));
  expect(result.code).toBe(0);
}

describe('the export thread', () => {
  it('sends exactly what the SDK exporter on the main thread sends', async () => {
    const [onThread, onMain] = [await receiver(), await receiver()];
    const destination = (url: string): Destination => ({ collector: true, options: { url: `${url}/v1/traces` }, protocol: 'http/protobuf' });
    const thread = ExportThread.start([destination(onThread.url)])!;
    // Before it is ready the main thread would send, and the comparison would prove nothing.
    await thread.started;
    const spans = richSpans();
    await send(thread.exporters[0]!, spans);
    await send(destinationExporter(destination(onMain.url)), spans);
    await thread.exporters[0]!.shutdown();
    await thread.close();
    expect(onThread.requests).toHaveLength(1);
    expect(onThread.requests[0]!.body.length).toBeGreaterThan(200);
    expect(onThread.requests[0]!.body.equals(onMain.requests[0]!.body)).toBe(true);
    expect(onThread.requests[0]!.body.includes('linked=1')).toBe(true);
  });

  it('runs below the priority of the threads that were there before it, which keep theirs', async () => {
    const before = threadNices();
    const thread = ExportThread.start([{ collector: true, options: { url: 'http://127.0.0.1:9/v1/traces' }, protocol: 'http/protobuf' }])!;
    await thread.started;
    const after = threadNices();
    await thread.close();
    for (const [tid, nice] of before) if (after.has(tid)) expect(after.get(tid), `thread ${tid}`).toBe(nice);
    const base = readNice(`/proc/${process.pid}/stat`);
    const fresh = [...after].filter(([tid]) => !before.has(tid)).map(([, nice]) => nice);
    expect(fresh).toContain(Math.min(19, base + 10));
  });
});

/** The nice value of each thread of this process, by thread id (from Linux's /proc). */
function threadNices(): Map<string, number> {
  const nices = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${process.pid}/task`)) {
    try {
      nices.set(tid, readNice(`/proc/${process.pid}/task/${tid}/stat`));
    } catch {
      // The thread ended meanwhile.
    }
  }
  return nices;
}

function readNice(statFile: string): number {
  // Fields after the command's closing parenthesis; nice is the 19th field of the whole line.
  return Number(readFileSync(statFile, 'utf8').split(') ')[1]!.split(' ')[16]);
}
