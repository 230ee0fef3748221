/**
 * What the store keeps of a span's protobuf bytes: the span without its trace id, span id and
 * parent span id. Every engine keeps those in columns of the span's row (its keys need them), so
 * in the body they were ~38 B of a ~560 B span stored twice. The decoder has checked them
 * (16, 8 and 8 bytes), so the columns hold them whole. `decodeStoredSpan` puts them back.
 */
const TRACE_ID = 1;
const SPAN_ID = 2;
const PARENT_SPAN_ID = 4;

const VARINT = 0;
const FIXED64 = 1;
const LEN = 2;
const FIXED32 = 5;

/**
 * `span`, a Span message already checked well-formed (wire-check.ts), without the fields its row
 * keeps (every occurrence: the last is the value the row holds). A subarray of `span` when they
 * lead it, as OTel's encoders write them; a copy only when another field sits between them (a
 * trace state).
 */
export function storedBody(span: Uint8Array): Uint8Array {
  const kept: Uint8Array[] = [];
  let runStart = 0;
  let runEnd = 0;
  let pos = 0;
  while (pos < span.length) {
    const start = pos;
    const [tag, afterTag] = varint(span, pos);
    pos = afterTag;
    switch (tag & 7) {
      case VARINT:
        pos = varint(span, pos)[1];
        break;
      case FIXED64:
        pos += 8;
        break;
      case LEN: {
        const [length, afterLength] = varint(span, pos);
        pos = afterLength + length;
        break;
      }
      case FIXED32:
        pos += 4;
        break;
      default:
        // Groups are not in the Span message: keep such bytes whole rather than guess.
        return span;
    }
    const field = tag >>> 3;
    if (field === TRACE_ID || field === SPAN_ID || field === PARENT_SPAN_ID) continue;
    if (start !== runEnd) {
      if (runEnd > runStart) kept.push(span.subarray(runStart, runEnd));
      runStart = start;
    }
    runEnd = pos;
  }
  if (runEnd > runStart) kept.push(span.subarray(runStart, runEnd));
  if (kept.length === 1) return kept[0]!;
  return kept.length === 0 ? span.subarray(0, 0) : Buffer.concat(kept);
}

/** The ids a stored body left out, as the row's columns hold them. */
export interface SpanIds {
  traceId: Uint8Array;
  spanId: Uint8Array;
  parentId: Uint8Array | null;
}

/** A span's ids as its row keeps them (hex to bytes, as every engine writes its columns). */
export function idsOf(span: { traceId: string; spanId: string; parentSpanId?: string }): SpanIds {
  return {
    traceId: Buffer.from(span.traceId, 'hex'),
    spanId: Buffer.from(span.spanId, 'hex'),
    parentId: span.parentSpanId === undefined ? null : Buffer.from(span.parentSpanId, 'hex'),
  };
}

/** Puts a row's ids on a Span message decoded from its stored body. */
export function restoreIds(message: { traceId?: Uint8Array; spanId?: Uint8Array; parentSpanId?: Uint8Array }, ids: SpanIds): void {
  message.traceId = ids.traceId;
  message.spanId = ids.spanId;
  if (ids.parentId) message.parentSpanId = ids.parentId;
}

/** A varint at `pos`, and the position after it. 64-bit values lose precision: they are only skipped. */
function varint(bytes: Uint8Array, pos: number): [number, number] {
  let value = 0;
  for (let scale = 1; ; scale *= 128) {
    // Past the end (never, in a checked body) reads as a last byte: the loop always ends.
    const byte = bytes[pos++] ?? 0;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return [value, pos];
  }
}
