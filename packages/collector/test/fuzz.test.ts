import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { history } from './support/history.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJson, startCollector } from './support/collector.js';
import { checkoutSpans, jsonBody, memoryProvider, protobufBody } from './support/traced.js';

/**
 * Thousands of generated and mutated OTLP bodies against a live collector: each gets 200, 400 or
 * 413 with a readable answer, nothing crashes or hangs, and what is stored stays readable.
 */
let running: Awaited<ReturnType<typeof startCollector>>;
let validJson: unknown;
let validProtobuf: Buffer;
const counts = { 200: 0, 400: 0, 413: 0 } as Record<number, number>;

beforeAll(async () => {
  running = await startCollector({ maxBodyBytes: 2 * 1024 * 1024 });
  const spans = await checkoutSpans([{ sku: 'fuzz', qty: 2 }, { sku: 'fuzz', qty: 0 }], memoryProvider());
  validJson = JSON.parse(jsonBody(spans).toString());
  validProtobuf = protobufBody(spans);
});
afterAll(async () => {
  await running.close();
});

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

async function send(body: Uint8Array | string, type: string, gzip = false) {
  const payload = gzip ? gzipSync(body) : body;
  const headers: Record<string, string> = { 'content-type': type };
  if (gzip) headers['content-encoding'] = 'gzip';
  const response = await fetch(`${running.url}/v1/traces`, { method: 'POST', body: payload, headers });
  const answer = Buffer.from(await response.arrayBuffer());
  counts[response.status] = (counts[response.status] ?? 0) + 1;
  return { status: response.status, answer, contentType: response.headers.get('content-type') };
}

function expectReadableAnswer(result: Awaited<ReturnType<typeof send>>, json: boolean) {
  expect([200, 400, 413]).toContain(result.status);
  if (json) {
    const parsed = JSON.parse(result.answer.toString()) as Record<string, unknown>;
    if (result.status === 200) expect(Object.keys(parsed).every((k) => k === 'partialSuccess')).toBe(true);
    else expect(String(parsed.message).length).toBeGreaterThan(10);
  } else {
    expect(result.contentType).toBe('application/x-protobuf');
  }
}

/** Every path into a JSON document, so a mutation can hit any node. */
function paths(value: Json, prefix: Array<string | number> = []): Array<Array<string | number>> {
  const here = [prefix];
  if (Array.isArray(value)) return here.concat(value.flatMap((v, i) => paths(v, [...prefix, i])));
  if (value && typeof value === 'object') return here.concat(Object.entries(value).flatMap(([k, v]) => paths(v, [...prefix, k])));
  return here;
}

function replaceAt(root: Json, path: Array<string | number>, value: Json | undefined): Json {
  if (path.length === 0) return value ?? null;
  if (root === null || typeof root !== 'object') return root;
  const copy = structuredClone(root) as Record<string | number, Json>;
  let node = copy as Record<string | number, Json>;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    // An earlier mutation removed or replaced this branch.
    if (next === null || typeof next !== 'object') return copy as Json;
    node = next as Record<string | number, Json>;
  }
  const last = path.at(-1)!;
  if (value === undefined) {
    if (Array.isArray(node)) node.splice(Number(last), 1);
    else delete node[last];
  } else node[last] = value;
  return copy as Json;
}

const hostileValue: fc.Arbitrary<Json> = fc.oneof(
  fc.jsonValue() as fc.Arbitrary<Json>,
  fc.constantFrom<Json>('', '0'.repeat(32), 'ZZ'.repeat(16), 'NaN', -1, 1e308, '18446744073709551616', [], {}),
  fc.nat(200_000).map((n) => 'x'.repeat(n)),
  fc.nat(4000).map((n) => Array.from({ length: n }, (_, i) => ({ key: `k${i}`, value: { stringValue: 'v' } }))),
  fc.integer({ min: 20, max: 300 }).map((depth) => {
    let value: Json = { stringValue: 'deep' };
    for (let i = 0; i < depth; i++) value = { kvlistValue: { values: [{ key: 'k', value }] } };
    return value;
  }),
);

