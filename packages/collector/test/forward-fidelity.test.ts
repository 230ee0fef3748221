import { gzipSync } from 'node:zlib';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import { ExportTraceServiceRequest } from '../src/otlp/schema.js';
import { getJson, startCollector } from './support/collector.js';
import { startReceiver } from './support/otlp-receiver.js';
import { checkoutSpans, memoryProvider } from './support/traced.js';

const MARKER = 'flowtrace.marker';

let cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

/** A receiver the exporter reaches directly, and one that gets the same through a collector. */
async function directAndThroughCollector() {
  const direct = await startReceiver();
  const through = await startReceiver();
  const running = await startCollector({ forward: [through.url] });
  cleanup.push(direct.close, through.close, running.close);
  return { direct, through, running };
}

function exportWith(exporter: SpanExporter, spans: ReadableSpan[]): Promise<void> {
  return new Promise((resolve, reject) =>
    exporter.export(spans, (result) => (result.code === 0 ? resolve() : reject(result.error ?? new Error('export failed')))),
  );
}

type Tree = { resourceSpans?: Array<{ scopeSpans?: Array<{ spans?: Array<{ attributes?: Array<{ key: string }> }> }> }> };

/** The request as flowtrace forwards it: marker spans cut out, scopes and resources left empty dropped. */
function withoutMarkers<T extends Tree>(request: T): T {
  const copy = structuredClone(request);
  copy.resourceSpans = copy.resourceSpans!.map((rs) => ({
    ...rs,
    scopeSpans: rs.scopeSpans!.map((ss) => ({ ...ss, spans: ss.spans!.filter((s) => !s.attributes?.some((kv) => kv.key === MARKER)) })).filter((ss) => ss.spans.length > 0),
  })).filter((rs) => rs.scopeSpans.length > 0);
  return copy;
}

function markerCount(request: Tree): number {
  return request.resourceSpans!.flatMap((rs) => rs.scopeSpans!.flatMap((ss) => ss.spans!)).filter((s) => s.attributes?.some((kv) => kv.key === MARKER)).length;
}

/** Every field protobufjs decodes, 64-bit numbers as strings and bytes as base64. */
function decodedProtobuf(body: Buffer): Tree {
  return ExportTraceServiceRequest.toObject(ExportTraceServiceRequest.decode(body), { longs: String, bytes: String }) as Tree;
}

