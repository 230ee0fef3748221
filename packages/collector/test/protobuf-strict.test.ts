import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeProtobuf } from '../src/otlp/protobuf.js';
import { ExportTraceServiceRequest, RpcStatus } from '../src/otlp/schema.js';
import { MAX_NESTING } from '../src/otlp/wire-check.js';
import { startCollector } from './support/collector.js';
import { history } from './support/history.js';
import { checkoutSpans, memoryProvider, protobufBody } from './support/traced.js';
import { encodeWire, fieldLists, parseWire, tag, varint, type WireNode } from './support/wire.js';

/**
 * Malformed protobuf is refused as a whole (400, a google.rpc.Status saying what is wrong, at
 * which byte, in which field; nothing stored), and unknown fields of a valid encoding are
 * ignored, as OTLP asks. Each case plants its bytes at the end of the last span of a real request,
 * after spans that are valid.
 */
let running: Awaited<ReturnType<typeof startCollector>>;
let provider: ReturnType<typeof memoryProvider>;
beforeAll(async () => {
  running = await startCollector();
  provider = memoryProvider('strict');
});
afterAll(async () => {
  await running.close();
  await provider.provider.shutdown();
});

const SPAN_PATH = 'inside resourceSpans.scopeSpans.spans';
const UNKNOWN = 100;
const bytes = (...parts: number[][]) => Uint8Array.from(parts.flat());

/** `offset`: where the problem is, from the planted bytes; `path`: where they are, when not in the span itself. */
const MALFORMED: Array<{ name: string; raw: Uint8Array; message: string; offset?: number; path?: string }> = [
  { name: 'an invalid wire type (7)', raw: bytes(tag(UNKNOWN, 7), [0]), message: 'invalid wire type 7 (field 100)' },
  {
    name: 'a length of 2^63',
    raw: bytes(tag(UNKNOWN, 2), varint(2n ** 63n), [1, 2, 3]),
    message: 'field 100 is over 2^53 bytes long, past the end of spans (3 bytes left)',
    offset: 2,
  },
  { name: 'a length past the end of its message', raw: bytes(tag(UNKNOWN, 2), varint(4), [1, 2]), message: 'field 100 is 4 bytes long, past the end of spans (2 bytes left)', offset: 2 },
  { name: 'a varint cut off by the end of its message', raw: bytes(tag(UNKNOWN, 0), [0x80, 0x80]), message: 'the value of field 100 is a varint cut off by the end of spans', offset: 2 },
  { name: 'a varint longer than 10 bytes', raw: bytes(tag(UNKNOWN, 0), Array(10).fill(0xff), [1]), message: 'the value of field 100 is a varint of more than 64 bits', offset: 2 },
  { name: 'a length padded to 6 bytes', raw: bytes(tag(UNKNOWN, 2), [0x80, 0x80, 0x80, 0x80, 0x80, 0x00]), message: 'the length of field 100 written in 6 bytes (at most 5)', offset: 2 },
  {
    name: 'a known field with the wrong wire type',
    raw: bytes(tag(7, 0), [1]),
    message: 'field startTimeUnixNano (7) has wire type 0, but a fixed64 is written with wire type 1',
  },
  { name: 'a tag with field number 0', raw: bytes(tag(0, 0), [1]), message: 'invalid field number 0' },
  { name: 'an end-group tag without its group', raw: bytes(tag(UNKNOWN, 4)), message: 'an end-group tag of field 100 that no group opened' },
  { name: 'a group left open', raw: bytes(tag(UNKNOWN, 3), tag(UNKNOWN + 1, 0), [1]), message: 'the group of field 100 is not closed before the end of spans' },
  {
    name: 'a group closed by another field’s end-group tag',
    raw: bytes(tag(UNKNOWN, 3), tag(UNKNOWN + 1, 4)),
    message: 'an end-group tag of field 101 that no group opened',
    offset: 2,
    path: `${SPAN_PATH}.100`,
  },
];

/** A fresh execution's request, as field trees, and the list of fields of its last span. */
async function request(sku: string) {
  const spans = await checkoutSpans([{ sku, qty: 1 }], provider);
  const tree = parseWire(protobufBody(spans), ExportTraceServiceRequest);
  const lastSpan = fieldLists(tree, ExportTraceServiceRequest)
    .filter(({ type }) => type?.name === 'Span')
    .at(-1)!.list;
  return { tree, lastSpan, traceId: spans[0]!.spanContext().traceId };
}