describe('fuzzing POST /v1/traces', () => {
  it('answers mutated OTLP/JSON documents with 200, 400 or 413, never crashing', async () => {
    const document = validJson as Json;
    const allPaths = paths(document);
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat(allPaths.length - 1), fc.option(hostileValue, { nil: undefined })), { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        async (mutations, gzip) => {
          let mutated = document;
          for (const [index, value] of mutations) mutated = replaceAt(mutated, allPaths[index]!, value);
          expectReadableAnswer(await send(JSON.stringify(mutated), 'application/json', gzip), true);
        },
      ),
      { numRuns: 700 },
    );
  }, 120_000);

  it('answers corrupted, truncated and random protobuf with 200 or 400, in protobuf', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.array(fc.tuple(fc.nat(validProtobuf.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }).map((flips) => {
            const copy = Buffer.from(validProtobuf);
            for (const [at, byte] of flips) copy[at] = byte;
            return copy;
          }),
          fc.nat(validProtobuf.length).map((cut) => validProtobuf.subarray(0, cut)),
          fc.uint8Array({ maxLength: 4096 }).map((bytes) => Buffer.from(bytes)),
        ),
        fc.boolean(),
        async (body, gzip) => expectReadableAnswer(await send(body, 'application/x-protobuf', gzip), false),
      ),
      { numRuns: 700 },
    );
  }, 120_000);

  it('answers broken gzip with 400', async () => {
    const gzipped = gzipSync(JSON.stringify(validJson));
    await fc.assert(
      fc.asyncProperty(fc.nat(gzipped.length - 1), fc.integer({ min: 0, max: 255 }), async (at, byte) => {
        const broken = Buffer.from(gzipped.subarray(0, Math.max(10, at)));
        broken[Math.min(at, broken.length - 1)] = byte;
        const result = await fetch(`${running.url}/v1/traces`, {
          method: 'POST',
          body: broken,
          headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
        });
        await result.arrayBuffer();
        expect([200, 400]).toContain(result.status);
      }),
      { numRuns: 300 },
    );
  }, 60_000);

  it('stores nothing of a request it refuses, even when part of it was valid', async () => {
    const document = validJson as { resourceSpans: Json[] };
    await fc.assert(
      fc.asyncProperty(fc.constantFrom<Json>('not an object', 42, [1, 2], true), async (broken) => {
        const fresh = (await checkoutSpans([{ sku: 'half', qty: 1 }], memoryProvider()));
        const body = JSON.parse(jsonBody(fresh).toString()) as { resourceSpans: Json[] };
        body.resourceSpans.push(broken);
        const result = await send(JSON.stringify(body), 'application/json');
        expect(result.status).toBe(400);
        expect(await history(running.collector).getTrace(fresh[0]!.spanContext().traceId)).toEqual([]);
      }),
      { numRuns: 20 },
    );
    expect(document.resourceSpans.length).toBeGreaterThan(0);
  });

  it('is still up, and every stored record is readable through the API', { timeout: 60_000 }, async () => {
    expect((await getJson(`${running.url}/healthz`)).status).toBe(200);
    const flows = (await getJson(`${running.url}/api/flows?includeDeleted=true`)).body.items as Array<{ flowId: string }>;
    let records = 0;
    for (const { flowId } of flows) {
      for (let page = 1; ; page++) {
        const list = await getJson(`${running.url}/api/flows/${encodeURIComponent(flowId)}/executions?limit=100&page=${page}`);
        expect(list.status).toBe(200);
        for (const item of list.body.items as Array<{ id: string }>) {
          const detail = await getJson(`${running.url}/api/executions/${encodeURIComponent(item.id)}`);
          expect(detail.status).toBe(200);
          records++;
        }
        if (page >= list.body.totalPages) break;
      }
    }
    expect(records).toBeGreaterThan(0);
    // The mix really exercised every answer.
    expect(counts[200]).toBeGreaterThan(50);
    expect(counts[400]).toBeGreaterThan(50);
  });
});
