import { isDeepStrictEqual } from 'node:util';
import Long from 'long';
import protobuf from 'protobufjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLAMPED_START_IN_FUTURE, ATTR_CLAMPED } from '../src/otlp/clamp.js';
import { decodeProtobuf, decodeStoredSpan } from '../src/otlp/protobuf.js';
import { idsOf } from '../src/otlp/stored-body.js';
import { ExportTraceServiceRequest, ExportTraceServiceResponse } from '../src/otlp/schema.js';
import { MAX_U64, OtlpDecodeError, type DecodedRequest, type Span } from '../src/otlp/span.js';
import { MAX_NESTING } from '../src/otlp/wire-check.js';
import { startCollector } from './support/collector.js';
import { checkoutSpans, memoryProvider, protobufBody } from './support/traced.js';
import { cloneWire, encodeWire, fieldLists, parseWire, tag, varint, type WireNode } from './support/wire.js';

/**
 * A structure-aware fuzzer of the protobuf decoder. Real OTLP requests (the SDK's serializer, and
 * one written with the collector's schema that uses every kind of value) are taken apart into
 * field trees and mutated: valid unknown fields added (must change nothing), one malformation
 * planted (must be refused, saying which), or random structural damage — wire types flipped,
 * length prefixes changed, fields duplicated, nested, deleted, varints filled with random bytes,
 * bodies truncated (either answer, but never a crash, and what is accepted is exactly what is
 * stored). Set FUZZ_SEED to replay a failure; the seed is in every failure's message.
 */
const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 32));
const IN_PROCESS_CASES = 10_000;
const HTTP_CASES = 300;

const root = ExportTraceServiceRequest.root;
const SpanType = root.lookupType('otlp.Span');
const KeyValueType = root.lookupType('otlp.KeyValue');
const AnyValueType = root.lookupType('otlp.AnyValue');
const KeyValueListType = root.lookupType('otlp.KeyValueList');
const utf8 = (text: string) => new TextEncoder().encode(text);

