import Long from 'long';
import { SpanMessage } from './schema.js';
import { storedKey } from './stored-body.js';
import type { AttributeValue, Attributes, Span } from './span.js';

/**
 * A decoded span as the protobuf body the store keeps (stored-body.ts: no trace, span or parent
 * id, common keys coded), which `decodeStoredSpan` reads back as this span given the ids its row keeps (its
 * resource and scope aside, which the store keeps once per origin; `flags` reads back 0 where it
 * was absent, as for any span that came as protobuf). For spans that came as OTLP/JSON: stored
 * as protobuf they take less room than as JSON text, and every stored span is read one way. What
 * the JSON said that the span shape does not keep (a double written `2.0`, a dropped-attributes
 * count) was already gone at decoding, so nothing more is lost here.
 */
export function encodeSpan(span: Span): Uint8Array {
  const message: Record<string, unknown> = {
    name: span.name,
    kind: span.kind,
    startTimeUnixNano: nanos(span.startTimeUnixNano),
    endTimeUnixNano: nanos(span.endTimeUnixNano),
    attributes: keyValues(span.attributes, storedKey),
    events: span.events.map((event) => ({ name: event.name, timeUnixNano: nanos(event.timeUnixNano), attributes: keyValues(event.attributes) })),
    links: span.links.map((link) => ({ traceId: Buffer.from(link.traceId, 'hex'), spanId: Buffer.from(link.spanId, 'hex'), attributes: keyValues(link.attributes) })),
    status: span.status.message === undefined ? { code: span.status.code } : { code: span.status.code, message: span.status.message },
  };
  if (span.traceState !== undefined) message.traceState = span.traceState;
  if (span.flags !== undefined) message.flags = span.flags;
  return SpanMessage.encode(message).finish();
}

function nanos(decimal: string): Long {
  return Long.fromString(decimal, true);
}

/** `keyOf` names the span's own attributes as stored; nested lists and events keep their keys. */
function keyValues(attributes: Attributes, keyOf = (key: string) => key): Array<{ key: string; value?: unknown }> {
  return Object.keys(attributes).map((key) => {
    const value = attributes[key]!;
    return value === null ? { key: keyOf(key) } : { key: keyOf(key), value: anyValue(value) };
  });
}

/** The AnyValue the protobuf decoder reads back as `value`. */
function anyValue(value: Exclude<AttributeValue, null>): Record<string, unknown> {
  switch (typeof value) {
    case 'string':
      return { stringValue: value };
    case 'boolean':
      return { boolValue: value };
    case 'number':
      // Read back as a number either way; -0 only survives as a double.
      return Number.isSafeInteger(value) && !Object.is(value, -0) ? { intValue: value } : { doubleValue: value };
    default:
      if (Array.isArray(value)) return { arrayValue: { values: value.map((item) => (item === null ? {} : anyValue(item))) } };
      return { kvlistValue: { values: keyValues(value) } };
  }
}
