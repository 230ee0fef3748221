/**
 * What the store keeps of a span's protobuf bytes (format 3): the span without its trace id,
 * span id and parent span id, and with the attribute keys flowtrace and OTel instrumentation
 * write on every span as two-character codes.
 *
 * Every engine keeps the ids in columns of the span's row (its keys need them): in the body they
 * were ~38 B of a ~560 B span stored twice. The decoder has checked them (16, 8 and 8 bytes), so
 * the columns hold them whole. The keys (`flowtrace.execution.id`, `flowtrace.step.index`, …)
 * were ~180 B of every span's ~520 stored bytes. `decodeStoredSpan` puts both back.
 */
const TRACE_ID = 1;
const SPAN_ID = 2;
const PARENT_SPAN_ID = 4;
const ATTRIBUTES = 9;
const KEY = 1;

const VARINT = 0;
const FIXED64 = 1;
const LEN = 2;
const END_GROUP = 4;
const FIXED32 = 5;

/**
 * The span attribute keys stored as codes: `\u0001` and then the character `!` + position. A
 * stored format: never edit or reorder, only append (up to 94). Written out, not taken from the
 * semantic conventions, so that a renamed attribute cannot change what stored rows read as.
 */
const CODED_KEYS: readonly string[] = [
  'flowtrace.execution.id',
  'flowtrace.execution.root',
  'flowtrace.context.id',
  'flowtrace.flow.id',
  'flowtrace.flow.name',
  'flowtrace.flow.version',
  'flowtrace.step.kind',
  'flowtrace.step.key',
  'flowtrace.step.index',
  'flowtrace.step.count',
  'flowtrace.depth',
  'flowtrace.input',
  'flowtrace.output',
  'flowtrace.input.truncated',
  'flowtrace.output.truncated',
  'flowtrace.timeout_ms',
  'flowtrace.cancelled',
  'flowtrace.abort_reason',
  'flowtrace.abort_kind',
  'flowtrace.marker',
  'flowtrace.marker.parent_id',
  'flowtrace.heartbeat.interval_ms',
  'flowtrace.replica.id',
  'flowtrace.start.id',
  'flowtrace.context.close_mode',
  'mcp.method.name',
  'mcp.session.id',
  'mcp.protocol.version',
  'mcp.resource.uri',
  'jsonrpc.request.id',
  'jsonrpc.protocol.version',
  'rpc.response.status_code',
  'gen_ai.operation.name',
  'gen_ai.tool.name',
  'gen_ai.prompt.name',
  'gen_ai.tool.call.arguments',
  'gen_ai.tool.call.result',
  'error.type',
  'network.transport',
  'network.protocol.name',
  'network.protocol.version',
  'client.address',
  'client.port',
];

/** Marks a stored key as a code, or (doubled) as a key of its own that began with it. */
const MARK = 0x01;
const FIRST_CODE = 0x21;

const CODE_OF = new Map(CODED_KEYS.map((key, code) => [key, code]));
/** The coded keys by byte length, as bytes: matched against a key's bytes without decoding them. */
const BY_LENGTH: Array<Array<{ bytes: Buffer; code: number }>> = [];
for (const [code, key] of CODED_KEYS.entries()) (BY_LENGTH[key.length] ??= []).push({ bytes: Buffer.from(key, 'latin1'), code });

/** A span attribute's key as format 3 stores it (the JSON path, which encodes spans itself). */
export function storedKey(key: string): string {
  const code = CODE_OF.get(key);
  if (code !== undefined) return String.fromCharCode(MARK, FIRST_CODE + code);
  return key.charCodeAt(0) === MARK ? String.fromCharCode(MARK) + key : key;
}

/** A key as read from a format-3 body: the attribute's own key. */
export function readKey(stored: string): string {
  if (stored.charCodeAt(0) !== MARK) return stored;
  if (stored.charCodeAt(1) === MARK) return stored.slice(1);
  return CODED_KEYS[stored.charCodeAt(1) - FIRST_CODE] ?? stored;
}

/**
 * Where the stored bodies of one request are written: one buffer, not one per span. A body is
 * never longer than its span but for keys that begin with the mark (2 more bytes at most each).
 */
export class StoredBodies {
  private buffer: Buffer;
  private at = 0;

  constructor(expectedBytes: number) {
    this.buffer = Buffer.allocUnsafeSlow(Math.max(expectedBytes, 1024));
  }

  /** `span`, a Span message already checked well-formed (wire-check.ts), as format 3 stores it. */
  add(span: Uint8Array): Uint8Array {
    const room = 2 * span.length + 16;
    if (this.buffer.length - this.at < room) {
      this.buffer = Buffer.allocUnsafeSlow(Math.max(room, this.buffer.length));
      this.at = 0;
    }
    const start = this.at;
    this.at = write(span, this.buffer, start);
    return this.buffer.subarray(start, this.at);
  }
}

/**
 * Writes `span` as stored at `out[at]`; returns where it ends. Positions, not subarrays: a
 * Buffer view costs more to make than the few bytes most fields hold.
 */
