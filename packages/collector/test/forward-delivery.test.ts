import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createCollector, type Collector, type CollectorOptions } from '../src/app.js';
import { decodeJson } from '../src/otlp/json.js';
import { decodeProtobuf } from '../src/otlp/protobuf.js';
import { getJson, startCollector } from './support/collector.js';
import { startReceiver, type ReceivedRequest } from './support/otlp-receiver.js';
import { checkoutSpans, jsonBody, memoryProvider, protobufBody } from './support/traced.js';

/** Back-off short enough for a test to see several retries. */
const FAST_RETRY = { firstMs: 50, maxMs: 200 };

let cleanup: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

/** A loopback port nothing listens on (yet). */
async function freePort(): Promise<number> {
  const probe = await startReceiver();
  await probe.close();
  return probe.port;
}

/** Sends `count` requests of distinct executions, protobuf and JSON in turn; returns the non-marker span ids. */
async function sendRequests(url: string, count: number): Promise<string[]> {
  const provider = memoryProvider();
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const spans = await checkoutSpans([{ sku: `S-${i}`, qty: i + 1 }], provider);
    const json = i % 2 === 1;
    const response = await fetch(`${url}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': json ? 'application/json' : 'application/x-protobuf' },
      body: json ? jsonBody(spans) : protobufBody(spans),
    });
    expect(response.status).toBe(200);
    ids.push(...spans.filter((s) => s.attributes['flowtrace.marker'] === undefined).map((s) => s.spanContext().spanId));
  }
  return ids;
}

/** The span ids a receiver got, one entry per copy. */
function spanIdsOf(requests: readonly ReceivedRequest[]): string[] {
  return requests.flatMap(({ headers, body }) =>
    (headers['content-type']?.startsWith('application/json') ? decodeJson(body) : decodeProtobuf(body)).spans.map((s) => s.spanId),
  );
}

function openOn(db: string, options: CollectorOptions): Promise<{ collector: Collector; url: string }> {
  const collector = createCollector({ db, reconcileIntervalMs: 0, log: () => {}, forwardRetryMs: FAST_RETRY, ...options });
  return collector.listen(0, '127.0.0.1').then((url) => ({ collector, url }));
}

describe('forwarding that loses nothing', () => {
  it('delivers every acknowledged span once after the destination was down across a collector restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flowtrace-forward-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const db = join(dir, 'flowtrace.db');
    const port = await freePort();
    const destination = `http://127.0.0.1:${port}`;

    const first = await openOn(db, { forward: [destination] });
    const expected = await sendRequests(first.url, 6);
    // It tried, and keeps everything queued.
    await expect.poll(() => first.collector.forwarder.health()[0]!.lastError).toMatch(/ECONNREFUSED/);
    await first.collector.close();

    const second = await openOn(db, { forward: [destination] });
    cleanup.push(() => second.collector.close());
    await expect.poll(() => second.collector.forwarder.health()[0]).toMatchObject({ queued: 6, lastError: expect.stringMatching(/ECONNREFUSED/) });
    const receiver = await startReceiver({ port });
    cleanup.push(receiver.close);
    await expect.poll(() => spanIdsOf(receiver.requests).length, { timeout: 20_000 }).toBe(expected.length);
    expect(spanIdsOf(receiver.requests).sort()).toEqual([...expected].sort());
    await expect.poll(() => second.collector.forwarder.health()[0]).toMatchObject({ queued: 0, sent: 6, refused: 0, dropped: 0 });
  });

  it('keeps sending to a working destination while another refuses everything and a third is down', async () => {
    const refusing = await startReceiver({ answer: () => ({ status: 400 }) });
    const working = await startReceiver();
    const down = `http://127.0.0.1:${await freePort()}`;
    const logs: string[] = [];
    const running = await startCollector({ forward: [refusing.url, down, working.url], forwardRetryMs: FAST_RETRY, log: (m) => logs.push(m) });
    cleanup.push(refusing.close, working.close, running.close);
    const expected = await sendRequests(running.url, 3);
    await expect.poll(() => spanIdsOf(working.requests).length).toBe(expected.length);
    // Refused for good: each payload tried once, dropped, said once in the log.
    await expect.poll(() => running.collector.forwarder.health()[0]).toMatchObject({ refused: 3, queued: 0, lastError: 'HTTP 400 Bad Request' });
    expect(refusing.requests).toHaveLength(3);
    expect(logs.filter((line) => line.includes('refused a payload'))).toEqual([
      `forwarding to ${refusing.url}/v1/traces: the destination refused a payload (HTTP 400 Bad Request); it is dropped, as it would be refused again`,
    ]);
    await expect.poll(async () => (await getJson(`${running.url}/healthz`)).body.forward).toEqual([
      { destination: `${refusing.url}/v1/traces`, queued: 0, queuedBytes: 0, sent: 0, refused: 3, dropped: 0, lastError: 'HTTP 400 Bad Request' },
      { destination: `${down}/v1/traces`, queued: 3, queuedBytes: expect.any(Number), sent: 0, refused: 0, dropped: 0, lastError: expect.stringMatching(/ECONNREFUSED/) },
      { destination: `${working.url}/v1/traces`, queued: 0, queuedBytes: 0, sent: 3, refused: 0, dropped: 0, lastError: null },
    ]);
  });

  it('retries 429/503 after the Retry-After the destination asks for, and delivers each payload once', async () => {
    let answered = 0;
    const receiver = await startReceiver({
      answer: () => (++answered <= 2 ? { status: answered === 1 ? 503 : 429, headers: { 'retry-after': '0' } } : { status: 200 }),
    });
    const running = await startCollector({ forward: [receiver.url] });
    cleanup.push(receiver.close, running.close);
    const expected = await sendRequests(running.url, 2);
    await expect.poll(() => running.collector.forwarder.health()[0]!.sent).toBe(2);
    // Default back-off starts at 1 s: the destination's Retry-After: 0 is what made it quick.
    expect(receiver.requests).toHaveLength(4);
    const accepted = receiver.requests.slice(2);
    expect(spanIdsOf(accepted).sort()).toEqual([...expected].sort());
  });

  it('sends the configured headers with every request, and never shows their values in logs or /healthz', async () => {
    const secrets = { 'x-api-key': 'k-s3cret-value', authorization: 'Bearer s3cret-bearer' };
    const receiver = await startReceiver();
    const refusing = await startReceiver({ answer: () => ({ status: 401 }) });
    const logs: string[] = [];
    const running = await startCollector({ forward: [receiver.url, refusing.url], forwardHeaders: secrets, log: (m) => logs.push(m) });
    cleanup.push(receiver.close, refusing.close, running.close);
    await sendRequests(running.url, 2);
    await expect.poll(() => receiver.requests.length).toBe(2);
    for (const request of [...receiver.requests, ...refusing.requests]) expect(request.headers).toMatchObject(secrets);
    await expect.poll(() => running.collector.forwarder.health()[1]!.refused).toBe(2);
    const shown = JSON.stringify((await getJson(`${running.url}/healthz`)).body) + logs.join('\n');
    expect(shown).toContain('HTTP 401 Unauthorized');
    expect(shown).not.toMatch(/s3cret/);
  });

  it('drops the oldest payloads of a destination past its byte cap, with a log line and a /healthz count', async () => {
    const port = await freePort();
    const logs: string[] = [];
    const provider = memoryProvider();
    const size = protobufBody(await checkoutSpans([{ sku: 'size', qty: 1 }], provider)).length;
    const running = await startCollector({ forward: [`http://127.0.0.1:${port}`], forwardMaxBytes: size * 2.5, forwardRetryMs: FAST_RETRY, log: (m) => logs.push(m) });
    cleanup.push(running.close);
    const expected = await sendRequests(running.url, 5);
    // Nothing sent: every payload is queued or dropped, and what is queued fits under the cap.
    await expect
      .poll(() => {
        const { queued, dropped, queuedBytes } = running.collector.forwarder.health()[0]!;
        return dropped > 0 && queued + dropped === 5 && queuedBytes <= size * 2.5;
      })
      .toBe(true);
    expect(logs.some((line) => /oldest payload\(s\) dropped, the outbox was over its \d+ bytes/.test(line))).toBe(true);
    // What is left is the newest, and it arrives once the destination is up.
    const receiver = await startReceiver({ port });
    cleanup.push(receiver.close);
    await expect.poll(() => running.collector.forwarder.health()[0]!.queued, { timeout: 20_000 }).toBe(0);
    const arrived = spanIdsOf(receiver.requests);
    expect(arrived.length).toBeGreaterThan(0);
    expect(expected.slice(-arrived.length).sort()).toEqual([...arrived].sort());
  });
});
