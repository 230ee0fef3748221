import { history } from './support/history.js';
import { afterEach, describe, expect, it } from 'vitest';
import { parseCli } from '../src/cli-options.js';
import { getJson, startCollector } from './support/collector.js';
import { checkoutSpans, jsonBody, memoryProvider, protobufBody } from './support/traced.js';

let cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

describe('forwarding', () => {
  it('re-exports received spans to another OTLP endpoint, without markers', async () => {
    // The upstream is a second real collector: an OTLP/HTTP receiver that keeps what it gets.
    const upstream = await startCollector();
    cleanup.push(upstream.close);
    const running = await startCollector({ forward: [upstream.url] });
    cleanup.push(running.close);
    const spans = await checkoutSpans([{ sku: 'F', qty: 1 }], memoryProvider());
    const markers = spans.filter((s) => s.attributes['flowtrace.marker'] !== undefined);
    // The execution's start marker and one per step.
    expect(markers).toHaveLength(4);
    const response = await fetch(`${running.url}/v1/traces`, {
      method: 'POST',
      body: protobufBody(spans),
      headers: { 'content-type': 'application/x-protobuf' },
    });
    expect(response.status).toBe(200);
    const traceId = spans[0]!.spanContext().traceId;
    await expect.poll(async () => (await history(upstream.collector).getTrace(traceId)).length).toBe(4);
    const received = await history(upstream.collector).getTrace(traceId);
    expect(received.map((s) => s.name).sort()).toEqual(['flow checkout', 'flow validate', 'step price', 'step reserve']);
    expect(received.some((s) => s.attributes['flowtrace.marker'] !== undefined)).toBe(false);
    const original = (await history(running.collector).getTrace(traceId)).filter((s) => s.attributes['flowtrace.marker'] === undefined);
    // Forwarded as received: ids, times, attributes, status, events and resource.
    const byId = (list: typeof received) => Object.fromEntries(list.map((s) => [s.spanId, s]));
    expect(byId(received)).toEqual(byId(original));
  });

  it('never blocks or fails ingest when the upstream is down', async () => {
    const running = await startCollector({ forward: ['http://127.0.0.1:9'] });
    cleanup.push(running.close);
    const spans = await checkoutSpans([{ sku: 'D', qty: 1 }], memoryProvider());
    const started = Date.now();
    for (let i = 0; i < 5; i++) {
      const response = await fetch(`${running.url}/v1/traces`, {
        method: 'POST',
        body: jsonBody(spans),
        headers: { 'content-type': 'application/json' },
      });
      expect(response.status).toBe(200);
    }
    expect(Date.now() - started).toBeLessThan(5_000);
    expect((await history(running.collector).listExecutions({ flowId: 'checkout', page: 1, limit: 5 })).total).toBe(1);
  });
});

