import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { routeSpans } from '../src/ingest/route.js';
import { decodeProtobuf, decodeStoredSpan } from '../src/otlp/protobuf.js';
import { SpanMessage } from '../src/otlp/schema.js';
import { idsOf, StoredBodies } from '../src/otlp/stored-body.js';
import { SqliteEngine } from '../src/store/sqlite/engine.js';
import { checkoutSpans, memoryProvider, protobufBody } from './support/traced.js';

/**
 * A span's stored body leaves out the ids its row keeps and codes the common attribute keys
 * (src/otlp/stored-body.ts). What a reader relies on: with the row's ids the body reads back as
 * the span that came in, whatever order, repetition and keys its fields had; what the store
 * relies on: the ids are not stored twice, and the common keys not written out.
 */
const TRACE = Buffer.from('0af7651916cd43dd8448eb211c80319c', 'hex');
const SPAN = Buffer.from('b7ad6b7169203331', 'hex');
const PARENT = Buffer.from('00f067aa0ba902b7', 'hex');

function encoded(fields: Record<string, unknown>): Buffer {
  return Buffer.from(SpanMessage.encode({ name: 'step', startTimeUnixNano: 1, endTimeUnixNano: 2, ...fields }).finish());
}

/** The span decodeProtobuf makes of these bytes alone, and its stored body read back with the row's ids. */
function roundTrip(span: Buffer) {
  const request = encodedRequest(span);
  const decoded = decodeProtobuf(request);
  const original = decoded.spans[0]!;
  const body = decoded.wires![0]!;
  return { original, body, stored: decodeStoredSpan(body, original.resource, original.scope, idsOf(original)) };
}

function encodedRequest(span: Buffer): Buffer {
  // ExportTraceServiceRequest { resource_spans { scope_spans { spans } } }, written by hand so the span keeps its bytes.
  return lengthDelimited(1, lengthDelimited(2, lengthDelimited(2, span)));
}

function lengthDelimited(field: number, bytes: Buffer): Buffer {
  return Buffer.concat([Buffer.from([(field << 3) | 2]), varint(bytes.length), bytes]);
}

