import { request } from 'node:http';
import { createGzip } from 'node:zlib';
import { Readable } from 'node:stream';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { startTracing } from '@flowtrace/node';
import { createTracingExtension } from '@flowtrace/tracer';
import { createScope } from '@pumped-fn/core-next';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it, onTestFinished } from 'vitest';
import { RpcStatus } from '../src/otlp/schema.js';
import { getJson, startCollector } from './support/collector.js';
import { history } from './support/history.js';
import { RawClient, type RawResponse } from './support/raw-http.js';
import { checkout, checkoutSpans, memoryProvider } from './support/traced.js';

async function collectorUnderTest(options: Parameters<typeof startCollector>[0] = {}) {
  const running = await startCollector(options);
  onTestFinished(() => running.close());
  return running;
}

/** A raw client on its own loopback address, closed after the test. */
async function client(url: string, address = '127.0.0.1'): Promise<RawClient> {
  const raw = await RawClient.open(url, address);
  onTestFinished(() => raw.close());
  return raw;
}

/** The google.rpc.Status an error answer carries, in whichever encoding it came. */
function rpcStatus(response: RawResponse): { code: number; message: string } {
  return response.headers['content-type']?.startsWith('application/json')
    ? JSON.parse(response.body.toString())
    : (RpcStatus.toObject(RpcStatus.decode(response.body)) as { code: number; message: string });
}

function exportWith(exporter: OTLPTraceExporter, spans: ReadableSpan[]): Promise<ExportResult> {
  return new Promise((resolve) => exporter.export(spans, resolve));
}