function write(span: Uint8Array, out: Buffer, at: number): number {
  let pos = 0;
  while (pos < span.length) {
    const start = pos;
    const tag = varint(span, pos);
    const afterTag = after;
    pos = skip(span, afterTag, tag);
    const field = tag >>> 3;
    if (field === TRACE_ID || field === SPAN_ID || field === PARENT_SPAN_ID) continue;
    if (field === ATTRIBUTES && (tag & 7) === LEN) at = writeKeyValue(span, start, afterTag, pos, out, at);
    else at = copy(span, start, pos, out, at);
  }
  return at;
}

/**
 * An attributes entry of `span` (a KeyValue: its field from `fieldStart`, its length at
 * `lengthAt`, its content up to `end`) with its key as stored.
 */
function writeKeyValue(span: Uint8Array, fieldStart: number, lengthAt: number, end: number, out: Buffer, at: number): number {
  varint(span, lengthAt);
  const content = after;
  // The last key is the key (as protobuf reads a repeated scalar); the others are copied as they are.
  let keyStart = -1;
  let keyEnd = -1;
  let keyBytes = 0;
  for (let pos = content; pos < end; ) {
    const start = pos;
    const tag = varint(span, pos);
    const afterTag = after;
    pos = skip(span, afterTag, tag);
    if (tag >>> 3 === KEY && (tag & 7) === LEN) {
      keyStart = start;
      keyEnd = pos;
      varint(span, afterTag);
      keyBytes = after;
    }
  }
  const code = keyStart < 0 ? undefined : codeOf(span, keyBytes, keyEnd);
  const escaped = code === undefined && keyEnd > keyBytes && span[keyBytes] === MARK;
  if (code === undefined && !escaped) return copy(span, fieldStart, end, out, at);
  const keyLength = keyEnd - keyBytes;
  const storedKeyLength = code !== undefined ? 4 : 1 + lengthOf(keyLength + 1) + keyLength + 1;
  out[at++] = (ATTRIBUTES << 3) | LEN;
  at = writeVarint(out, at, end - content - (keyEnd - keyStart) + storedKeyLength);
  at = copy(span, content, keyStart, out, at);
  out[at++] = (KEY << 3) | LEN;
  if (code !== undefined) {
    out[at++] = 2;
    out[at++] = MARK;
    out[at++] = FIRST_CODE + code;
  } else {
    at = writeVarint(out, at, keyLength + 1);
    out[at++] = MARK;
    at = copy(span, keyBytes, keyEnd, out, at);
  }
  return copy(span, keyEnd, end, out, at);
}

/** Copies `span[from, to)` to `out[at]`; returns where it ends. Short runs byte by byte, cheaper than a view. */
function copy(span: Uint8Array, from: number, to: number, out: Buffer, at: number): number {
  const n = to - from;
  if (n > 32) out.set(new Uint8Array(span.buffer, span.byteOffset + from, n), at);
  else for (let i = 0; i < n; i++) out[at + i] = span[from + i]!;
  return at + n;
}

/** The code of the key in `span[from, to)`, if it is a coded one. */
function codeOf(span: Uint8Array, from: number, to: number): number | undefined {
  const candidates = BY_LENGTH[to - from];
  if (!candidates) return undefined;
  // The keys share their first characters: compared from the end, a mismatch shows at once.
  next: for (const { bytes, code } of candidates) {
    for (let i = to - from - 1; i >= 0; i--) if (span[from + i] !== bytes[i]) continue next;
    return code;
  }
  return undefined;
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

/** Makes a Span message decoded from a format-3 body the span that came in: its row's ids, its own keys. */
export function restoreStored(
  message: { traceId?: Uint8Array; spanId?: Uint8Array; parentSpanId?: Uint8Array; attributes?: Array<{ key: string }> },
  ids: SpanIds,
): void {
  message.traceId = ids.traceId;
  message.spanId = ids.spanId;
  if (ids.parentId) message.parentSpanId = ids.parentId;
  for (const attribute of message.attributes ?? []) attribute.key = readKey(attribute.key);
}

/** The position after the field whose tag ends at `pos`. */
function skip(bytes: Uint8Array, pos: number, tag: number): number {
  switch (tag & 7) {
    case VARINT:
      varint(bytes, pos);
      return after;
    case FIXED64:
      return pos + 8;
    case LEN: {
      const length = varint(bytes, pos);
      return after + length;
    }
    case FIXED32:
      return pos + 4;
    default:
      // A group (an unknown field's: wire-check.ts walked it): up to its end tag, past nested ones.
      for (;;) {
        const inner = varint(bytes, pos);
        if ((inner & 7) === END_GROUP) return after;
        pos = skip(bytes, after, inner);
      }
  }
}

/** Where the last varint read ended: set by {@link varint}, so that reading one allocates nothing. */
let after = 0;

/** The varint at `pos` (64-bit values lose precision: they are only skipped); sets {@link after}. */
function varint(bytes: Uint8Array, pos: number): number {
  let value = 0;
  for (let scale = 1; ; scale *= 128) {
    // Past the end (never, in a checked body) reads as a last byte: the loop always ends.
    const byte = bytes[pos++] ?? 0;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) {
      after = pos;
      return value;
    }
  }
}

function writeVarint(out: Buffer, at: number, value: number): number {
  while (value >= 0x80) {
    out[at++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  out[at++] = value;
  return at;
}

function lengthOf(value: number): number {
  let bytes = 1;
  while (value >= 0x80) {
    value >>>= 7;
    bytes++;
  }
  return bytes;
}