class Random {
  constructor(private state: number) {}
  /** mulberry32 */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = Math.imul(this.state ^ (this.state >>> 15), 1 | this.state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  }
  int(below: number): number {
    return Math.floor(this.next() * below);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  bytes(count: number): Uint8Array {
    return Uint8Array.from({ length: count }, () => this.int(256));
  }
  u64(): bigint {
    return (BigInt(this.int(2 ** 32)) << 32n) | BigInt(this.int(2 ** 32));
  }
}

type Lists = ReturnType<typeof fieldLists>;
type Expectation = { kind: 'valid' } | { kind: 'malformed'; pattern: RegExp } | { kind: 'random' };
interface Case {
  body: Uint8Array;
  expectation: Expectation;
}

/** A field number `type` does not have (any number, in a group). */
function unknownField(random: Random, type: protobuf.Type | undefined): number {
  for (;;) {
    const field = random.pick([17, 20, 33, 100, 1000, 2 ** 29 - 1]);
    if (!type?.fieldsById[field]) return field;
  }
}

function unknownNode(random: Random, type: protobuf.Type | undefined, depth = 0): WireNode {
  const field = unknownField(random, type);
  switch (random.int(depth < 3 ? 5 : 4)) {
    case 0:
      return { field, wireType: 0, value: random.u64() >> BigInt(random.int(64)) };
    case 1:
      return { field, wireType: 1, bytes: random.bytes(8) };
    case 2:
      return { field, wireType: 5, bytes: random.bytes(4) };
    case 3:
      return { field, wireType: 2, bytes: random.bytes(random.int(24)) };
    default:
      return { field, wireType: 3, children: Array.from({ length: random.int(3) }, () => unknownNode(random, undefined, depth + 1)) };
  }
}

/** A KeyValue whose value nests key-value lists `levels` deep. */
function deepAttribute(levels: number): WireNode {
  let value: WireNode[] = [{ field: 1, wireType: 2, bytes: utf8('bottom') }];
  for (let i = 0; i < levels; i++) {
    const pair: WireNode = { field: 1, wireType: 2, type: KeyValueType, children: [{ field: 1, wireType: 2, bytes: utf8('k') }, { field: 2, wireType: 2, type: AnyValueType, children: value }] };
    value = [{ field: 6, wireType: 2, type: KeyValueListType, children: [pair] }];
  }
  return { field: 9, wireType: 2, type: KeyValueType, children: [{ field: 1, wireType: 2, bytes: utf8('deep') }, { field: 2, wireType: 2, type: AnyValueType, children: value }] };
}

function nestedGroups(field: number, levels: number): WireNode {
  let node: WireNode = { field, wireType: 3, children: [] };
  for (let i = 1; i < levels; i++) node = { field, wireType: 3, children: [node] };
  return node;
}

/** A varint of `value` padded with continuation bytes to `length` bytes (a valid, non-minimal encoding). */
function padded(value: number, length: number): number[] {
  const bytes = varint(value);
  while (bytes.length < length) {
    bytes[bytes.length - 1]! |= 0x80;
    bytes.push(0);
  }
  return bytes;
}

/** The node's encoding with its tag's wire type replaced: the content stays as it was. */
function retyped(node: WireNode, wireType: number): WireNode {
  if ('raw' in node) return node;
  const bytes = encodeWire([node]);
  return { raw: Uint8Array.from([...tag(node.field, wireType), ...bytes.subarray(tag(node.field, node.wireType).length)]) };
}

const messageLists = (lists: Lists) => lists.filter((l) => l.type !== undefined);
/** A list with fields in it; damage can delete them all, and then there is only the top one. */
const someFields = (random: Random, lists: Lists) => random.pick(lists.filter((l) => l.list.length > 0)) ?? lists[0]!;
const insert = (random: Random, list: WireNode[], node: WireNode) => list.splice(random.int(list.length + 1), 0, node);

/** One malformation, planted in a random message; the pattern the refusal must match. */
const MALFORMATIONS: Array<(random: Random, lists: Lists) => { op: string; pattern: RegExp }> = [
  (random, lists) => {
    const { list, type } = random.pick(messageLists(lists));
    const wireType = random.pick([6, 7]);
    insert(random, list, { raw: Uint8Array.from(tag(unknownField(random, type), wireType)) });
    return { op: `wire type ${wireType}`, pattern: new RegExp(`invalid wire type ${wireType} \\(field \\d+\\)`) };
  },
  (random, lists) => {
    const { list, type } = random.pick(messageLists(lists));
    const length = random.pick([1n, 7n, 2n ** 31n, 2n ** 32n, 2n ** 63n, 2n ** 64n - 1n]);
    list.push({ raw: Uint8Array.from([...tag(unknownField(random, type), 2), ...varint(length)]) });
    return { op: `length ${length} at the end`, pattern: /is (\d+|over 2\^53) bytes long, past the end of/ };
  },
  (random, lists) => {
    const { list, type } = random.pick(messageLists(lists));
    list.push({ raw: Uint8Array.from([...tag(unknownField(random, type), random.pick([0, 2])), ...Array(1 + random.int(4)).fill(0x80)]) });
    return { op: 'truncated varint', pattern: /is a varint cut off by the end of/ };
  },
  (random, lists) => {
    const { list, type } = random.pick(messageLists(lists));
    insert(random, list, { raw: Uint8Array.from([...tag(unknownField(random, type), 0), ...Array(10 + random.int(3)).fill(0xff), 0x01]) });
    return { op: 'varint of 11+ bytes', pattern: /is a varint of more than 64 bits/ };
  },
  (random, lists) => {
    const { list, type } = random.pick(messageLists(lists));
    insert(random, list, { raw: Uint8Array.from([...tag(unknownField(random, type), 2), ...padded(0, 6 + random.int(4))]) });
    return { op: 'over-long length', pattern: /the length of field \d+ written in [6-9] bytes \(at most 5\)/ };
  },
  (random, lists) => {
    const spans = lists.filter((l) => l.type === SpanType);
    insert(random, random.pick(spans).list, { raw: Uint8Array.from([...tag(6, 0), ...padded(1, 6 + random.int(4))]) });
    return { op: 'over-long int32', pattern: /the int32 of field kind \(6\) written in [6-9] bytes/ };
  },
  (random, lists) => {
    const candidates = messageLists(lists).filter((l) => l.list.some((n) => 'field' in n && l.type!.fieldsById[n.field]));
    const { list, type } = random.pick(candidates);
    const at = random.pick(list.flatMap((n, i) => ('field' in n && type!.fieldsById[n.field] ? [i] : [])));
    const node = list[at] as Extract<WireNode, { field: number }>;
    const wireType = random.pick([0, 1, 2, 5].filter((w) => w !== node.wireType));
    list[at] = retyped(node, wireType);
    return { op: `known field ${type!.name}.${node.field} as wire type ${wireType}`, pattern: /has wire type \d, but a \w+ is written with wire type \d/ };
  },
  (random, lists) => {
    const { list, type } = random.pick(messageLists(lists));
    insert(random, list, { raw: Uint8Array.from(tag(unknownField(random, type), 4)) });
    return { op: 'stray end-group', pattern: /an end-group tag of field \d+ that no group opened/ };
  },
  (random, lists) => {
    const { list, type } = random.pick(messageLists(lists));
    list.push({ raw: Uint8Array.from(tag(unknownField(random, type), 3)) });
    return { op: 'unclosed group', pattern: /the group of field \d+ is not closed before the end of/ };
  },
  (random, lists) => {
    if (random.int(2) === 0) {
      insert(random, random.pick(lists.filter((l) => l.type === SpanType)).list, deepAttribute(34 + random.int(40)));
      return { op: 'deep attribute', pattern: new RegExp(`messages nested deeper than ${MAX_NESTING}`) };
    }
    const { list, type } = random.pick(messageLists(lists));
    insert(random, list, nestedGroups(unknownField(random, type), MAX_NESTING + 1 + random.int(50)));
    return { op: 'deep groups', pattern: new RegExp(`messages nested deeper than ${MAX_NESTING}`) };
  },
];

/** Random structural damage: any answer will do, but it must be a sound one. */
const DAMAGE: Array<(random: Random, lists: Lists) => string> = [
  (random, lists) => {
    const { list } = someFields(random, lists);
    if (list.length === 0) return 'no field to retype';
    const at = random.int(list.length);
    const wireType = random.int(8);
    list[at] = retyped(list[at]!, wireType);
    return `wire type → ${wireType}`;
  },
  (random, lists) => {
    const found = lists.flatMap(({ list }) => list.flatMap((n, i) => ('field' in n && n.wireType === 2 ? [{ list, i }] : [])));
    if (found.length === 0) return 'no length to change';
    const { list, i } = random.pick(found);
    const node = list[i] as Extract<WireNode, { wireType: 2 }>;
    const payload = 'children' in node ? encodeWire(node.children) : node.bytes;
    const changed = random.pick([0n, BigInt(Math.max(0, payload.length + random.pick([-3, -2, -1, 1, 2, 3]))), 2n ** 31n, 2n ** 63n, BigInt(random.int(64))]);
    list[i] = { raw: Uint8Array.from([...tag(node.field, 2), ...varint(changed), ...payload]) };
    return `length ${payload.length} → ${changed}`;
  },
  (random, lists) => {
    const { list } = someFields(random, lists);
    if (list.length === 0) return 'no field to duplicate';
    const at = random.int(list.length);
    list.splice(at, 0, list[at]!);
    return 'duplicated field';
  },
  (random, lists) => {
    const { list, type } = someFields(random, lists);
    if (list.length === 0) return 'no field to nest';
    const at = random.int(list.length);
    const known = type?.fieldsArray.filter((f) => f.resolve().resolvedType instanceof protobuf.Type) ?? [];
    const field = known.length > 0 && random.int(2) === 0 ? random.pick(known).id : unknownField(random, type);
    list[at] = { field, wireType: 2, bytes: encodeWire([list[at]!]) };
    return `nested in field ${field}`;
  },
  (random, lists) => {
    const found = lists.flatMap(({ list }) => list.flatMap((n, i) => ('field' in n && n.wireType !== 3 ? [{ list, i, node: n }] : [])));
    if (found.length === 0) return 'no varint to fill';
    const { list, i, node } = random.pick(found);
    list[i] = { raw: Uint8Array.from([...tag(node.field, 0), ...random.bytes(1 + random.int(12))]) };
    return 'random varint bytes';
  },
  (random, lists) => {
    const { list } = someFields(random, lists);
    list.splice(random.int(list.length), 1);
    return 'deleted field';
  },
  (random, lists) => {
    insert(random, random.pick(lists).list, { raw: random.bytes(1 + random.int(6)) });
    return 'random bytes';
  },
  (random, lists) => {
    // Any time at all, in the start or the end of a span: the clamping rules get their share.
    const { list } = random.pick(lists.filter((l) => l.type === SpanType));
    const field = random.pick([7, 8]);
    const time = new Uint8Array(8);
    new DataView(time.buffer).setBigUint64(0, random.pick([random.u64(), BigInt(Date.now() + random.int(4 * 3_600_000) - 3_600_000) * 1_000_000n]), true);
    list.push({ field, wireType: 1, bytes: time });
    return `span field ${field} set to ${new DataView(time.buffer).getBigUint64(0, true)}`;
  },
];

/** A mutated copy of `base`: valid unknown fields only, one malformation, or random damage. */
function mutate(random: Random, base: readonly WireNode[], ops: string[]): Case {
  const tree = cloneWire(base);
  // Found once: a list that damage detaches from the tree stays in it, where changes are lost.
  const lists = fieldLists(tree, ExportTraceServiceRequest);
  const kind = random.pick(['valid', 'malformed', 'random', 'random'] as const);
  for (let i = random.int(kind === 'valid' ? 4 : 2) + (kind === 'valid' ? 1 : 0); i > 0; i--) {
    const { list, type } = random.pick(lists);
    insert(random, list, unknownNode(random, type));
    ops.push('unknown field');
  }
  if (kind === 'valid') return { body: encodeWire(tree), expectation: { kind } };
  if (kind === 'malformed') {
    const { op, pattern } = random.pick(MALFORMATIONS)(random, lists);
    ops.push(op);
    return { body: encodeWire(tree), expectation: { kind, pattern } };
  }
  for (let i = 1 + random.int(3); i > 0; i--) ops.push(random.pick(DAMAGE)(random, lists));
  let body = encodeWire(tree);
  const roll = random.int(8);
  if (roll === 0) {
    body = body.subarray(0, random.int(body.length));
    ops.push('truncated body');
  } else if (roll === 1) {
    body[random.int(body.length)] = random.int(256);
    ops.push('flipped byte');
  }
  return { body, expectation: { kind } };
}

const withoutWires = ({ spans, rejected, reasons }: DecodedRequest) => ({ spans, rejected, reasons });

/** Deep equality, fast; vitest's comparison (slower, with a diff) only to report a difference. */
function same(actual: unknown, expected: unknown): void {
  if (!isDeepStrictEqual(actual, expected)) expect(actual).toEqual(expected);
}

/**
 * Decodes in-process and checks the answer: a refusal is an OtlpDecodeError naming a byte of the
 * body; an acceptance is what protobufjs reads from the whole body too, and each span's stored
 * bytes, with the ids its row keeps, read back as exactly the span decoded.
 */
function decodeChecked(body: Uint8Array, receivedAtMs: number): DecodedRequest | OtlpDecodeError {
  let decoded: DecodedRequest;
  try {
    decoded = decodeProtobuf(Buffer.from(body), receivedAtMs);
  } catch (error) {
    if (!(error instanceof OtlpDecodeError)) throw new Error(`a crash, not a refusal: ${(error as Error).stack}`);
    const match = /^the body is not a valid protobuf ExportTraceServiceRequest: .+, at byte (\d+)/.exec(error.message);
    if (!match || Number(match[1]) > body.length) throw new Error(`an unclear refusal: ${error.message}`);
    return error;
  }
  const canonical = ExportTraceServiceRequest.encode(ExportTraceServiceRequest.decode(Buffer.from(body))).finish();
  same(withoutWires(decodeProtobuf(Buffer.from(canonical), receivedAtMs)), withoutWires(decoded));
  decoded.spans.forEach((span, i) => same(decodeStoredSpan(decoded.wires![i]!, span.resource, span.scope, idsOf(span)), span));
  return decoded;
}

function checkExpectation(expectation: Expectation, result: DecodedRequest | OtlpDecodeError, base: DecodedRequest | OtlpDecodeError): void {
  if (expectation.kind === 'valid') same(withoutWires(result as DecodedRequest), withoutWires(base as DecodedRequest));
  if (expectation.kind === 'malformed') {
    expect(result).toBeInstanceOf(OtlpDecodeError);
    expect((result as Error).message).toMatch(expectation.pattern);
  }
}

/** Runs one case of the fuzzer; any failure names the seed that replays it. */
function replayable(label: string, ops: string[], check: () => Promise<void>): Promise<void>;
function replayable(label: string, ops: string[], check: () => void): void;
function replayable(label: string, ops: string[], check: () => void | Promise<void>): void | Promise<void> {
  const explain = (error: unknown) => {
    throw new Error(`protobuf fuzz failed: FUZZ_SEED=${SEED}, ${label} [${ops.join('; ')}]: ${(error as Error).message}`, { cause: error });
  };
  try {
    const pending = check();
    if (pending) return pending.catch(explain);
  } catch (error) {
    explain(error);
  }
}

/** One request written with the collector's schema: every kind of value, events, links, two resources. */
function schemaRequest(): Uint8Array {
  const now = Long.fromString(`${Date.now()}000000`, true);
  const later = now.add(5_000_000);
  const values = [
    { key: 's', value: { stringValue: 'text' } },
    { key: 'b', value: { boolValue: true } },
    { key: 'i', value: { intValue: Long.fromString('-9007199254740993') } },
    { key: 'd', value: { doubleValue: 2.5 } },
    { key: 'x', value: { bytesValue: Uint8Array.from([1, 2, 3]) } },
    { key: 'a', value: { arrayValue: { values: [{ stringValue: 'one' }, { intValue: 2 }] } } },
    { key: 'kv', value: { kvlistValue: { values: [{ key: 'inner', value: { kvlistValue: { values: [{ key: 'leaf', value: { boolValue: false } }] } } }] } } },
  ];
  const span = (id: number, extra: object) => ({
    traceId: Uint8Array.from({ length: 16 }, (_, i) => i + 1),
    spanId: Uint8Array.from({ length: 8 }, (_, i) => i + id),
    name: `span ${id}`,
    kind: 2,
    startTimeUnixNano: now,
    endTimeUnixNano: later,
    ...extra,
  });
  return ExportTraceServiceRequest.encode({
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'schema' } }, ...values] },
        scopeSpans: [
          {
            scope: { name: 'fuzz', version: '1.0' },
            spans: [
              span(1, {
                attributes: values,
                traceState: 'k=v',
                flags: 1,
                events: [{ timeUnixNano: now, name: 'exception', attributes: [{ key: 'exception.message', value: { stringValue: 'boom' } }] }],
                links: [{ traceId: Uint8Array.from({ length: 16 }, () => 9), spanId: Uint8Array.from({ length: 8 }, () => 9), attributes: values.slice(0, 2) }],
                status: { code: 2, message: 'failed' },
              }),
              span(2, { parentSpanId: Uint8Array.from({ length: 8 }, (_, i) => i + 1) }),
            ],
          },
        ],
      },
      { resource: { attributes: [{ key: 'service.name', value: { stringValue: 'other' } }] }, scopeSpans: [{ spans: [span(3, {})] }] },
    ],
  }).finish();
}