async function post(body: Uint8Array) {
  const response = await fetch(`${running.url}/v1/traces`, { method: 'POST', body, headers: { 'content-type': 'application/x-protobuf' } });
  expect(response.headers.get('content-type')).toBe('application/x-protobuf');
  return { status: response.status, answer: new Uint8Array(await response.arrayBuffer()) };
}

describe('strict protobuf decoding of POST /v1/traces', () => {
  it.each(MALFORMED)('refuses $name with 400, saying what is wrong and where, and stores nothing', async ({ name, raw, message, offset = 0, path = SPAN_PATH }) => {
    const { tree, lastSpan, traceId } = await request(name);
    lastSpan.push({ raw });
    const rawAt: number[] = [];
    const body = encodeWire(tree, rawAt);
    const { status, answer } = await post(body);
    expect(status).toBe(400);
    const refusal = RpcStatus.decode(answer) as unknown as { code: number; message: string };
    expect(refusal.code).toBe(3); // INVALID_ARGUMENT
    expect(refusal.message).toBe(
      `the body is not a valid protobuf ExportTraceServiceRequest: ${message}, at byte ${rawAt[0]! + offset}, ${path}`,
    );
    expect(await history(running.collector).getTrace(traceId)).toEqual([]);
  });

  it(`refuses messages nested deeper than ${MAX_NESTING}, naming the ends of the path`, async () => {
    const { tree, lastSpan, traceId } = await request('deep');
    const levels = MAX_NESTING;
    lastSpan.push({ raw: bytes(...Array<number[]>(levels).fill(tag(UNKNOWN, 3)), ...Array<number[]>(levels).fill(tag(UNKNOWN, 4))) });
    const rawAt: number[] = [];
    const { status, answer } = await post(encodeWire(tree, rawAt));
    expect(status).toBe(400);
    // The request's fields are at depth 0, a span's at 3: its 98th group is the 101st level.
    const tagSize = tag(UNKNOWN, 3).length;
    expect((RpcStatus.decode(answer) as unknown as { message: string }).message).toBe(
      `the body is not a valid protobuf ExportTraceServiceRequest: messages nested deeper than ${MAX_NESTING}, ` +
        `at byte ${rawAt[0]! + (MAX_NESTING - 3) * tagSize}, inside resourceSpans.scopeSpans.spans.100.….100.100.100`,
    );
    expect(await history(running.collector).getTrace(traceId)).toEqual([]);
  });

  it('ignores unknown fields of every wire type, groups included, in every message, and stores the same spans', async () => {
    const plain = await request('unknown-fields');
    const receivedAt = Date.now();
    const expected = decodeProtobuf(Buffer.from(encodeWire(plain.tree)), receivedAt).spans;
    const unknown = (field: number): WireNode[] => [
      { field, wireType: 0, value: 2n ** 64n - 1n },
      { field: field + 1, wireType: 1, bytes: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]) },
      { field: field + 2, wireType: 2, bytes: Uint8Array.from([0xff, 0x07, 0x00]) },
      { field: field + 3, wireType: 5, bytes: Uint8Array.from([1, 2, 3, 4]) },
      { field: field + 4, wireType: 3, children: [{ field: 1, wireType: 3, children: [{ field: 2, wireType: 0, value: 1n }] }] },
    ];
    const lists = fieldLists(plain.tree, ExportTraceServiceRequest).filter(({ type }) => type !== undefined);
    for (const { list } of lists) list.unshift(...unknown(UNKNOWN), ...unknown(2 ** 29 - 5));
    expect(lists.map(({ type }) => type!.name)).toEqual(expect.arrayContaining(['ExportTraceServiceRequest', 'ResourceSpans', 'Resource', 'ScopeSpans', 'InstrumentationScope', 'Span', 'KeyValue', 'AnyValue', 'Status']));

    const { status, answer } = await post(encodeWire(plain.tree));
    expect(status).toBe(200);
    expect(answer).toEqual(new Uint8Array()); // an empty ExportTraceServiceResponse: nothing refused
    const stored = await history(running.collector).getTrace(plain.traceId);
    expect(stored.sort((a, b) => a.spanId.localeCompare(b.spanId))).toEqual(expected.sort((a, b) => a.spanId.localeCompare(b.spanId)));
  });

  it('reads a negative int32 written in 10 bytes, as protobuf encoders write one', async () => {
    const { tree, lastSpan, traceId } = await request('negative-kind');
    lastSpan.push({ field: 6, wireType: 0, value: 2n ** 64n - 1n }); // kind = -1
    const { status } = await post(encodeWire(tree));
    expect(status).toBe(200);
    const spans = await history(running.collector).getTrace(traceId);
    expect(spans.filter((span) => span.kind === -1)).toHaveLength(1);
  });
});
