import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Router from '@koa/router';
import Koa from 'koa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodePageSize } from '../src/contract/index.js';
import { jsonErrors } from '../src/http/errors.js';
import { bucket, cursor, integer, metricsWindow, searchText, statuses } from '../src/routes/params.js';
import { getJson } from './support/collector.js';

/** Each helper behind a route of a real Koa app, answering what it parsed; errors as the collector answers them. */
const NOW = Date.parse('2026-03-01T12:00:00Z');
let server: Server;
let url: string;

beforeAll(async () => {
  const router = new Router();
  router.get('/statuses', (ctx) => void (ctx.body = { value: statuses(ctx) ?? null }));
  router.get('/q', (ctx) => void (ctx.body = { value: searchText(ctx) ?? null }));
  router.get('/bucket', (ctx) => void (ctx.body = { value: bucket(ctx) }));
  router.get('/cursor', (ctx) => void (ctx.body = { value: cursor(ctx) ?? null }));
  router.get('/nodes-limit', (ctx) => void (ctx.body = { value: integer(ctx, 'limit', NodePageSize) }));
  router.get('/window', (ctx) => void (ctx.body = { value: metricsWindow(ctx, NOW) }));
  const app = new Koa().use(jsonErrors(() => {})).use(router.routes());
  server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const value = async (path: string) => {
  const response = await getJson(`${url}${path}`);
  expect(response.status, path).toBe(200);
  return response.body.value;
};
const refused = async (path: string, message: string) =>
  expect(await getJson(`${url}${path}`), path).toEqual({ status: 400, body: { error: 'bad_request', message } });

describe('statuses', () => {
  it('reads one status or several, comma-separated, each once', async () => {
    expect(await value('/statuses')).toBeNull();
    expect(await value('/statuses?status=error')).toEqual(['error']);
    expect(await value('/statuses?status=error,pending')).toEqual(['error', 'pending']);
    expect(await value('/statuses?status=error,pending,error')).toEqual(['error', 'pending']);
  });

  it('names the allowed values when one is not a status', async () => {
    const message = (got: string) => `"status" must be one or more of pending, fulfilled, error, separated by commas (got "${got}")`;
    await refused('/statuses?status=done', message('done'));
    await refused('/statuses?status=error,done', message('done'));
    await refused('/statuses?status=error,', message(''));
    await refused('/statuses?status=error&status=pending', '"status" may be given only once');
  });
});

describe('searchText', () => {
  it('takes 3 to 200 characters, counted as the index counts them', async () => {
    expect(await value('/q?q=abc')).toBe('abc');
    expect(await value(`/q?q=${'x'.repeat(200)}`)).toHaveLength(200);
    const short = '"q" must be at least 3 characters: the search index matches 3-character sequences';
    await refused('/q?q=ab', short);
    // Two emoji are four UTF-16 units but two characters.
    await refused(`/q?q=${encodeURIComponent('😀😀')}`, short);
    await refused(`/q?q=${'x'.repeat(201)}`, '"q" must be at most 200 characters');
  });
});

describe('bucket', () => {
  it('defaults to 1h and names the sizes otherwise', async () => {
    expect(await value('/bucket')).toBe('1h');
    expect(await value('/bucket?bucket=15m')).toBe('15m');
    await refused('/bucket?bucket=2h', '"bucket" must be one of 1m, 5m, 15m, 1h, 6h, 1d (got "2h")');
  });
});

describe('cursor and the node page limit', () => {
  it('passes a cursor through and bounds the limit', async () => {
    expect(await value('/cursor')).toBeNull();
    expect(await value('/cursor?cursor=abc_-123')).toBe('abc_-123');
    await refused(
      `/cursor?cursor=${'c'.repeat(1025)}`,
      `"cursor" must be the "nodesNext" of a record or the "next" of a node page, unchanged (got "${'c'.repeat(40)}…")`,
    );
    expect(await value('/nodes-limit')).toBe(500);
    expect(await value('/nodes-limit?limit=1000')).toBe(1000);
    await refused('/nodes-limit?limit=1001', '"limit" must be a whole number from 1 to 1000 (got "1001")');
    await refused('/nodes-limit?limit=0', '"limit" must be a whole number from 1 to 1000 (got "0")');
  });
});

describe('metricsWindow', () => {
  it('defaults to the 24 hours up to now in 1h buckets', async () => {
    expect(await value('/window')).toEqual({ from: NOW - 24 * 3600_000, to: NOW, bucket: '1h' });
    const from = Date.parse('2026-03-01T00:00:00Z');
    expect(await value('/window?from=2026-03-01T00:00:00Z&bucket=1m')).toEqual({ from, to: NOW, bucket: '1m' });
  });

  it('refuses a reversed range and more than 1000 buckets', async () => {
    await refused('/window?from=2026-03-02&to=2026-03-01', '"from" must not be after "to"');
    // 24 h of 1m buckets is 1440.
    await refused(
      '/window?bucket=1m',
      'the range holds 1440 buckets of 1m; at most 1000: choose a larger "bucket" or a shorter range',
    );
    await refused('/window?from=yesterday', '"from" must be an ISO 8601 time (2026-01-31T12:00:00Z) or milliseconds since 1970 (got "yesterday")');
  });
});
