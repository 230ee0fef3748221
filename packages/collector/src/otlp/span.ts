/**
 * The one span shape the rest of the collector sees, whatever encoding it arrived in.
 * Ids are lowercase hex; times are unsigned decimal nanosecond strings (they exceed 2^53).
 */
export type AttributeValue = string | number | boolean | null | AttributeValue[] | { [key: string]: AttributeValue };
export type Attributes = Record<string, AttributeValue>;

export interface SpanEvent {
  name: string;
  timeUnixNano: string;
  attributes: Attributes;
}

export interface SpanLink {
  traceId: string;
  spanId: string;
  attributes: Attributes;
}

export interface Span {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  traceState?: string;
  flags?: number;
  name: string;
  /** OTLP SpanKind: 0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Attributes;
  events: SpanEvent[];
  links: SpanLink[];
  /** OTLP StatusCode: 0 unset, 1 ok, 2 error. */
  status: { code: number; message?: string };
  resource: Attributes;
  scope: { name: string; version?: string };
}

/** What one export request decoded to: the valid spans and why others were refused. */
export interface DecodedRequest {
  spans: Span[];
  /** Each kept span's protobuf bytes, as the store keeps them: a protobuf span's own, as it came; a JSON span encoded. */
  wires?: Uint8Array[];
  rejected: number;
  /** First few reasons spans were refused, for the `partialSuccess` message. */
  reasons: string[];
}

/** The request as a whole cannot be read: answered with 400 and nothing is stored. */
export class OtlpDecodeError extends Error {
  override name = 'OtlpDecodeError';
}

/** One span is unusable (bad id, wrong field type); the others in the request are kept. */
export class InvalidSpanError extends Error {
  override name = 'InvalidSpanError';
}

const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);
const HEX = /^[0-9a-f]*$/;

/** Validates a hex id of `bytes` bytes; returns it lowercase. All-zero ids are invalid (OTLP). */
export function checkId(id: string, bytes: 16 | 8, field: string): string {
  const lower = id.toLowerCase();
  if (lower.length !== bytes * 2 || !HEX.test(lower) || lower === (bytes === 16 ? ZERO_TRACE : ZERO_SPAN)) {
    throw new InvalidSpanError(`${field} must be ${bytes * 2} hex digits, not all zero (got "${truncate(id)}")`);
  }
  return lower;
}

export const MAX_U64 = 18446744073709551615n;

/** Validates an unsigned 64-bit nanosecond time given as a decimal string or number. */
export function checkNanos(value: unknown, field: string): string {
  if (value === undefined || value === null) return '0';
  const text = typeof value === 'number' && Number.isInteger(value) && value >= 0 ? BigInt(value).toString() : value;
  if (typeof text !== 'string' || !/^\d{1,20}$/.test(text) || BigInt(text) > MAX_U64) {
    throw new InvalidSpanError(`${field} must be an unsigned 64-bit integer (got ${truncate(JSON.stringify(value) ?? String(value))})`);
  }
  return text.replace(/^0+(?=\d)/, '');
}

/** Milliseconds since the epoch of a nanosecond string, keeping sub-millisecond precision. */
/** Ms since the epoch, with fraction, of a time in nanoseconds as decimal digits (no BigInt: it is on every span's path). */
export function nanosToMillis(nanos: string): number {
  const digits = nanos.length;
  if (digits <= 6) return Number(nanos) / 1e6;
  return Number(nanos.slice(0, digits - 6)) + Number(nanos.slice(digits - 6)) / 1e6;
}

export function truncate(text: string, max = 60): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** Keeps at most a few distinct reasons, so one bad exporter cannot build a huge message. */
export function addReason(reasons: string[], reason: string): void {
  if (reasons.length < 5 && !reasons.includes(reason)) reasons.push(reason);
}