describe('forwarding what was received', () => {
  it('gives a receiver, through the collector, the request the protobuf exporter sends it directly, minus markers', async () => {
    const { direct, through, running } = await directAndThroughCollector();
    const spans = await checkoutSpans([{ sku: 'P', qty: 2 }, { sku: 'bad', qty: 0 }], memoryProvider());
    await exportWith(new ProtobufExporter({ url: `${direct.url}/v1/traces` }), spans);
    await exportWith(new ProtobufExporter({ url: `${running.url}/v1/traces` }), spans);
    await expect.poll(() => through.requests.length).toBe(1);
    const sent = decodedProtobuf(direct.requests[0]!.body);
    expect(markerCount(sent)).toBeGreaterThan(0);
    expect(decodedProtobuf(through.requests[0]!.body)).toEqual(withoutMarkers(sent));
    expect(through.requests[0]!.path).toBe('/v1/traces');
    expect(through.requests[0]!.headers['content-type']).toBe(direct.requests[0]!.headers['content-type']);
  });

  it('gives a receiver, through the collector, the request the JSON exporter sends it directly, minus markers', async () => {
    const { direct, through, running } = await directAndThroughCollector();
    const spans = await checkoutSpans([{ sku: 'J', qty: 1 }], memoryProvider());
    await exportWith(new JsonExporter({ url: `${direct.url}/v1/traces` }), spans);
    await exportWith(new JsonExporter({ url: `${running.url}/v1/traces` }), spans);
    await expect.poll(() => through.requests.length).toBe(1);
    const sent = JSON.parse(direct.requests[0]!.body.toString()) as Tree;
    expect(markerCount(sent)).toBeGreaterThan(0);
    expect(JSON.parse(through.requests[0]!.body.toString())).toEqual(withoutMarkers(sent));
    expect(through.requests[0]!.headers['content-type']).toBe('application/json');
  });

  it('forwards a protobuf request with every OTLP field set byte for byte, the gzip undone and the markers cut', async () => {
    const { through, running } = await directAndThroughCollector();
    const request = everyField();
    const response = await fetch(`${running.url}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/protobuf', 'content-encoding': 'gzip' },
      body: gzipSync(ExportTraceServiceRequest.encode(ExportTraceServiceRequest.fromObject(request)).finish()),
    });
    expect(response.status).toBe(200);
    expect(ExportTraceServiceRequest.toObject(ExportTraceServiceRequest.decode(Buffer.from(await response.arrayBuffer())))).toEqual({});
    await expect.poll(() => through.requests.length).toBe(1);
    const expected = Buffer.from(ExportTraceServiceRequest.encode(ExportTraceServiceRequest.fromObject(withoutMarkers(request))).finish());
    expect(through.requests[0]!.body.equals(expected)).toBe(true);
    expect(through.requests[0]!.headers['content-type']).toBe('application/protobuf');
  });

  it('forwards a JSON request with every OTLP field set as written, numbers past 2^53 and unknown fields included', async () => {
    const { through, running } = await directAndThroughCollector();
    const request = everyFieldJson();
    // A time sent as a JSON number too large for a double: forwarded as written, not rounded.
    const text = (value: unknown) => JSON.stringify(value).replace('"endTimeUnixNano":"1767225600000000123"', '"endTimeUnixNano":1767225600000000123');
    const response = await fetch(`${running.url}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json; charset=utf-8' }, body: text(request) });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('{}');
    await expect.poll(() => through.requests.length).toBe(1);
    const forwarded = through.requests[0]!.body.toString();
    expect(forwarded).toBe(text(withoutMarkers(request)));
    expect(JSON.parse(forwarded)).toEqual(JSON.parse(text(withoutMarkers(request))));
    expect(through.requests[0]!.headers['content-type']).toBe('application/json; charset=utf-8');
  });

  it('forwards nothing for a request that held only markers', async () => {
    const { through, running } = await directAndThroughCollector();
    const spans = (await checkoutSpans([{ sku: 'M', qty: 1 }], memoryProvider())).filter((s) => s.attributes[MARKER] !== undefined);
    await exportWith(new ProtobufExporter({ url: `${running.url}/v1/traces` }), spans);
    const real = (await checkoutSpans([{ sku: 'R', qty: 1 }], memoryProvider())).filter((s) => s.attributes[MARKER] === undefined);
    await exportWith(new ProtobufExporter({ url: `${running.url}/v1/traces` }), real);
    // The second request arrives; the first never does.
    await expect.poll(() => through.requests.length).toBe(1);
    expect(markerCount(decodedProtobuf(through.requests[0]!.body))).toBe(0);
    await expect.poll(async () => (await getJson(`${running.url}/healthz`)).body.forward).toEqual([
      { destination: `${through.url}/v1/traces`, queued: 0, queuedBytes: 0, sent: 1, refused: 0, dropped: 0, lastError: null },
    ]);
  });
});

const TRACE = Buffer.from('5b8efff798038103d269b633813fc60c', 'hex');
const kv = (key: string, value: object) => ({ key, value });
const attributes = [
  kv('string', { stringValue: 'text ✓' }),
  kv('bool', { boolValue: false }),
  kv('int', { intValue: '-9007199254740993' }),
  kv('double', { doubleValue: 0.1 }),
  kv('bytes', { bytesValue: Buffer.from([0, 1, 254, 255]) }),
  kv('array', { arrayValue: { values: [{ stringValue: 'a' }, { intValue: '7' }, { arrayValue: { values: [{ boolValue: true }] } }] } }),
  kv('kvlist', { kvlistValue: { values: [kv('inner', { doubleValue: 2.5 }), kv('empty', {})] } }),
];
const marker = (spanId: string) => ({
  traceId: TRACE,
  spanId: Buffer.from(spanId, 'hex'),
  name: 'marker',
  kind: 1,
  startTimeUnixNano: '1767225600000000000',
  endTimeUnixNano: '1767225600000000000',
  attributes: [kv('flowtrace.marker', { stringValue: 'start' })],
});

/** An ExportTraceServiceRequest (protobufjs object form) with every field of every message set. */
function everyField() {
  return {
    resourceSpans: [
      {
        resource: { attributes: [kv('service.name', { stringValue: 'every-field' }), ...attributes], droppedAttributesCount: 3 },
        schemaUrl: 'https://opentelemetry.io/schemas/1.26.0',
        scopeSpans: [
          {
            scope: { name: 'hand-built', version: '1.2.3', attributes: [kv('scope.attr', { boolValue: true })], droppedAttributesCount: 4 },
            schemaUrl: 'https://opentelemetry.io/schemas/1.25.0',
            spans: [
              {
                traceId: TRACE,
                spanId: Buffer.from('0102030405060708', 'hex'),
                traceState: 'vendor=value,other=1',
                parentSpanId: Buffer.from('1112131415161718', 'hex'),
                flags: 0x301,
                name: 'every field',
                kind: 0,
                startTimeUnixNano: '1767225600000000001',
                endTimeUnixNano: '1767225600000000123',
                attributes,
                droppedAttributesCount: 5,
                events: [{ timeUnixNano: '1767225600000000050', name: 'event', attributes: [kv('e', { intValue: '1' })], droppedAttributesCount: 6 }],
                droppedEventsCount: 7,
                links: [
                  {
                    traceId: Buffer.from('aa'.repeat(16), 'hex'),
                    spanId: Buffer.from('bb'.repeat(8), 'hex'),
                    traceState: 'link=state',
                    attributes: [kv('l', { stringValue: 'x' })],
                    droppedAttributesCount: 8,
                    flags: 1,
                  },
                ],
                droppedLinksCount: 9,
                status: { code: 2, message: 'failed on purpose' },
              },
              marker('2122232425262728'),
            ],
          },
          // Left without spans once its marker is cut: not forwarded.
          { scope: { name: 'markers only' }, spans: [marker('3132333435363738')] },
        ],
      },
    ],
  };
}

/** The same request in OTLP/JSON, with a field this collector does not know. */
function everyFieldJson() {
  const hex = (b: Buffer) => b.toString('hex');
  const json = (value: unknown): unknown =>
    Buffer.isBuffer(value) ? value.toString('base64') : Array.isArray(value) ? value.map(json) : value && typeof value === 'object' ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, json(v)])) : value;
  const request = json(everyField()) as { resourceSpans: any[] };
  // Ids are hex in OTLP/JSON; bytes values base64.
  for (const rs of request.resourceSpans) {
    for (const ss of rs.scopeSpans) {
      for (const span of ss.spans) {
        for (const field of ['traceId', 'spanId', 'parentSpanId']) if (span[field]) span[field] = hex(Buffer.from(span[field], 'base64'));
        for (const link of span.links ?? []) for (const field of ['traceId', 'spanId']) link[field] = hex(Buffer.from(link[field], 'base64'));
        span.futureField = { kept: true };
      }
    }
  }
  return request;
}
