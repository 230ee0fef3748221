import protobuf from 'protobufjs';
import { ATTR_MARKER } from '@flowtrace/semconv';
import type { Cut } from './payload.js';

const LEN = 2;
const MARKER = Buffer.from(ATTR_MARKER, 'utf8');

/** Field numbers walked, from opentelemetry-proto; every other field is copied as it came. */
const REQUEST_RESOURCE_SPANS = 1;
const RESOURCE_SCOPE_SPANS = 2;
const SCOPE_SPANS = 2;
const SPAN_ATTRIBUTES = 9;
const KEY_VALUE_KEY = 1;

/** One field of a message as it came: its number, wire type, and its bytes (tag included). */
interface Field {
  number: number;
  wireType: number;
  /** The whole field, tag and length prefix included. */
  raw: Uint8Array;
  /** A length-delimited field's content. */
  content?: Uint8Array;
}

/**
 * Cuts flowtrace's marker spans out of an ExportTraceServiceRequest without decoding it: the
 * walk goes down resource_spans → scope_spans → spans and reads only each span's attribute keys.
 * Every other byte is copied as it came; a ScopeSpans left without spans is dropped, then a
 * ResourceSpans left without ScopeSpans. The body was checked whole at ingest (checkWire).
 */
export function cutProtobuf(body: Uint8Array): Cut {
  let spans = 0;
  const cutScope = (scope: Uint8Array): Uint8Array[] | undefined => {
    const kept = fieldsOf(scope).filter((f) => f.number !== SCOPE_SPANS || f.wireType !== LEN || !isMarker(f.content!));
    const left = kept.filter((f) => f.number === SCOPE_SPANS && f.wireType === LEN).length;
    spans += left;
    return left > 0 ? kept.map((f) => f.raw) : undefined;
  };
  const cutResource = (resource: Uint8Array) => nested(resource, RESOURCE_SCOPE_SPANS, cutScope);
  const parts = nested(body, REQUEST_RESOURCE_SPANS, cutResource) ?? [];
  return { payload: Buffer.concat(parts), spans };
}

/**
 * A message's fields with each length-delimited `field` replaced by what `cut` makes of it:
 * undefined drops it, else it is written again around the new content (unchanged content keeps
 * its original bytes). Undefined when none is left.
 */
function nested(message: Uint8Array, field: number, cut: (content: Uint8Array) => Uint8Array[] | undefined): Uint8Array[] | undefined {
  const out: Uint8Array[] = [];
  let left = 0;
  for (const f of fieldsOf(message)) {
    if (f.number !== field || f.wireType !== LEN) {
      out.push(f.raw);
      continue;
    }
    const parts = cut(f.content!);
    if (!parts) continue;
    left++;
    const length = parts.reduce((sum, p) => sum + p.length, 0);
    if (length === f.content!.length) out.push(f.raw);
    else out.push(prefix(field, length), ...parts);
  }
  return left === 0 ? undefined : out;
}

/** Whether a Span's attributes hold the marker key. */
function isMarker(span: Uint8Array): boolean {
  // Cheap first: a span without the key's bytes anywhere has no such attribute.
  if (Buffer.from(span.buffer, span.byteOffset, span.byteLength).indexOf(MARKER) < 0) return false;
  return fieldsOf(span).some(
    (f) =>
      f.number === SPAN_ATTRIBUTES &&
      f.wireType === LEN &&
      fieldsOf(f.content!).some((k) => k.number === KEY_VALUE_KEY && k.wireType === LEN && Buffer.compare(k.content!, MARKER) === 0),
  );
}

function fieldsOf(bytes: Uint8Array): Field[] {
  const reader = protobuf.Reader.create(bytes);
  const fields: Field[] = [];
  while (reader.pos < reader.len) {
    const start = reader.pos;
    const tag = reader.uint32();
    const wireType = tag & 7;
    let content: Uint8Array | undefined;
    if (wireType === LEN) {
      const length = reader.uint32();
      content = bytes.subarray(reader.pos, reader.pos + length);
      reader.pos += length;
    } else {
      reader.skipType(wireType);
    }
    fields.push({ number: tag >>> 3, wireType, raw: bytes.subarray(start, reader.pos), ...(content ? { content } : {}) });
  }
  return fields;
}

function prefix(field: number, length: number): Uint8Array {
  return protobuf.Writer.create().uint32((field << 3) | LEN).uint32(length).finish();
}