describe('access control', () => {
  it('requires the bearer token on every route but /healthz, and says nothing more', async () => {
    const running = await startCollector({ token: 'correct horse' });
    cleanup.push(running.close);
    const { url } = running;
    expect((await getJson(`${url}/healthz`)).status).toBe(200);
    for (const [path, init] of [
      ['/api/flows', {}],
      ['/api/executions/x', {}],
      ['/api/stream', {}],
      ['/v1/traces', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } }],
    ] as const) {
      for (const authorization of [undefined, 'Bearer wrong', 'Basic Y29ycmVjdCBob3JzZQ==', 'Bearer correct horsey']) {
        const headers = { ...('headers' in init ? init.headers : {}), ...(authorization ? { authorization } : {}) };
        const response = await getJson(`${url}${path}`, { ...init, headers });
        expect(response, `${path} ${authorization}`).toEqual({
          status: 401,
          body: { error: 'unauthorized', message: 'a valid bearer token is required (Authorization: Bearer <token>)' },
        });
      }
    }
    const ok = await getJson(`${url}/api/flows`, { headers: { authorization: 'Bearer correct horse' } });
    expect(ok).toEqual({ status: 200, body: { items: [] } });
  });

  it('answers CORS only for configured origins', async () => {
    const running = await startCollector({ corsOrigins: ['http://app.example'] });
    cleanup.push(running.close);
    const allowed = await fetch(`${running.url}/api/flows`, { headers: { origin: 'http://app.example' } });
    expect(allowed.headers.get('access-control-allow-origin')).toBe('http://app.example');
    const other = await fetch(`${running.url}/api/flows`, { headers: { origin: 'http://evil.example' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    const preflight = await fetch(`${running.url}/v1/traces`, {
      method: 'OPTIONS',
      headers: { origin: 'http://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-headers')).toContain('Authorization');
  });
});

describe('command line', () => {
  it('reads flags and environment, with defaults', () => {
    const config = parseCli(['--port', '5000', '--forward', 'http://j:4318', '--forward', 'http://k:4318', '--timeout', '90s'], {});
    expect(config).toMatchObject({
      port: 5000,
      host: '127.0.0.1',
      options: { db: './flowtrace.db', timeoutMs: 90_000, forward: ['http://j:4318', 'http://k:4318'], corsOrigins: [] },
    });
    const fromEnv = parseCli([], { FLOWTRACE_DB: '/data/f.db', FLOWTRACE_TIMEOUT: '2m', FLOWTRACE_CORS_ORIGINS: 'http://a, http://b' });
    expect(fromEnv.options).toMatchObject({ db: '/data/f.db', timeoutMs: 120_000, corsOrigins: ['http://a', 'http://b'] });
  });

  it('refuses bad flags with a clear message', () => {
    expect(() => parseCli(['--port', 'x'], {})).toThrow('--port must be a number from 0 to 65535 (got "x")');
    expect(() => parseCli(['--timeout', 'soon'], {})).toThrow('--timeout must be a duration such as 300000, 90s, 5m or 1h');
    expect(() => parseCli(['--frobnicate'], {})).toThrow("Unknown option '--frobnicate'");
    expect(() => parseCli(['--host', '0.0.0.0'], {})).toThrow('refusing to listen on 0.0.0.0 without a token');
    expect(parseCli(['--host', '0.0.0.0', '--insecure'], {}).host).toBe('0.0.0.0');
    expect(parseCli(['--host', '0.0.0.0'], { FLOWTRACE_TOKEN: 'tok-12345' }).options.token).toBe('tok-12345');
    expect(() => parseCli(['--db-pool', '0', '--db', 'postgres://h/db'], {})).toThrow('--db-pool must be a whole number of connections, 2 or more: ingest runs a statement beside its transaction (got "0")');
    expect(() => parseCli(['--db-pool', '1', '--db', 'postgres://h/db'], {})).toThrow('2 or more');
    expect(() => parseCli(['--db-pool', '4'], {})).toThrow('apply to PostgreSQL: give --db a postgres:// URL');
    expect(() => parseCli(['--db', 'postgres://h/db', '--db-connect-timeout', 'later'], {})).toThrow('--db-connect-timeout must be a duration');
  });

  it('takes a postgres:// or postgresql:// URL for --db, with pool and timeouts', () => {
    const config = parseCli(['--db', 'postgresql://u:p@db:5432/flowtrace', '--db-pool', '4', '--db-statement-timeout', '10s'], {});
    expect(config.options).toMatchObject({ db: 'postgresql://u:p@db:5432/flowtrace', postgres: { poolSize: 4, statementTimeoutMs: 10_000 } });
    const fromEnv = parseCli([], { FLOWTRACE_DB: 'postgres://db/f', FLOWTRACE_DB_CONNECT_TIMEOUT: '2s' });
    expect(fromEnv.options).toMatchObject({ db: 'postgres://db/f', postgres: { connectTimeoutMs: 2000 } });
    expect(fromEnv.options.postgres).not.toHaveProperty('preparedStatements');
    expect(parseCli(['--db', 'postgres://db/f', '--db-no-prepare'], {}).options.postgres).toEqual({ preparedStatements: false });
    expect(parseCli([], { FLOWTRACE_DB: 'postgres://db/f', FLOWTRACE_DB_NO_PREPARE: 'true' }).options.postgres).toEqual({ preparedStatements: false });
    expect(() => parseCli(['--db-no-prepare'], {})).toThrow('apply to PostgreSQL: give --db a postgres:// URL');
  });
});

describe('hostile API parameters', () => {
  it('cannot read other flows or break the query through flowId, q, status or paging', async () => {
    const running = await startCollector();
    cleanup.push(running.close);
    const provider = memoryProvider();
    await fetch(`${running.url}/v1/traces`, {
      method: 'POST',
      body: jsonBody(await checkoutSpans([{ sku: 'secret-sku', qty: 1 }], provider)),
      headers: { 'content-type': 'application/json' },
    });
    const injections = ["' OR '1'='1", "checkout' --", 'checkout" OR 1=1 --', '%', '_', "'; DROP TABLE executions; --"];
    for (const flowId of injections) {
      const page = await getJson(`${running.url}/api/flows/${encodeURIComponent(flowId)}/executions`);
      expect(page, flowId).toEqual({ status: 200, body: { items: [], page: 1, limit: 20, total: 0, totalPages: 0 } });
    }
    // Search text needs 3 characters: single wildcards are refused, three of them match nothing.
    for (const q of [...injections, '%%%', '___']) {
      const page = await getJson(`${running.url}/api/flows/checkout/executions?q=${encodeURIComponent(q)}`);
      expect(page.status, q).toBe(q.length < 3 ? 400 : 200);
      if (page.status === 200) expect(page.body.total, q).toBe(0);
    }
    for (const status of ["error' OR '1'='1", 'pending;--']) {
      expect((await getJson(`${running.url}/api/flows/checkout/executions?status=${encodeURIComponent(status)}`)).status).toBe(400);
    }
    for (const paging of ['page=1;DROP', 'limit=1e3', 'page=-1', 'limit=0x10']) {
      expect((await getJson(`${running.url}/api/flows/checkout/executions?${paging}`)).status, paging).toBe(400);
    }
    // Everything is still there.
    expect((await getJson(`${running.url}/api/flows/checkout/executions?q=secret`)).body.total).toBe(1);
  });

  it('never writes the token to its log', async () => {
    const lines: string[] = [];
    const running = await startCollector({ token: 'hunter2-token', log: (line) => lines.push(line) });
    cleanup.push(running.close);
    await fetch(`${running.url}/api/flows`, { headers: { authorization: 'Bearer wrong-token' } });
    await fetch(`${running.url}/api/flows`, { headers: { authorization: 'Bearer hunter2-token' } });
    await fetch(`${running.url}/v1/traces`, { method: 'POST', body: '{', headers: { authorization: 'Bearer hunter2-token', 'content-type': 'application/json' } });
    // A store that fails makes the collector log the failed request.
    await history(running.collector).close();
    const failed = await fetch(`${running.url}/v1/traces`, {
      method: 'POST',
      body: jsonBody(await checkoutSpans([{ sku: 'log', qty: 1 }], memoryProvider())),
      headers: { authorization: 'Bearer hunter2-token', 'content-type': 'application/json' },
    });
    expect(failed.status).toBe(503);
    expect(failed.headers.get('retry-after')).toBe('1');
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.join('\n')).not.toContain('hunter2');
    expect(lines.join('\n')).not.toContain('wrong-token');
  });
});
