import type { Attributes, HrTime, Link, SpanContext, SpanKind, SpanStatus } from '@opentelemetry/api';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-base';

/**
 * A finished span of the SDK `startTracing` runs as plain data, for the export thread: the fields
 * the OTel OTLP serializers read, with trace states as their serialized text. Its resource is
 * sent once per thread and named by number afterwards.
 */
export interface SpanSnapshot {
  name: string;
  kind: SpanKind;
  context: ContextSnapshot;
  parent: ContextSnapshot | undefined;
  startTime: HrTime;
  endTime: HrTime;
  duration: HrTime;
  status: SpanStatus;
  attributes: Attributes;
  events: TimedEvent[];
  links: LinkSnapshot[];
  droppedAttributesCount: number;
  droppedEventsCount: number;
  droppedLinksCount: number;
  resource: number;
  scope: ReadableSpan['instrumentationScope'];
}

interface ContextSnapshot {
  traceId: string;
  spanId: string;
  traceFlags: number;
  traceState: string | undefined;
  isRemote: boolean | undefined;
}

interface LinkSnapshot {
  context: ContextSnapshot;
  attributes: Attributes | undefined;
  droppedAttributesCount: number | undefined;
}

/** A resource the export thread has not seen yet. */
export interface ResourceSnapshot {
  id: number;
  attributes: Attributes;
  schemaUrl: string | undefined;
}

/** Numbers the resources of the spans sent, so each one crosses to the thread once. */
export class ResourceIds {
  private readonly ids = new WeakMap<Resource, number>();
  private next = 0;

  /** The id of `resource`, and its snapshot in `fresh` the first time. */
  idOf(resource: Resource, fresh: ResourceSnapshot[]): number {
    let id = this.ids.get(resource);
    if (id === undefined) {
      id = this.next++;
      this.ids.set(resource, id);
      fresh.push({ id, attributes: resource.attributes, schemaUrl: resource.schemaUrl });
    }
    return id;
  }
}

export function snapshotSpan(span: ReadableSpan, resource: number): SpanSnapshot {
  const parent = span.parentSpanContext;
  return {
    name: span.name,
    kind: span.kind,
    context: snapshotContext(span.spanContext()),
    parent: parent && snapshotContext(parent),
    startTime: span.startTime,
    endTime: span.endTime,
    duration: span.duration,
    status: span.status,
    attributes: span.attributes,
    events: span.events,
    links: span.links.map((link: Link) => ({ context: snapshotContext(link.context), attributes: link.attributes, droppedAttributesCount: link.droppedAttributesCount })),
    droppedAttributesCount: span.droppedAttributesCount,
    droppedEventsCount: span.droppedEventsCount,
    droppedLinksCount: span.droppedLinksCount,
    resource,
    scope: span.instrumentationScope,
  };
}

function snapshotContext(context: SpanContext): ContextSnapshot {
  return { traceId: context.traceId, spanId: context.spanId, traceFlags: context.traceFlags, traceState: context.traceState?.serialize(), isRemote: context.isRemote };
}

/** The thread's side: snapshots back into spans the SDK's serializers encode as the originals. */
export class SnapshotReader {
  private readonly resources = new Map<number, Resource>();

  learn(fresh: ResourceSnapshot[]): void {
    for (const { id, attributes, schemaUrl } of fresh) this.resources.set(id, resourceFromAttributes(attributes, { schemaUrl }));
  }

  span(snapshot: SpanSnapshot): ReadableSpan {
    const context = restoreContext(snapshot.context);
    return {
      name: snapshot.name,
      kind: snapshot.kind,
      spanContext: () => context,
      parentSpanContext: snapshot.parent && restoreContext(snapshot.parent),
      startTime: snapshot.startTime,
      endTime: snapshot.endTime,
      duration: snapshot.duration,
      ended: true,
      status: snapshot.status,
      attributes: snapshot.attributes,
      events: snapshot.events,
      links: snapshot.links.map((link) => ({ context: restoreContext(link.context), attributes: link.attributes, droppedAttributesCount: link.droppedAttributesCount })),
      droppedAttributesCount: snapshot.droppedAttributesCount,
      droppedEventsCount: snapshot.droppedEventsCount,
      droppedLinksCount: snapshot.droppedLinksCount,
      resource: this.resources.get(snapshot.resource)!,
      instrumentationScope: snapshot.scope,
    };
  }
}

function restoreContext(snapshot: ContextSnapshot): SpanContext {
  const { traceState, ...context } = snapshot;
  if (traceState === undefined) return context;
  // The serializers only call serialize(); the text is what the original would have given.
  const state = { serialize: () => traceState } as SpanContext['traceState'];
  return { ...context, traceState: state };
}