/** POSTs `body` with Node's client, chunked (no Content-Length), as the OTel exporters send. */
function postChunked(url: string, body: Readable, headers: Record<string, string>): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/v1/traces`, { method: 'POST', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers as Record<string, string>, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    body.pipe(req);
  });
}

describe('slow clients', () => {
  it('32 clients trickling chunked bodies hold no ingest slot: a real exporter’s batches are stored meanwhile, and the trickled bodies too once whole', async () => {
    const { collector, url } = await collectorUnderTest();
    const slow = await Promise.all(Array.from({ length: 32 }, (_, i) => client(url, `127.0.0.${i + 2}`)));
    for (const raw of slow) {
      await raw.startChunked();
      raw.trickle(50);
    }
    await expect.poll(() => collector.stats.reading).toBe(32);

    const tracing = startTracing({ serviceName: 'shop', collectorUrl: url, collectorProtocol: 'http/protobuf' });
    onTestFinished(() => tracing.shutdown());
    const scope = createScope({ extensions: [createTracingExtension()] });
    for (let qty = 1; qty <= 5; qty++) await scope.exec({ flow: checkout, input: { sku: `S-${qty}`, qty } });
    await tracing.forceFlush();
    expect((await history(collector).listExecutions({ flowId: 'checkout', page: 1, limit: 10, status: 'fulfilled' })).total).toBe(5);
    expect(collector.stats.busy).toBe(0);
    // Still arriving all along: nobody answered them, nobody cut them off.
    expect(collector.stats.reading).toBe(32);

    for (const raw of slow) await raw.finish();
    const answers = await Promise.all(slow.map((raw) => raw.response()));
    expect(answers.map((a) => a.status)).toEqual(slow.map(() => 200));
    expect(collector.stats.reading).toBe(0);
  });

  it('answers 408 in the request’s encoding and closes the connection when a body stalls', async () => {
    const { collector, url } = await collectorUnderTest({ bodyIdleTimeoutMs: 300 });
    const raw = await client(url);
    await raw.startChunked('application/x-protobuf');
    await raw.chunk(Buffer.from([0x0a]));
    const response = await raw.response();
    expect(response.status).toBe(408);
    expect(response.headers['content-type']).toBe('application/x-protobuf');
    expect(response.headers.connection).toBe('close');
    expect(rpcStatus(response)).toEqual({ code: 4, message: expect.stringContaining('no part of the request body arrived for 300 ms') });
    await raw.closed;
    expect(collector.stats).toMatchObject({ timedOut: 1, reading: 0 });
    expect((await getJson(`${url}/healthz`)).body.ingest).toMatchObject({ timedOut: 1, reading: 0, readingBytes: 0 });
  });

  it('answers 408 when a body never stalls but never ends either', async () => {
    const { collector, url } = await collectorUnderTest({ bodyIdleTimeoutMs: 300, requestTimeoutMs: 800 });
    const raw = await client(url);
    await raw.startChunked();
    raw.trickle(50);
    const response = await raw.response();
    expect(response.status).toBe(408);
    expect(rpcStatus(response)).toEqual({ code: 4, message: expect.stringContaining('did not arrive whole within 800 ms') });
    await raw.closed;
    expect(collector.stats.timedOut).toBe(1);
  });

  it('answers 408 and closes the connection when the headers never end', async () => {
    const { url } = await collectorUnderTest({ headersTimeoutMs: 300 });
    const raw = await client(url);
    await raw.write('POST /v1/traces HTTP/1.1\r\nHost: localhost\r\ncontent-type: application/json\r\n');
    await raw.closed;
    expect((await raw.response()).status).toBe(408);
  });

  it('answers 429 with Retry-After to a client that already has its share while another client is served', async () => {
    const { collector, url } = await collectorUnderTest({ maxConcurrentIngests: 4 });
    // Alone, a client may have as many requests in progress as it likes.
    const greedy = await Promise.all([1, 2, 3].map(() => client(url, '127.0.0.2')));
    for (const raw of greedy) await raw.startChunked();
    await expect.poll(() => collector.stats.reading).toBe(3);
    const other = await client(url, '127.0.0.3');
    await other.startChunked();
    await expect.poll(() => collector.stats.reading).toBe(4);

    // Two clients now: each one's share is 4 / 2.
    const more = await client(url, '127.0.0.2');
    await more.post('{"resourceSpans":[]}');
    const throttled = await more.response();
    expect(throttled.status).toBe(429);
    expect(throttled.headers['retry-after']).toBe('1');
    expect(rpcStatus(throttled)).toEqual({ code: 8, message: expect.stringContaining('share') });

    const second = await client(url, '127.0.0.3');
    await second.post('{"resourceSpans":[]}');
    expect((await second.response()).status).toBe(200);
    await other.finish();
    expect((await other.response()).status).toBe(200);
    for (const raw of greedy) await raw.finish();
    expect((await Promise.all(greedy.map((raw) => raw.response()))).map((r) => r.status)).toEqual([200, 200, 200]);
    expect(collector.stats).toMatchObject({ throttled: 1, busy: 0, accepted: 5 });
  });

  it('behind a trusted proxy, shares are per forwarded client, not one for the proxy', async () => {
    const { collector, url } = await collectorUnderTest({ maxConcurrentIngests: 4, trustProxy: true });
    // Every request comes from the proxy's one address; X-Forwarded-For says whose it is (the
    // last entry: an earlier one is what a client wrote itself).
    const via = (address: string) => ({ 'x-forwarded-for': `203.0.113.66, ${address}` });
    const greedy = await Promise.all([1, 2, 3].map(() => client(url)));
    for (const raw of greedy) await raw.startChunked('application/json', via('198.51.100.2'));
    const other = await client(url);
    await other.startChunked('application/json', via('198.51.100.3'));
    await expect.poll(() => collector.stats.reading).toBe(4);

    const more = await client(url);
    await more.startChunked('application/json', via('198.51.100.2'));
    expect((await more.response()).status).toBe(429);
    for (const raw of [...greedy, other]) await raw.finish();
    expect((await Promise.all([...greedy, other].map((raw) => raw.response()))).map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(collector.stats).toMatchObject({ throttled: 1, accepted: 4 });
  });

  it('the real OTLP exporter retries a 429 after Retry-After and its spans are stored exactly once', async () => {
    const { collector, url } = await collectorUnderTest({ maxConcurrentIngests: 2 });
    const spans = await checkoutSpans([{ sku: 'R', qty: 3 }], memoryProvider());
    // The exporter's own address already has a request in progress, and so does another client:
    // its share (2 / 2) is used up.
    const own = await client(url, '127.0.0.1');
    const other = await client(url, '127.0.0.2');
    for (const raw of [own, other]) await raw.startChunked();
    await expect.poll(() => collector.stats.reading).toBe(2);

    const exporter = new OTLPTraceExporter({ url: `${url}/v1/traces` });
    onTestFinished(() => exporter.shutdown());
    const exported = exportWith(exporter, spans);
    await expect.poll(() => collector.stats.throttled).toBe(1);
    for (const raw of [own, other]) await raw.finish();

    expect((await exported).code).toBe(ExportResultCode.SUCCESS);
    expect(collector.stats).toMatchObject({ throttled: 1, spans: spans.length, accepted: 3 });
    const list = await history(collector).listExecutions({ flowId: 'checkout', page: 1, limit: 5 });
    expect(list.items.map((item) => [item.status, item.preview])).toEqual([['fulfilled', 'sku: R']]);
  });

  it('answers 413 with the OTLP error body to a chunked body over the limit, however it is sent', async () => {
    const { collector, url } = await collectorUnderTest({ maxBodyBytes: 64 * 1024 });
    const plain = await postChunked(url, Readable.from(Array.from({ length: 16 }, () => Buffer.alloc(16 * 1024, 0x20))), {
      'content-type': 'application/json',
    });
    expect(plain.status).toBe(413);
    expect(plain.headers.connection).toBe('close');
    expect(rpcStatus(plain)).toEqual({ code: 8, message: expect.stringContaining('65536 bytes') });

    // A gzip bomb, chunked: refused once inflated past the limit, long before it is inflated whole.
    const bomb = Readable.from(Array.from({ length: 64 }, () => Buffer.alloc(1024 * 1024))).pipe(createGzip());
    const inflated = await postChunked(url, bomb, { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' });
    expect(inflated.status).toBe(413);
    expect(rpcStatus(inflated)).toEqual({ code: 8, message: expect.stringContaining('after gzip inflation') });
    expect(collector.stats).toMatchObject({ refused: 2, reading: 0 });
  });

  it('the real OTLP exporter gets a 413 for a batch over the limit and does not retry it', async () => {
    const { collector, url } = await collectorUnderTest({ maxBodyBytes: 4 * 1024 });
    const spans = await checkoutSpans(
      Array.from({ length: 20 }, (_, i) => ({ sku: `BIG-${i}`, qty: 1 })),
      memoryProvider(),
    );
    const exporter = new OTLPTraceExporter({ url: `${url}/v1/traces` });
    onTestFinished(() => exporter.shutdown());
    const result = await exportWith(exporter, spans);
    expect(result.code).toBe(ExportResultCode.FAILED);
    expect(result.error).toMatchObject({ code: 413 });
    expect(collector.stats).toMatchObject({ refused: 1, accepted: 0 });
  });

  it('answers 503 with Retry-After when bodies being read already hold all the memory they may', async () => {
    const { collector, url } = await collectorUnderTest({ maxBodyBytes: 64 * 1024, maxReadingBytes: 64 * 1024 });
    const slow = await client(url, '127.0.0.2');
    await slow.startChunked();
    await slow.chunk(Buffer.alloc(60 * 1024, 0x20));
    await expect.poll(async () => (await getJson(`${url}/healthz`)).body.ingest.readingBytes).toBe(60 * 1024);

    const full = await client(url);
    await full.post(' '.repeat(8 * 1024) + '{"resourceSpans":[]}');
    const busy = await full.response();
    expect(busy.status).toBe(503);
    expect(busy.headers['retry-after']).toBe('1');
    expect(rpcStatus(busy)).toEqual({ code: 14, message: expect.stringContaining('reading too many request bodies') });

    // Nothing already being read is lost.
    await slow.finish();
    expect((await slow.response()).status).toBe(200);
    expect(collector.stats).toMatchObject({ busy: 1, accepted: 1 });
  });
});
