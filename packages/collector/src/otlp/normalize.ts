import { clampSpan, type Clamp } from './clamp.js';
import {
  addReason,
  checkId,
  InvalidSpanError,
  OtlpDecodeError,
  type AttributeValue,
  type Attributes,
  type DecodedRequest,
  type Span,
} from './span.js';

/**
 * How one encoding spells the leaves of an OTLP message (ids, 64-bit times, AnyValues). The
 * walk over the message tree is shared; only these differ between JSON and protobuf.
 */
export interface Leaves {
  /** Hex of an id; `undefined` when absent or empty. */
  id(value: unknown): string | undefined;
  /** Decimal nanoseconds. */
  nanos(value: unknown, field: string): string;
  /** An AnyValue as a plain JSON value (arrays and key-value lists become arrays and objects). */
  anyValue(value: unknown, depth: number): AttributeValue;
  /** A small integer (enum, flags). */
  int(value: unknown, field: string): number;
  /**
   * The bytes the store keeps for a span: its own (`raw`'s) with what `clamp` corrected in them,
   * or an encoding of the decoded span (`normalized`, clamped already).
   */
  wire(raw: unknown, clamp: Clamp | undefined, normalized: Span): Uint8Array;
}

/** What reading one span takes: all but the stored bytes. */
export type SpanLeaves = Omit<Leaves, 'wire'>;

/** Deeper AnyValues than this are refused: nothing real nests so far, and it bounds recursion. */
export const MAX_VALUE_DEPTH = 32;

type Obj = Record<string, unknown>;

/**
 * Walks an ExportTraceServiceRequest (already parsed) into spans, refusing bad spans one by one
 * and clamping impossible times against `receivedAtMs`, the collector's clock on arrival.
 */
export function normalizeRequest(body: unknown, leaves: Leaves, receivedAtMs: number): DecodedRequest {
  if (!isObject(body)) throw new OtlpDecodeError('the body must be an ExportTraceServiceRequest object');
  const wires: Uint8Array[] = [];
  const result: DecodedRequest = { spans: [], wires, rejected: 0, reasons: [] };
  for (const resourceSpans of list(body.resourceSpans, 'resourceSpans')) {
    if (!isObject(resourceSpans)) throw new OtlpDecodeError('each resourceSpans entry must be an object');
    const resource = requestLevel('resource', () => {
      const resourceObj = resourceSpans.resource;
      return isObject(resourceObj) ? attributes(resourceObj.attributes, leaves) : {};
    });
    for (const scopeSpans of list(resourceSpans.scopeSpans, 'scopeSpans')) {
      if (!isObject(scopeSpans)) throw new OtlpDecodeError('each scopeSpans entry must be an object');
      const scope = scopeOf(scopeSpans.scope);
      for (const span of list(scopeSpans.spans, 'spans')) {
        try {
          const normalized = spanOf(span, resource, scope, leaves);
          const clamp = clampSpan(normalized, receivedAtMs);
          result.spans.push(normalized);
          wires.push(leaves.wire(span, clamp, normalized));
        } catch (error) {
          if (!(error instanceof InvalidSpanError)) throw error;
          result.rejected++;
          addReason(result.reasons, error.message);
        }
      }
    }
  }
  return result;
}

/** A resource or scope that cannot be read makes the whole request unreadable. */
function requestLevel<T>(what: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof InvalidSpanError) throw new OtlpDecodeError(`${what}: ${error.message}`);
    throw error;
  }
}

export function spanOf(raw: unknown, resource: Attributes, scope: Span['scope'], leaves: SpanLeaves): Span {
  if (!isObject(raw)) throw new InvalidSpanError('a span must be an object');
  const traceId = checkId(leaves.id(raw.traceId) ?? '', 16, 'traceId');
  const spanId = checkId(leaves.id(raw.spanId) ?? '', 8, 'spanId');
  const parent = leaves.id(raw.parentSpanId);
  const status = isObject(raw.status) ? raw.status : {};
  const span: Span = {
    traceId,
    spanId,
    name: text(raw.name, 'name'),
    kind: leaves.int(raw.kind, 'kind'),
    startTimeUnixNano: leaves.nanos(raw.startTimeUnixNano, 'startTimeUnixNano'),
    endTimeUnixNano: leaves.nanos(raw.endTimeUnixNano, 'endTimeUnixNano'),
    attributes: attributes(raw.attributes, leaves),
    events: list(raw.events, 'events', InvalidSpanError).map((event) => {
      if (!isObject(event)) throw new InvalidSpanError('an event must be an object');
      return {
        name: text(event.name, 'event name'),
        timeUnixNano: leaves.nanos(event.timeUnixNano, 'event timeUnixNano'),
        attributes: attributes(event.attributes, leaves),
      };
    }),
    links: list(raw.links, 'links', InvalidSpanError).map((link) => {
      if (!isObject(link)) throw new InvalidSpanError('a link must be an object');
      return {
        traceId: checkId(leaves.id(link.traceId) ?? '', 16, 'link traceId'),
        spanId: checkId(leaves.id(link.spanId) ?? '', 8, 'link spanId'),
        attributes: attributes(link.attributes, leaves),
      };
    }),
    status: { code: leaves.int(status.code, 'status code') },
    resource,
    scope,
  };
  if (parent) span.parentSpanId = checkId(parent, 8, 'parentSpanId');
  const message = optionalText(status.message, 'status message');
  if (message) span.status.message = message;
  const traceState = optionalText(raw.traceState, 'traceState');
  if (traceState) span.traceState = traceState;
  if (raw.flags !== undefined && raw.flags !== null) span.flags = leaves.int(raw.flags, 'flags');
  return span;
}

export function scopeOf(raw: unknown): Span['scope'] {
  if (!isObject(raw)) return { name: '' };
  const scope: Span['scope'] = { name: typeof raw.name === 'string' ? raw.name : '' };
  if (typeof raw.version === 'string' && raw.version) scope.version = raw.version;
  return scope;
}

/** A KeyValue list as an object; a later duplicate key wins. */
export function attributes(raw: unknown, leaves: SpanLeaves, depth = 0): Attributes {
  const out: Attributes = {};
  for (const entry of list(raw, 'attributes', InvalidSpanError)) {
    if (!isObject(entry) || typeof entry.key !== 'string') throw new InvalidSpanError('an attribute must have a string key');
    out[entry.key] = entry.value === undefined || entry.value === null ? null : leaves.anyValue(entry.value, depth);
  }
  return out;
}

function list(value: unknown, field: string, Failure: new (message: string) => Error = OtlpDecodeError): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new Failure(`${field} must be an array`);
  return value;
}

function text(value: unknown, field: string): string {
  return optionalText(value, field) ?? '';
}

function optionalText(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new InvalidSpanError(`${field} must be a string`);
  return value;
}

export function isObject(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