let bases: Array<{ bytes: Uint8Array; tree: WireNode[] }>;
beforeAll(async () => {
  const provider = memoryProvider('fuzz');
  const requests = [
    protobufBody(await checkoutSpans([{ sku: 'fuzz', qty: 2 }], provider)),
    protobufBody(await checkoutSpans([{ sku: 'fuzz', qty: 0 }], provider)),
    schemaRequest(),
  ];
  bases = requests.map((request) => {
    // A few spans of each are enough to reach every structure, and keep 10,000 cases quick.
    const tree = parseWire(request, ExportTraceServiceRequest);
    for (const { list, type } of fieldLists(tree, ExportTraceServiceRequest)) {
      if (type?.name === 'ScopeSpans') list.splice(0, list.length, ...list.filter((n) => 'field' in n && n.field !== 2), ...list.filter((n) => 'field' in n && n.field === 2).slice(0, 3));
    }
    return { bytes: encodeWire(tree), tree };
  });
  await provider.provider.shutdown();
});

describe(`protobuf fuzzing (FUZZ_SEED=${SEED})`, () => {
  it(`decodes ${IN_PROCESS_CASES} mutated real requests soundly: valid unknown fields change nothing, malformations are refused by name`, () => {
    const random = new Random(SEED);
    const receivedAt = Date.now();
    const baseResults = bases.map((base) => decodeChecked(base.bytes, receivedAt));
    const seen = { valid: 0, malformed: 0, random: { accepted: 0, refused: 0 }, clamped: 0 };
    for (let i = 0; i < IN_PROCESS_CASES; i++) {
      const b = random.int(bases.length);
      const ops: string[] = [];
      replayable(`case ${i} of base ${b}`, ops, () => {
        const { body, expectation } = mutate(random, bases[b]!.tree, ops);
        const result = decodeChecked(body, receivedAt);
        checkExpectation(expectation, result, baseResults[b]!);
        if (expectation.kind === 'random') seen.random[result instanceof OtlpDecodeError ? 'refused' : 'accepted']++;
        else seen[expectation.kind]++;
        if (!(result instanceof OtlpDecodeError)) seen.clamped += result.spans.filter((span) => span.attributes[ATTR_CLAMPED]).length;
      });
    }
    // The mix really reached every kind of case and both answers to random damage.
    expect(seen.valid).toBeGreaterThan(IN_PROCESS_CASES / 8);
    expect(seen.malformed).toBeGreaterThan(IN_PROCESS_CASES / 8);
    expect(seen.random.accepted).toBeGreaterThan(IN_PROCESS_CASES / 50);
    expect(seen.random.refused).toBeGreaterThan(IN_PROCESS_CASES / 50);
    expect(seen.clamped).toBeGreaterThan(IN_PROCESS_CASES / 200);
  });

  describe('through HTTP, against a collector on a SQLite file', () => {
    let running: Awaited<ReturnType<typeof startCollector>>;
    beforeAll(async () => {
      running = await startCollector();
    });
    afterAll(async () => {
      await running.close();
    });

    it(`answers ${HTTP_CASES} mutated requests 200 or 400 as decoded; a 200 stores exactly the decoded spans, a 400 nothing`, async () => {
      const random = new Random(SEED ^ 0x5eed);
      const { engine } = running.collector;
      const answered = { 200: 0, 400: 0 } as Record<number, number>;
      const post = async (body: Uint8Array) => {
        const response = await fetch(`${running.url}/v1/traces`, { method: 'POST', body, headers: { 'content-type': 'application/x-protobuf' } });
        const answer = new Uint8Array(await response.arrayBuffer());
        answered[response.status] = (answered[response.status] ?? 0) + 1;
        expect(response.headers.get('content-type')).toBe('application/x-protobuf');
        return { status: response.status, answer };
      };
      // Accepted requests go a few at a time (they share commits); a refused one goes alone, so
      // that nothing else can move the change sequence while it is checked.
      let inFlight: Array<Promise<void>> = [];
      const settle = async () => {
        await Promise.all(inFlight);
        inFlight = [];
      };
      for (let i = 0; i < HTTP_CASES; i++) {
        const b = random.int(bases.length);
        const ops: string[] = [];
        const label = `HTTP case ${i} of base ${b}`;
        let prepared!: { body: Uint8Array; traceIds: string[]; expected: DecodedRequest | OtlpDecodeError; before: number };
        replayable(label, ops, () => {
          const { tree, traceIds } = restamped(random, bases[b]!.tree);
          const { body, expectation } = mutate(random, tree, ops);
          const before = Date.now();
          const expected = decodeChecked(body, before);
          checkExpectation(expectation, expected, decodeChecked(encodeWire(tree), before));
          prepared = { body, traceIds, expected, before };
        });
        const { body, traceIds, expected, before } = prepared;
        if (expected instanceof OtlpDecodeError) {
          await settle();
          await replayable(label, ops, async () => {
            const seq = await engine.lastSeq();
            expect((await post(body)).status).toBe(400);
            for (const traceId of traceIds) expect(await engine.trace(traceId)).toEqual([]);
            expect(await engine.lastSeq()).toBe(seq);
          });
          continue;
        }
        inFlight.push(
          replayable(label, ops, async () => {
            const { status, answer } = await post(body);
            const after = Date.now();
            expect(status).toBe(200);
            const partial = (ExportTraceServiceResponse.decode(answer) as { partialSuccess?: { rejectedSpans?: Long } }).partialSuccess;
            expect(Number(partial?.rejectedSpans ?? 0)).toBe(expected.rejected);
            await expectStored(engine, expected.spans, before, after);
          }),
        );
        if (inFlight.length >= 8) await settle();
      }
      await settle();
      expect(answered[200]).toBeGreaterThan(HTTP_CASES / 10);
      expect(answered[400]).toBeGreaterThan(HTTP_CASES / 10);
    });
  });
});

