import { SpanKind, SpanStatusCode, TraceFlags, type Context, type SpanContext } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import {
  RandomIdGenerator,
  type ReadableSpan,
  type Span,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { ATTR_EXECUTION_ROOT, ATTR_MARKER, MARKER_INSTANCE_START, MARKER_START } from '@flowtrace/tracer/semconv';
import { TRACER_NAME, TRACER_VERSION } from '@flowtrace/tracer';

const ids = new RandomIdGenerator();

/**
 * The span processor of the flowtrace collector's pipeline. It hands every span to `delegate`
 * (typically a `BatchSpanProcessor` with the collector's exporter), and when an execution's top
 * span starts it also hands over a **start marker** at once — a zero-duration copy with its own
 * span id, parented to the real span and tagged `flowtrace.marker=start` — because OTLP exports a
 * span only when it ends and the collector must show executions that are still running.
 *
 * Put it only in front of the flowtrace collector's exporter: other backends would show markers
 * as spans.
 */
export class StartMarkerSpanProcessor implements SpanProcessor {
  constructor(private readonly delegate: SpanProcessor) {}

  onStart(span: Span, parentContext: Context): void {
    this.delegate.onStart(span, parentContext);
    if (span.attributes[ATTR_EXECUTION_ROOT] === true) this.delegate.onEnd(startMarker(span));
  }

  onEnd(span: ReadableSpan): void {
    this.delegate.onEnd(span);
  }

  /**
   * Tells the collector that this process (its resource's `service.instance.id`) started, so it
   * can mark executions left pending by an earlier instance of the service as interrupted.
   */
  announceInstance(resource: Resource): void {
    const spanContext: SpanContext = {
      traceId: ids.generateTraceId(),
      spanId: ids.generateSpanId(),
      traceFlags: TraceFlags.SAMPLED,
    };
    const now = hrNow();
    this.delegate.onEnd(
      markerSpan({
        name: 'flowtrace instance-start',
        kind: SpanKind.INTERNAL,
        spanContext,
        parentSpanContext: undefined,
        time: now,
        attributes: { [ATTR_MARKER]: MARKER_INSTANCE_START },
        resource,
        instrumentationScope: { name: TRACER_NAME, version: TRACER_VERSION },
      }),
    );
  }

  forceFlush(): Promise<void> {
    return this.delegate.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.delegate.shutdown();
  }
}

/** The start marker of `span`: what was known of it when it started. */
export function startMarker(span: ReadableSpan): ReadableSpan {
  const real = span.spanContext();
  return markerSpan({
    name: span.name,
    kind: span.kind,
    spanContext: { traceId: real.traceId, spanId: ids.generateSpanId(), traceFlags: real.traceFlags },
    parentSpanContext: real,
    time: span.startTime,
    attributes: { ...span.attributes, [ATTR_MARKER]: MARKER_START },
    resource: span.resource,
    instrumentationScope: span.instrumentationScope,
  });
}

interface MarkerFields {
  name: string;
  kind: SpanKind;
  spanContext: SpanContext;
  parentSpanContext: SpanContext | undefined;
  time: ReadableSpan['startTime'];
  attributes: ReadableSpan['attributes'];
  resource: Resource;
  instrumentationScope: ReadableSpan['instrumentationScope'];
}

function markerSpan(fields: MarkerFields): ReadableSpan {
  return {
    name: fields.name,
    kind: fields.kind,
    spanContext: () => fields.spanContext,
    parentSpanContext: fields.parentSpanContext,
    startTime: fields.time,
    endTime: fields.time,
    duration: [0, 0],
    ended: true,
    status: { code: SpanStatusCode.UNSET },
    attributes: fields.attributes,
    links: [],
    events: [],
    resource: fields.resource,
    instrumentationScope: fields.instrumentationScope,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}

function hrNow(): [number, number] {
  const ms = Date.now();
  return [Math.floor(ms / 1000), (ms % 1000) * 1e6];
}
