import { randomFillSync } from 'node:crypto';
import { SpanKind, SpanStatusCode, TraceFlags, type Attributes, type Context, type HrTime, type SpanContext } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import { ExportResultCode } from '@opentelemetry/core';
import type { ReadableSpan, Span, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { TRACER_NAME, TRACER_VERSION } from '@flowtrace/tracer';
import {
  ATTR_EXECUTION_ID,
  ATTR_HEARTBEAT_INTERVAL_MS,
  ATTR_MARKER,
  ATTR_MARKER_PARENT_ID,
  MARKER_HEARTBEAT,
  MARKER_INSTANCE_START,
  MARKER_START,
} from '@flowtrace/semconv';

/**
 * The span processor of the flowtrace collector's pipeline. It hands every span to `delegate`
 * (typically a `BatchSpanProcessor` with the collector's exporter), and when a span of an
 * execution (one with `flowtrace.execution.id`: the execution itself or any of its steps) starts,
 * it also hands over a **start marker** a microtask later — a zero-duration copy with its own span id,
 * parented to the real span and tagged `flowtrace.marker=start` — because OTLP exports a span only
 * when it ends and the collector must show executions and steps that are still running.
 *
 * The marker is a {@link StartMarker}: it costs one small object until it is exported, and an
 * exporter wrapped in {@link dropEndedStartMarkers} never sends the markers of spans that ended
 * before their batch left (their own span says more), so a step shorter than the batch delay
 * costs no marker on the wire.
 *
 * Works in front of the processors of OpenTelemetry SDK 1.x and 2.x. Put it only in front of the
 * flowtrace collector's exporter: other backends would show markers as spans.
 */
export class StartMarkerSpanProcessor implements SpanProcessor {
  /** Execution spans started since the last hand-over, whose markers are not made yet. */
  private started: Span[] = [];

  constructor(private readonly delegate: SpanProcessor) {}

  onStart(span: Span, parentContext: Context): void {
    this.delegate.onStart(span, parentContext);
    if (span.attributes[ATTR_EXECUTION_ID] === undefined) return;
    if (this.started.push(span) === 1) queueMicrotask(this.handOver);
  }

  /**
   * Makes the markers of the spans started since the last call and hands them over. It runs one
   * microtask after a start, not in `onStart`: flowtrace's extension gives a step's span most of
   * its start attributes right after creating it (see its `open`), and a marker holds the
   * attributes its span had by then.
   */
  private readonly handOver = (): void => {
    const spans = this.started;
    if (spans.length === 0) return;
    this.started = [];
    for (const span of spans) this.delegate.onEnd(new StartMarker(span));
  };

  onEnd(span: ReadableSpan): void {
    // A span can end in the turn it started in: its marker goes first.
    this.handOver();
    this.delegate.onEnd(span);
  }

  /**
   * Tells the collector that this process (its resource's replica and start ids) started, so it
   * can mark executions an earlier run of the same replica left pending as interrupted. With
   * `heartbeatIntervalMs`, it also promises a heartbeat that often from now on.
   */
  announceInstance(resource: Resource, heartbeatIntervalMs?: number): void {
    this.processMarker(resource, MARKER_INSTANCE_START, heartbeatIntervalMs ? { [ATTR_HEARTBEAT_INTERVAL_MS]: heartbeatIntervalMs } : {});
  }

  /** Tells the collector this process is alive; it expects the next one within `intervalMs`. */
  heartbeat(resource: Resource, intervalMs: number): void {
    this.processMarker(resource, MARKER_HEARTBEAT, { [ATTR_HEARTBEAT_INTERVAL_MS]: intervalMs });
  }

  /** A marker about the process itself, in a trace of its own. */
  private processMarker(resource: Resource, marker: string, attributes: Attributes): void {
    const spanContext: SpanContext = { traceId: randomId(16), spanId: randomId(8), traceFlags: TraceFlags.SAMPLED };
    this.delegate.onEnd(
      markerSpan({
        name: `flowtrace ${marker}`,
        kind: SpanKind.INTERNAL,
        spanContext,
        parent: undefined,
        time: hrNow(),
        attributes: { ...attributes, [ATTR_MARKER]: marker },
        resource,
        scope: { name: TRACER_NAME, version: TRACER_VERSION },
      }),
    );
  }

  forceFlush(): Promise<void> {
    this.handOver();
    return this.delegate.forceFlush();
  }

  shutdown(): Promise<void> {
    this.handOver();
    return this.delegate.shutdown();
  }
}

/** The start marker of `span`: what was known of it when it started. */
export function startMarker(span: ReadableSpan): ReadableSpan {
  return new StartMarker(span);
}

/**
 * A start marker built on first read. Until its batch is exported it is one object holding the
 * real span and how many attributes the span had when the marker was made: those (the first
 * ones, in the order they were set) are the marker's, read when the exporter asks, so a marker
 * that is never sent is never copied. Fields have the 1.x names too, so either SDK's exporter encodes it.
 */
export class StartMarker implements ReadableSpan {
  readonly kind: SpanKind;
  readonly name: string;
  readonly startTime: HrTime;
  readonly endTime: HrTime;
  readonly duration: HrTime = [0, 0];
  readonly ended = true;
  readonly status = { code: SpanStatusCode.UNSET };
  readonly links = [];
  readonly events = [];
  readonly resource: Resource;
  readonly instrumentationScope: ReadableSpan['instrumentationScope'];
  readonly droppedAttributesCount = 0;
  readonly droppedEventsCount = 0;
  readonly droppedLinksCount = 0;
  private readonly startAttributes: number;
  private context: SpanContext | undefined;
  private copied: Attributes | undefined;

  constructor(readonly real: ReadableSpan) {
    this.kind = real.kind;
    this.name = real.name;
    this.startTime = real.startTime;
    this.endTime = real.startTime;
    this.resource = real.resource;
    this.instrumentationScope = scopeOf(real);
    let count = 0;
    for (const _ in real.attributes) count++;
    this.startAttributes = count;
  }

  spanContext(): SpanContext {
    const real = this.real.spanContext();
    return (this.context ??= { traceId: real.traceId, spanId: randomId(8), traceFlags: real.traceFlags });
  }

  get parentSpanContext(): SpanContext {
    return this.real.spanContext();
  }

  get parentSpanId(): string {
    return this.real.spanContext().spanId;
  }

  get instrumentationLibrary(): ReadableSpan['instrumentationScope'] {
    return this.instrumentationScope;
  }

  get attributes(): Attributes {
    if (this.copied) return this.copied;
    const copy: Attributes = {};
    let left = this.startAttributes;
    for (const key in this.real.attributes) {
      if (left-- === 0) break;
      copy[key] = this.real.attributes[key];
    }
    copy[ATTR_MARKER] = MARKER_START;
    const parentId = parentSpanId(this.real);
    if (parentId !== undefined) copy[ATTR_MARKER_PARENT_ID] = parentId;
    return (this.copied = copy);
  }
}

/**
 * Wraps the collector's exporter so that each batch leaves without the start markers of spans
 * that have ended by then: the ended span is in this batch or a later one, and says more.
 */
export function dropEndedStartMarkers(exporter: SpanExporter): SpanExporter {
  return {
    export(spans, done) {
      const kept = spans.filter((span) => !(span instanceof StartMarker && span.real.ended));
      if (kept.length === 0) done({ code: ExportResultCode.SUCCESS });
      else exporter.export(kept, done);
    },
    shutdown: () => exporter.shutdown(),
    forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
  };
}

/** What the SDK 1.x `ReadableSpan` has instead of the 2.x fields. */
interface Sdk1Fields {
  parentSpanId?: string;
  instrumentationLibrary?: ReadableSpan['instrumentationScope'];
}

function parentSpanId(span: ReadableSpan): string | undefined {
  return span.parentSpanContext?.spanId ?? (span as ReadableSpan & Sdk1Fields).parentSpanId;
}

function scopeOf(span: ReadableSpan): ReadableSpan['instrumentationScope'] {
  return span.instrumentationScope ?? (span as ReadableSpan & Sdk1Fields).instrumentationLibrary;
}

interface MarkerFields {
  name: string;
  kind: SpanKind;
  spanContext: SpanContext;
  parent: SpanContext | undefined;
  time: HrTime;
  attributes: Attributes;
  resource: Resource;
  scope: ReadableSpan['instrumentationScope'];
}

// A plain object rather than an SDK class: the SDK's Span constructor changed between 1.x and
// 2.x, while the exporters of both read only these fields. The 1.x names (`parentSpanId`,
// `instrumentationLibrary`) sit next to the 2.x ones so either SDK's exporter encodes it.
function markerSpan(fields: MarkerFields): ReadableSpan & Sdk1Fields {
  return {
    name: fields.name,
    kind: fields.kind,
    spanContext: () => fields.spanContext,
    parentSpanContext: fields.parent,
    parentSpanId: fields.parent?.spanId,
    startTime: fields.time,
    endTime: fields.time,
    duration: [0, 0],
    ended: true,
    status: { code: SpanStatusCode.UNSET },
    attributes: fields.attributes,
    links: [],
    events: [],
    resource: fields.resource,
    instrumentationScope: fields.scope,
    instrumentationLibrary: fields.scope,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}

// Random bytes from node:crypto, drawn from a pool refilled 4 KiB at a time, as lowercase hex.
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;
const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'));

function randomId(bytes: number): string {
  for (;;) {
    if (poolOffset + bytes > pool.length) {
      randomFillSync(pool);
      poolOffset = 0;
    }
    let id = '';
    let any = 0;
    for (let i = 0; i < bytes; i++) {
      const byte = pool[poolOffset++]!;
      any |= byte;
      id += HEX[byte];
    }
    // An all-zero id is invalid in OTel: draw again (1 in 2^64).
    if (any !== 0) return id;
  }
}

function hrNow(): HrTime {
  const ms = Date.now();
  return [Math.floor(ms / 1000), (ms % 1000) * 1e6];
}