/** A copy of `base` with fresh trace ids (one per original trace), so each case's spans are its own in the store. */
function restamped(random: Random, base: readonly WireNode[]): { tree: WireNode[]; traceIds: string[] } {
  const tree = cloneWire(base);
  const fresh = new Map<string, Uint8Array>();
  for (const { list, type } of fieldLists(tree, ExportTraceServiceRequest)) {
    if (type !== SpanType) continue;
    list.forEach((node, i) => {
      if (!('bytes' in node) || node.field !== 1) return;
      const old = Buffer.from(node.bytes).toString('hex');
      if (!fresh.has(old)) fresh.set(old, random.bytes(16));
      list[i] = { ...node, bytes: fresh.get(old)! };
    });
  }
  return { tree, traceIds: [...fresh.values()].map((id) => Buffer.from(id).toString('hex')) };
}

/**
 * The store holds each decoded span (the first copy of a repeated one) and nothing else of those
 * traces. Resource and scope are stored as JSON; a span clamped to its arrival time was clamped
 * by the collector's clock, somewhere between `before` and `after`.
 */
async function expectStored(engine: { trace(traceId: string): Promise<Span[]> }, spans: Span[], before: number, after: number) {
  const first = new Map<string, Span>();
  for (const span of spans) if (!first.has(span.traceId + span.spanId)) first.set(span.traceId + span.spanId, span);
  const traceIds = new Set(spans.map((s) => s.traceId));
  const stored = (await Promise.all([...traceIds].map((t) => engine.trace(t)))).flat();
  expect(stored.map((s) => s.traceId + s.spanId).sort()).toEqual([...first.keys()].sort());
  for (const span of stored) {
    const decoded = first.get(span.traceId + span.spanId)!;
    const expected = { ...decoded, resource: JSON.parse(JSON.stringify(decoded.resource)) };
    if (String(span.attributes[ATTR_CLAMPED] ?? '').includes(CLAMPED_START_IN_FUTURE)) {
      const start = BigInt(span.startTimeUnixNano);
      expect(Number(start / 1_000_000n)).toBeGreaterThanOrEqual(before);
      expect(Number(start / 1_000_000n)).toBeLessThanOrEqual(after);
      const end = start + BigInt(expected.endTimeUnixNano) - BigInt(expected.startTimeUnixNano);
      expect(span.endTimeUnixNano).toBe(String(end > MAX_U64 ? MAX_U64 : end));
      expect({ ...span, startTimeUnixNano: '', endTimeUnixNano: '' }).toEqual({ ...expected, startTimeUnixNano: '', endTimeUnixNano: '' });
    } else expect(span).toEqual(expected);
  }
}