function varint(n: number): Buffer {
  const bytes: number[] = [];
  while (n >= 0x80) {
    bytes.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  bytes.push(n);
  return Buffer.from(bytes);
}

describe('a stored span body', () => {
  it('is each SDK span without its trace, span and parent ids or its flowtrace keys written out, and reads back whole', async () => {
    const decoded = decodeProtobuf(protobufBody(await checkoutSpans([{ sku: 'S', qty: 2 }], memoryProvider())));
    expect(decoded.spans.some((s) => s.parentSpanId)).toBe(true);
    decoded.spans.forEach((span, i) => {
      const body = Buffer.from(decoded.wires![i]!);
      expect(body.indexOf(Buffer.from(span.traceId, 'hex'))).toBe(-1);
      expect(body.indexOf(Buffer.from(span.spanId, 'hex'))).toBe(-1);
      if (span.parentSpanId) expect(body.indexOf(Buffer.from(span.parentSpanId, 'hex'))).toBe(-1);
      expect(body.indexOf('flowtrace.execution.id')).toBe(-1);
      expect(body.indexOf('flowtrace.depth')).toBe(-1);
      expect(decodeStoredSpan(body, span.resource, span.scope, idsOf(span))).toEqual(span);
    });
  });

  it('keeps other keys, and a key of its own that begins with the code mark, whatever their place in the entry', () => {
    const attribute = (key: string, value: string) => ({ key, value: { stringValue: value } });
    const { original, body, stored } = roundTrip(
      encoded({
        traceId: TRACE,
        spanId: SPAN,
        attributes: [attribute('flowtrace.depth', 'a'), attribute('custom.key', 'b'), attribute('\u0001!', 'c'), attribute('\u0001', 'd'), attribute('\u0001\u0001x', 'e')],
      }),
    );
    expect(Object.keys(original.attributes)).toEqual(['flowtrace.depth', 'custom.key', '\u0001!', '\u0001', '\u0001\u0001x']);
    expect(Buffer.from(body).indexOf('custom.key')).toBeGreaterThan(0);
    expect(stored).toEqual(original);
    // An entry whose key is given twice, after its value: the last key is its key.
    const entry = Buffer.concat([
      Buffer.from(SpanMessage.encode({ traceId: TRACE, spanId: SPAN, name: 'n', startTimeUnixNano: 1, endTimeUnixNano: 2 }).finish()),
      lengthDelimited(9, Buffer.concat([lengthDelimited(1, Buffer.from('other')), lengthDelimited(2, lengthDelimited(1, Buffer.from('v'))), lengthDelimited(1, Buffer.from('flowtrace.input'))])),
    ]);
    const twice = roundTrip(entry);
    expect(twice.original.attributes).toEqual({ 'flowtrace.input': 'v' });
    expect(twice.stored).toEqual(twice.original);
  });

  it('keeps an unknown field, a group among them', () => {
    const group = Buffer.concat([varint((20 << 3) | 3), Buffer.from([(1 << 3) | 0, 7]), varint((20 << 3) | 4)]);
    const { original, stored } = roundTrip(Buffer.concat([encoded({ traceId: TRACE, spanId: SPAN, attributes: [{ key: 'flowtrace.depth', value: { intValue: 2 } }] }), group]));
    expect(stored).toEqual(original);
  });

  it('keeps a trace state that sits between the ids, and the fields after them', () => {
    const { original, body, stored } = roundTrip(encoded({ traceId: TRACE, spanId: SPAN, traceState: 'vendor=1', parentSpanId: PARENT, kind: 2 }));
    expect(original.traceState).toBe('vendor=1');
    expect(body.length).toBe(encoded({ traceState: 'vendor=1', kind: 2 }).length);
    expect(stored).toEqual(original);
  });

  it('reads a field given twice as its last, as protobuf does', () => {
    const twice = (first: Buffer, last: Buffer) =>
      Buffer.concat([encoded({ traceId: TRACE, spanId: SPAN, parentSpanId: first }), Buffer.from(SpanMessage.encode({ parentSpanId: last, spanId: PARENT }).finish())]);
    for (const [first, last] of [[PARENT, Buffer.alloc(0)], [Buffer.from('0102', 'hex'), PARENT]] as const) {
      const { original, stored } = roundTrip(twice(first, last));
      expect(original.parentSpanId).toBe(last.length > 0 ? last.toString('hex') : undefined);
      expect(original.spanId).toBe(PARENT.toString('hex'));
      expect(stored).toEqual(original);
    }
  });

  it('of a span without ids or coded keys is the span itself', () => {
    const bare = encoded({ kind: 1, attributes: [{ key: 'custom', value: { boolValue: true } }] });
    expect(Buffer.from(new StoredBodies(0).add(bare))).toEqual(bare);
  });

  it('is what a SQLite file holds: no row repeats its ids in its body, and every span reads back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flowtrace-body-'));
    const path = join(dir, 'flowtrace.db');
    try {
      const decoded = decodeProtobuf(protobufBody(await checkoutSpans([{ sku: 'Q', qty: 1 }], memoryProvider())));
      const engine = new SqliteEngine({ path });
      await engine.transaction(async (tx) => {
        const incoming = routeSpans(decoded);
        const ids = [...new Set(incoming.flatMap((s) => (s.executionId ? [s.executionId] : [])))];
        const keys = new Map([...(await tx.executions(ids))].map(([id, e]) => [id, e.key]));
        return tx.appendSpans(incoming, keys);
      });
      const bySpanId = (list: { spanId: string }[]) => [...list].sort((a, b) => a.spanId.localeCompare(b.spanId));
      expect(bySpanId(await engine.trace(decoded.spans[0]!.traceId))).toEqual(bySpanId(decoded.spans));
      await engine.close();
      const db = new Database(path, { readonly: true });
      const rows = db.prepare('SELECT format, span_id, body FROM spans').all() as { format: number; span_id: Buffer; body: Buffer }[];
      db.close();
      expect(rows).toHaveLength(decoded.spans.length);
      for (const row of rows) {
        expect(row.format).toBe(3);
        expect(row.body.indexOf(row.span_id)).toBe(-1);
        expect(row.body.indexOf(Buffer.from(decoded.spans[0]!.traceId, 'hex'))).toBe(-1);
        expect(row.body.indexOf('flowtrace.execution.id')).toBe(-1);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
