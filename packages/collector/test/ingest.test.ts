import { history } from './support/history.js';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { createScope } from '@pumped-fn/core-next';
import { startTracing } from '@flowtrace/node';
import { createTracingExtension } from '@flowtrace/tracer';
import { afterEach, describe, expect, it } from 'vitest';
import { ExportTraceServiceResponse, RpcStatus } from '../src/otlp/schema.js';
import { getJson, startCollector } from './support/collector.js';
import { checkout, checkoutSpans, jsonBody, memoryProvider, protobufBody } from './support/traced.js';

let cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

async function collectorUnderTest(options: Parameters<typeof startCollector>[0] = {}) {
  const running = await startCollector(options);
  cleanup.push(running.close);
  return running;
}

const post = (url: string, body: Buffer | string, headers: Record<string, string>) =>
  fetch(`${url}/v1/traces`, { method: 'POST', body, headers });

describe('ingest from the real OTel exporters, driven by @flowtrace/tracer', () => {
  for (const protocol of ['http/json', 'http/protobuf'] as const) {
    it(`stores execution records sent as ${protocol}`, async () => {
      const { collector, url } = await collectorUnderTest();
      const tracing = startTracing({ serviceName: 'shop', serviceInstanceId: 'i-1', collectorUrl: url, collectorProtocol: protocol });
      cleanup.push(() => tracing.shutdown());
      const scope = createScope({ extensions: [createTracingExtension()] });
      await scope.exec({ flow: checkout, input: { sku: 'A-1', qty: 4 } });
      await scope.exec({ flow: checkout, input: { sku: 'B-2', qty: 0 } }).result.catch(() => {});
      await tracing.forceFlush();

      const list = await history(collector).listExecutions({ flowId: 'checkout', page: 1, limit: 10 });
      expect(list.total).toBe(2);
      const [failed, ok] = list.items;
      expect([failed!.status, failed!.errorKind, failed!.preview]).toEqual(['error', 'exception', 'sku: B-2']);
      expect([ok!.status, ok!.preview]).toEqual(['fulfilled', 'sku: A-1']);
      const record = (await history(collector).getExecution(ok!.id))!;
      expect(record).toMatchObject({
        serviceName: 'shop',
        serviceInstanceId: 'i-1',
        initialParams: { sku: 'A-1', qty: 4 },
        result: { total: 20 },
        data: { validate: { ok: true }, price: 20, reserve: { reserved: 4 } },
      });
      expect(record.nodes.map((n) => n.name)).toEqual(['flow validate', 'step price', 'step reserve']);
      expect((await history(collector).getExecution(failed!.id))!.errorInfo).toMatchObject({ nodeName: 'flow validate', type: 'RangeError' });
      expect(await history(collector).listFlows()).toEqual([
        expect.objectContaining({ flowId: 'checkout', executionCount: 2, lastStatus: 'error', deleted: false }),
      ]);
    });
  }

  it('accepts the OTLP specification example (uppercase hex ids) and serves its spans', async () => {
    const { url } = await collectorUnderTest();
    const example = readFileSync(new URL('../../../../shared/otlp/trace.json', import.meta.url));
    const response = await post(url, example, { 'content-type': 'application/json' });
    expect([response.status, await response.json()]).toEqual([200, {}]);
    const { status, body } = await getJson(`${url}/api/traces/5B8EFFF798038103D269B633813FC60C`);
    expect(status).toBe(200);
    expect(body.spans).toEqual([
      expect.objectContaining({
        traceId: '5b8efff798038103d269b633813fc60c',
        spanId: 'eee19b7ec3c1b174',
        parentSpanId: 'eee19b7ec3c1b173',
        name: "I'm a server span",
        kind: 2,
        startTimeUnixNano: '1544712660000000000',
        endTimeUnixNano: '1544712661000000000',
        attributes: { 'my.span.attr': 'some value' },
        resource: { 'service.name': 'my.service' },
        scope: { name: 'my.library', version: '1.0.0' },
      }),
    ]);
  });

  it('accepts gzip bodies and answers protobuf requests in protobuf', async () => {
    const { collector, url } = await collectorUnderTest();
    const spans = await checkoutSpans([{ sku: 'G', qty: 1 }], memoryProvider());
    const response = await post(url, gzipSync(protobufBody(spans)), {
      'content-type': 'application/x-protobuf',
      'content-encoding': 'gzip',
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/x-protobuf');
    expect(Buffer.from(await response.arrayBuffer())).toHaveLength(0);
    expect((await history(collector).listExecutions({ flowId: 'checkout', page: 1, limit: 5 })).total).toBe(1);
  });
});

describe('ingest errors', () => {
  it('answers 400 with a message for undecodable bodies, in the request encoding, storing nothing', async () => {
    const { collector, url } = await collectorUnderTest();
    const cases: Array<[string, Buffer | string, Record<string, string>]> = [
      ['json', '{"resourceSpans": [', { 'content-type': 'application/json' }],
      ['json', '{"resourceSpans": {"not": "a list"}}', { 'content-type': 'application/json' }],
      ['json', '[1,2]', { 'content-type': 'application/json' }],
      ['protobuf', Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01]), { 'content-type': 'application/x-protobuf' }],
      ['json', Buffer.from('definitely not gzip'), { 'content-type': 'application/json', 'content-encoding': 'gzip' }],
    ];
    for (const [encoding, body, headers] of cases) {
      const response = await post(url, body, headers);
      expect(response.status, String(body)).toBe(400);
      const payload = Buffer.from(await response.arrayBuffer());
      const status = encoding === 'json' ? JSON.parse(payload.toString()) : RpcStatus.toObject(RpcStatus.decode(payload));
      expect(status.code).toBe(3);
      expect(status.message.length).toBeGreaterThan(10);
    }
    expect(await history(collector).listFlows()).toEqual([]);
  });

  it('keeps the valid spans and reports the rejected ones in partialSuccess', async () => {
    const { collector, url } = await collectorUnderTest();
    const spans = await checkoutSpans([{ sku: 'P', qty: 2 }], memoryProvider());
    const body = JSON.parse(jsonBody(spans).toString());
    const list = body.resourceSpans[0].scopeSpans[0].spans;
    list.push({ ...list[0], spanId: 'xyz' }, { ...list[0], traceId: '0'.repeat(32) });
    const response = await post(url, JSON.stringify(body), { 'content-type': 'application/json' });
    expect(response.status).toBe(200);
    const answer = (await response.json()) as { partialSuccess: { rejectedSpans: number; errorMessage: string } };
    expect(answer.partialSuccess.rejectedSpans).toBe(2);
    expect(answer.partialSuccess.errorMessage).toContain('spanId must be 16 hex digits');
    expect(answer.partialSuccess.errorMessage).toContain('traceId must be 32 hex digits, not all zero');
    expect((await history(collector).listExecutions({ flowId: 'checkout', page: 1, limit: 5 })).items[0]?.status).toBe('fulfilled');

    const proto = await post(url, protobufBody(spans), { 'content-type': 'application/x-protobuf' });
    expect(ExportTraceServiceResponse.decode(Buffer.from(await proto.arrayBuffer())).toJSON()).toEqual({});
  });

  it('answers 413 for bodies over the limit, counted after gzip inflation, without inflating a bomb whole', async () => {
    const { collector, url } = await collectorUnderTest({ maxBodyBytes: 64 * 1024 });
    const big = Buffer.alloc(65 * 1024, 0x20);
    const plain = await post(url, big, { 'content-type': 'application/json' });
    expect(plain.status).toBe(413);
    expect(((await plain.json()) as { message: string }).message).toContain('65536 bytes');

    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20));
    expect(bomb.length).toBeLessThan(128 * 1024);
    const before = process.memoryUsage().rss;
    const inflated = await post(url, bomb, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    expect(inflated.status).toBe(413);
    expect(process.memoryUsage().rss - before).toBeLessThan(200 * 1024 * 1024);
    expect(await history(collector).listFlows()).toEqual([]);
  });

  it('answers 415 for other content types and encodings, 405 for other methods', async () => {
    const { url } = await collectorUnderTest();
    const text = await post(url, 'hello', { 'content-type': 'text/plain' });
    expect(text.status).toBe(415);
    expect(((await text.json()) as { message: string }).message).toContain('application/x-protobuf');
    const brotli = await post(url, '{}', { 'content-type': 'application/json', 'content-encoding': 'br' });
    expect(brotli.status).toBe(415);
    const get = await fetch(`${url}/v1/traces`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toContain('POST');
    expect(((await get.json()) as { message: string }).message).toBe('GET is not allowed here; use POST');
    const unknown = await getJson(`${url}/nope`);
    expect(unknown).toEqual({ status: 404, body: { error: 'not_found', message: 'no route GET /nope' } });
  });
});
