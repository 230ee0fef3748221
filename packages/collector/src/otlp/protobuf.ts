import Long from 'long';
import protobuf from 'protobufjs';
import { ATTR_CLAMPED, type Clamp } from './clamp.js';
import { attributes, MAX_VALUE_DEPTH, normalizeRequest, spanOf, type Leaves, type SpanLeaves } from './normalize.js';
import { ExportTraceServiceRequest, ResourceMessage, ScopeMessage, SpanMessage } from './schema.js';
import { restoreStored, StoredBodies, type SpanIds } from './stored-body.js';
import { checkWire } from './wire-check.js';
import { InvalidSpanError, type AttributeValue, type Attributes, type DecodedRequest, type Span } from './span.js';

/** Where a span's own encoding is kept on its decoded message. */
const WIRE = Symbol('wire');
const LEN = 2;

/**
 * OTLP/HTTP binary protobuf: an encoded ExportTraceServiceRequest. The whole body is checked
 * first (checkWire): a malformed one is refused before anything is read from it. The envelope is
 * then walked by hand so each span keeps its own bytes: the store appends them as they came,
 * less the ids its row keeps and with its common keys coded (stored-body.ts), without decoding
 * and encoding them again. `receivedAtMs` is the collector's clock when the body arrived.
 */
export function decodeProtobuf(body: Buffer, receivedAtMs = Date.now()): DecodedRequest {
  checkWire(body, ExportTraceServiceRequest);
  const bodies = new StoredBodies(body.length);
  const leaves: Leaves = {
    ...protobufLeaves,
    wire(span, clamp) {
      const stored = bodies.add((span as Record<symbol, Uint8Array>)[WIRE]!);
      return clamp ? Buffer.concat([stored, clampPatch(clamp)]) : stored;
    },
  };
  return normalizeRequest({ resourceSpans: fields(body, 1, resourceSpans) }, leaves, receivedAtMs);
}

/**
 * A span as the store kept it: its protobuf bytes, with the resource and scope it came with, and
 * for a format-3 body (stored-body.ts) the ids its row keeps.
 */
export function decodeStoredSpan(bytes: Uint8Array, resource: Attributes, scope: Span['scope'], ids?: SpanIds): Span {
  // A Buffer, as at ingest: protobufjs reads its strings with Node's UTF-8 decoder, which never
  // reads past a string's end and replaces invalid bytes as Node does; not its own for a Uint8Array.
  const message = SpanMessage.decode(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  if (ids) restoreStored(message as Parameters<typeof restoreStored>[0], ids);
  return spanOf(message, resource, scope, protobufLeaves);
}

function resourceSpans(bytes: Uint8Array) {
  return {
    resource: fields(bytes, 1, (b) => ResourceMessage.decode(b)).at(-1),
    scopeSpans: fields(bytes, 2, (b) => ({
      scope: fields(b, 1, (s) => ScopeMessage.decode(s)).at(-1),
      spans: fields(b, 2, (s) => {
        const span = SpanMessage.decode(s) as unknown as Record<symbol, unknown>;
        span[WIRE] = s;
        return span;
      }),
    })),
  };
}

/** Every length-delimited occurrence of `field` in a message, read by `read`; other fields skipped. */
function fields<T>(bytes: Uint8Array, field: number, read: (sub: Uint8Array) => T): T[] {
  const reader = protobuf.Reader.create(bytes);
  const found: T[] = [];
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag >>> 3 === field && (tag & 7) === LEN) {
      const length = reader.uint32();
      const start = reader.pos;
      found.push(read(bytes.subarray(start, start + length)));
      reader.pos = start + length;
    } else {
      reader.skipType(tag & 7);
    }
  }
  return found;
}

type Message = Record<string, unknown>;
const has = (message: Message, field: string) => Object.prototype.hasOwnProperty.call(message, field);

const protobufLeaves: SpanLeaves = {
  id(value) {
    if (!(value instanceof Uint8Array) || value.length === 0) return undefined;
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex');
  },
  nanos(value) {
    if (value === undefined || value === null) return '0';
    return Long.isLong(value) ? (value as Long).toUnsigned().toString() : String(value);
  },
  int(value) {
    return typeof value === 'number' ? value : 0;
  },
  anyValue(value, depth): AttributeValue {
    if (depth > MAX_VALUE_DEPTH) throw new InvalidSpanError(`attribute values nest deeper than ${MAX_VALUE_DEPTH}`);
    const message = value as Message;
    if (has(message, 'stringValue')) return message.stringValue as string;
    if (has(message, 'boolValue')) return message.boolValue as boolean;
    if (has(message, 'intValue')) {
      const long = message.intValue as Long | number;
      if (typeof long === 'number') return long;
      const number = long.toNumber();
      return Number.isSafeInteger(number) ? number : long.toString();
    }
    if (has(message, 'doubleValue')) return message.doubleValue as number;
    if (has(message, 'arrayValue')) {
      const values = ((message.arrayValue as Message).values ?? []) as unknown[];
      return values.map((item) => protobufLeaves.anyValue(item, depth + 1));
    }
    if (has(message, 'kvlistValue')) return attributes((message.kvlistValue as Message).values, protobufLeaves, depth + 1);
    if (has(message, 'bytesValue')) return Buffer.from(message.bytesValue as Uint8Array).toString('base64');
    return null;
  },
};


/**
 * The corrected fields of a clamped span, to append to its own bytes: a later value of a field
 * replaces an earlier one and a later attribute of the same key wins, so the stored span reads
 * back corrected and flagged, and the rest of it stays as it came.
 */
function clampPatch(clamp: Clamp): Uint8Array {
  return SpanMessage.encode({
    startTimeUnixNano: Long.fromString(clamp.startTimeUnixNano, true),
    endTimeUnixNano: Long.fromString(clamp.endTimeUnixNano, true),
    attributes: [{ key: ATTR_CLAMPED, value: { stringValue: clamp.flag } }],
  }).finish();
}
