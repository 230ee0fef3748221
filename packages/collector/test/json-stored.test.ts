import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeJson } from '../src/otlp/json.js';
import { decodeStoredSpan } from '../src/otlp/protobuf.js';
import { idsOf } from '../src/otlp/stored-body.js';
import type { Span } from '../src/otlp/span.js';
import { checkoutSpans, jsonBody, memoryProvider } from './support/traced.js';

/**
 * Spans that come as OTLP/JSON are stored as protobuf (src/otlp/encode-span.ts). What a reader
 * relies on: a stored span, with the ids its row keeps, reads back as the span the collector
 * decoded from the JSON, every attribute type and nesting included; only an absent `flags` reads
 * back 0, as for any span that came as protobuf.
 */
function expectStoredAsDecoded(body: Buffer): Span[] {
  const decoded = decodeJson(body, Date.now());
  expect(decoded.wires).toHaveLength(decoded.spans.length);
  decoded.spans.forEach((span, i) => {
    const stored = decodeStoredSpan(decoded.wires![i]!, span.resource, span.scope, idsOf(span));
    const expected = { ...span, flags: span.flags ?? 0 };
    if (!isDeepStrictEqual(stored, expected)) expect(stored).toEqual(expected);
  });
  return decoded.spans;
}

const hex = (bytes: number) => fc.uint8Array({ minLength: bytes, maxLength: bytes }).filter((b) => b.some((x) => x !== 0)).map((b) => Buffer.from(b).toString('hex'));
const nanos = fc.bigInt({ min: 0n, max: 18446744073709551615n }).map(String);

/** OTLP/JSON AnyValues, every encoding the decoder accepts. */
const anyValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.string().map((s) => ({ stringValue: s })),
    fc.boolean().map((b) => ({ boolValue: b })),
    fc.oneof(fc.maxSafeInteger(), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String)).map((n) => ({ intValue: n })),
    fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom('NaN', 'Infinity', '-Infinity')).map((d) => ({ doubleValue: d })),
    fc.uint8Array({ maxLength: 12 }).map((b) => ({ bytesValue: Buffer.from(b).toString('base64') })),
    fc.array(tie('value'), { maxLength: 3 }).map((values) => ({ arrayValue: { values } })),
    fc.array(tie('keyValue'), { maxLength: 3 }).map((values) => ({ kvlistValue: { values } })),
    fc.constant({}),
  ),
  keyValue: fc.record({ key: fc.string({ maxLength: 8 }), value: tie('value') }),
})).value;

// Keys stored as codes, and keys of their own that begin with the code mark (stored-body.ts), among any others.
const attributeKey = fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('flowtrace.depth', 'flowtrace.input', 'error.type', '\u0001', '\u0001!', '\u0001\u0001'));
const keyValues = fc.array(fc.record({ key: attributeKey, value: anyValue }), { maxLength: 6 });

const jsonSpan = fc.record(
  {
    traceId: hex(16).map((h) => h.toUpperCase()),
    spanId: hex(8),
    parentSpanId: fc.oneof(hex(8), fc.constant('')),
    traceState: fc.string({ maxLength: 10 }),
    flags: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
    name: fc.string({ maxLength: 20 }),
    kind: fc.integer({ min: 0, max: 5 }),
    startTimeUnixNano: nanos,
    endTimeUnixNano: nanos,
    attributes: keyValues,
    events: fc.array(fc.record({ name: fc.string({ maxLength: 8 }), timeUnixNano: nanos, attributes: keyValues }), { maxLength: 2 }),
    links: fc.array(fc.record({ traceId: hex(16), spanId: hex(8), attributes: keyValues }), { maxLength: 2 }),
    status: fc.record({ code: fc.integer({ min: 0, max: 2 }), message: fc.string({ maxLength: 10 }) }, { requiredKeys: [] }),
  },
  { requiredKeys: ['traceId', 'spanId', 'name', 'startTimeUnixNano', 'endTimeUnixNano'] },
);

describe('spans that came as OTLP/JSON, as stored', () => {
  it('read back as the spans decoded from a real exporter body (start markers, flows and steps with captured data)', async () => {
    const spans = expectStoredAsDecoded(jsonBody(await checkoutSpans([{ sku: 'J', qty: 3 }], memoryProvider())));
    expect(spans.length).toBeGreaterThan(3);
  });

  it('keep a negative zero, which JSON text can hold though JSON.stringify never writes it', () => {
    const span = '{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","name":"n","startTimeUnixNano":"1","endTimeUnixNano":"2","attributes":[{"key":"z","value":{"doubleValue":-0.0}}]}';
    const [decoded] = expectStoredAsDecoded(Buffer.from(`{"resourceSpans":[{"scopeSpans":[{"spans":[${span}]}]}]}`));
    expect(Object.is(decoded!.attributes.z, -0)).toBe(true);
  });

  it('read back as decoded for any span: every attribute type, nesting, event, link and status', () => {
    fc.assert(
      fc.property(fc.array(jsonSpan, { minLength: 1, maxLength: 4 }), (spans) => {
        const body = Buffer.from(JSON.stringify({ resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [{ scope: { name: 's' }, spans }] }] }));
        expectStoredAsDecoded(body);
      }),
      { numRuns: 300 },
    );
  });
});
