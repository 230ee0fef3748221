import { context, SpanKind, SpanStatusCode, trace, TraceFlags, type Span } from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import { describe, expect, it } from 'vitest';
import { ATTR_MARKER, ATTR_START_ID } from '@flowtrace/semconv';
import { startTracing } from '../src/index.js';
import { isolatedTests } from './support/isolated.js';

const receiver = isolatedTests();

const parent = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: TraceFlags.SAMPLED, isRemote: true, traceState: new TraceState('vendor=a,other=b') };
const linked = { traceId: '1bf7651916cd43dd8448eb211c80319d', spanId: 'c7ad6b7169203332', traceFlags: TraceFlags.NONE, isRemote: true, traceState: new TraceState('linked=1') };

/** One span with every field an OTLP exporter writes: events, links, trace states, status, odd attribute types. */
function writeRichSpan(exportThread: boolean, collectorUrl: string) {
  const handle = startTracing({ serviceName: 'rich', serviceInstanceId: 'instance-1', collectorUrl, collectorProtocol: 'http/json', exporters: [], exportThread });
  const tracer = handle.provider.getTracer('rich-scope', '1.2.3');
  const span: Span = tracer.startSpan(
    'rich span',
    { kind: SpanKind.CLIENT, startTime: [1_700_000_000, 5], links: [{ context: linked, attributes: { 'link.n': 1 } }], attributes: { s: 'é ✓ 𝄞', n: 2.5, i: 7, b: false, list: ['a', 'b'] } },
    trace.setSpanContext(context.active(), parent),
  );
  span.addEvent('retry', { attempt: 2 }, [1_700_000_000, 900]);
  span.setStatus({ code: SpanStatusCode.ERROR, message: 'it broke' });
  span.end([1_700_000_001, 0]);
  return handle;
}

async function received(exportThread: boolean) {
  const collector = await receiver();
  const handle = writeRichSpan(exportThread, collector.url);
  await handle.shutdown();
  const bodies = collector.requests.map(
    (request) => JSON.parse(request.body.toString()) as { resourceSpans: Array<{ resource: { attributes: Array<{ key: string }> }; scopeSpans: Array<{ spans: Array<{ attributes: Array<{ key: string }> }> }> }> },
  );
  // Each start of tracing has an id of its own, the instance-start marker ids and a time of its
  // own, and span ids are drawn at random: the rest must be equal.
  for (const body of bodies) {
    for (const rs of body.resourceSpans) {
      rs.resource.attributes = rs.resource.attributes.filter((a) => a.key !== ATTR_START_ID);
      for (const ss of rs.scopeSpans) {
        ss.spans = ss.spans.filter((s) => !s.attributes.some((a) => a.key === ATTR_MARKER));
        for (const span of ss.spans as Array<{ spanId?: string }>) {
          expect(span.spanId).toMatch(/^[0-9a-f]{16}$/);
          delete span.spanId;
        }
      }
    }
  }
  return bodies.flatMap((body) => body.resourceSpans).filter((rs) => rs.scopeSpans.some((ss) => ss.spans.length > 0));
}

describe('the export thread', () => {
  it('sends exactly what the SDK exporter on the main thread sends', async () => {
    const onThread = await received(true);
    const onMain = await received(false);
    expect(onThread).toHaveLength(1);
    expect(onThread).toEqual(onMain);
    const [span] = onThread.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans)) as unknown as Array<Record<string, unknown>>;
    expect(span).toMatchObject({ name: 'rich span', traceState: 'vendor=a,other=b', parentSpanId: parent.spanId, status: { code: 2, message: 'it broke' } });
    expect(JSON.stringify(span)).toContain('linked=1');
  });
});
