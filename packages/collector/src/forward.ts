import { SpanKind, type Attributes as OtelAttributes, type HrTime } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { tracesUrl } from '@flowtrace/node';
import * as sc from '@flowtrace/tracer/semconv';
import type { Span } from './otlp/span.js';

/**
 * Re-exports received spans to other OTLP/HTTP endpoints (Jaeger, another collector) with the
 * OTel SDK's own batch processor and protobuf exporter: queued in memory, sent with the
 * exporter's retries, dropped when the queue is full — a slow or dead upstream never blocks or
 * fails ingest. flowtrace's markers are not forwarded.
 */
export class Forwarder {
  private readonly processors: BatchSpanProcessor[];

  constructor(urls: readonly string[], options: { maxQueueSize?: number; scheduledDelayMillis?: number } = {}) {
    this.processors = urls.map(
      (url) =>
        new BatchSpanProcessor(new OTLPTraceExporter({ url: tracesUrl(url) }), {
          maxQueueSize: options.maxQueueSize ?? 8192,
          scheduledDelayMillis: options.scheduledDelayMillis ?? 1000,
        }),
    );
  }

  get enabled(): boolean {
    return this.processors.length > 0;
  }

  forward(spans: readonly Span[]): void {
    if (!this.enabled) return;
    const resources = new Map<string, Resource>();
    for (const span of spans) {
      if (span.attributes[sc.ATTR_MARKER] !== undefined) continue;
      const key = JSON.stringify(span.resource);
      let resource = resources.get(key);
      if (!resource) {
        resource = resourceFromAttributes(span.resource as OtelAttributes);
        resources.set(key, resource);
      }
      const readable = toReadableSpan(span, resource);
      for (const processor of this.processors) processor.onEnd(readable);
    }
  }

  async flush(): Promise<void> {
    await Promise.all(this.processors.map((p) => p.forceFlush()));
  }

  /**
   * Sends what is queued, waiting at most `graceMs` for a slow upstream, and stops. Never
   * rejects: an unreachable upstream must not stop the collector from closing its store.
   */
  async shutdown(graceMs = 2000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    const done = Promise.allSettled(this.processors.map((p) => p.shutdown()));
    await Promise.race([done, grace]);
    clearTimeout(timer);
  }
}

function toReadableSpan(span: Span, resource: Resource): ReadableSpan {
  const traceFlags = (span.flags ?? 1) & 0xff;
  const spanContext = { traceId: span.traceId, spanId: span.spanId, traceFlags };
  const start = hrTime(span.startTimeUnixNano);
  const end = hrTime(span.endTimeUnixNano);
  const durationNanos = BigInt(span.endTimeUnixNano) - BigInt(span.startTimeUnixNano);
  return {
    name: span.name,
    // OTLP numbers kinds from 1 (INTERNAL); the OTel API from 0.
    kind: Math.max(span.kind - 1, SpanKind.INTERNAL) as SpanKind,
    spanContext: () => spanContext,
    parentSpanContext: span.parentSpanId ? { traceId: span.traceId, spanId: span.parentSpanId, traceFlags } : undefined,
    startTime: start,
    endTime: end,
    duration: hrTime(durationNanos > 0n ? durationNanos.toString() : '0'),
    ended: true,
    status: span.status.message ? { code: span.status.code, message: span.status.message } : { code: span.status.code },
    attributes: span.attributes as OtelAttributes,
    links: span.links.map((link) => ({
      context: { traceId: link.traceId, spanId: link.spanId, traceFlags },
      attributes: link.attributes as OtelAttributes,
    })),
    events: span.events.map((event) => ({
      name: event.name,
      time: hrTime(event.timeUnixNano),
      attributes: event.attributes as OtelAttributes,
    })),
    resource,
    instrumentationScope: span.scope,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}

function hrTime(nanos: string): HrTime {
  const n = BigInt(nanos);
  return [Number(n / 1_000_000_000n), Number(n % 1_000_000_000n)];
}
