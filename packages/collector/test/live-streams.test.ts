import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { createServer, get, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createCollector } from '../src/app.js';
import { LIST_TEXT_LENGTH } from '../src/contract/records.js';
import { openApiDocument } from '../src/routes/openapi.js';
import { FELL_BEHIND } from '../src/routes/live-streams.js';
import { NOT_OF_THIS_HISTORY } from '../src/routes/stream.js';
import type { ExecutionListItem } from '../src/records/types.js';
import { getJson, startCollector } from './support/collector.js';
import { openStream, seqOf, type SseEvent } from './support/sse.js';

/**
 * GET /api/stream against slow and many clients (issue 20): a client that does not read is
 * dropped with a `reset` event once it is a bounded number of bytes behind, streams past the cap
 * are refused, list rows carry clipped text, and event ids name their database's history.
 */

const running: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const each of running.splice(0)) await each.close();
});

async function collector(options: Parameters<typeof startCollector>[0] = {}) {
  const started = await startCollector(options);
  running.push(started);
  return started;
}

let traceCounter = 0;
/** OTLP/JSON of finished executions that failed with `message`, one root span each. */
function failedExecutions(count: number, message: string, flowName = 'bulk') {
  const now = BigInt(Date.now()) * 1_000_000n;
  const spans = Array.from({ length: count }, () => {
    const n = ++traceCounter;
    return {
      traceId: n.toString(16).padStart(32, '0'),
      spanId: n.toString(16).padStart(16, '0'),
      name: `flow ${flowName}`,
      kind: 1,
      startTimeUnixNano: String(now),
      endTimeUnixNano: String(now + 1_000_000n),
      attributes: [
        { key: 'flowtrace.execution.id', value: { stringValue: `run-${n}` } },
        { key: 'flowtrace.execution.root', value: { boolValue: true } },
        { key: 'flowtrace.flow.name', value: { stringValue: flowName } },
        { key: 'flowtrace.flow.id', value: { stringValue: 'bulk' } },
        { key: 'flowtrace.input', value: { stringValue: JSON.stringify({ note: message.slice(0, 500) }) } },
      ],
      status: { code: 2, message },
    };
  });
  return {
    ids: spans.map((s) => s.attributes[0]!.value.stringValue!),
    body: JSON.stringify({
      resourceSpans: [
        { resource: { attributes: [{ key: 'service.name', value: { stringValue: 'bulk' } }] }, scopeSpans: [{ scope: { name: 't' }, spans }] },
      ],
    }),
  };
}

async function post(url: string, body: string): Promise<void> {
  const response = await fetch(`${url}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  expect(response.status).toBe(200);
}

const health = async (url: string) => (await getJson(`${url}/healthz`)).body.streams as { open: number; dropped: number; refused: number; queuedBytes: number };

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`still ${JSON.stringify(value)} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A stream over the Unix socket `socketPath` whose reader takes only what it asks for with `take`, or everything after `drain`. */
function heldStream(socketPath: string) {
  return new Promise<{ response: IncomingMessage; text: () => string; take(): void; drain(): Promise<void> }>((resolve, reject) => {
    const request = get({ socketPath, path: '/api/stream', agent: false, headers: { accept: 'text/event-stream' } }, (response) => {
      response.pause();
      response.on('error', () => {});
      let text = '';
      const ended = new Promise<void>((done) => response.on('close', done));
      resolve({
        response,
        text: () => text,
        take() {
          const chunk = response.read() as Buffer | null;
          if (chunk) text += chunk.toString();
        },
        async drain() {
          response.on('data', (chunk: Buffer) => (text += chunk.toString()));
          response.resume();
          await ended;
        },
      });
    });
    request.on('error', reject);
  });
}

describe('slow readers', () => {
  it('drops clients that fall behind with a reset event, keeping what streams hold bounded, while a reading client gets every change', async () => {
    const bufferBytes = 256 * 1024;
    const { url, dir, collector: c } = await collector({ maxStreams: 400, streamBufferBytes: bufferBytes });
    const reader = await openStream(`${url}/api/stream`);
    // The laggards reach the collector's own handler through a Unix socket: on loopback TCP the
    // kernel takes about 4 MB of a connection nobody reads before the collector sees it back up
    // (1.2 GB for 300); a Unix socket takes about 200 KB.
    const socketPath = join(dir, 'streams.sock');
    const local = createServer(c.app.callback()).listen(socketPath);
    await once(local, 'listening');
    const laggards = await Promise.all(Array.from({ length: 300 }, () => heldStream(socketPath)));
    // A few read, slowly: they fall behind but are seen to be alive, so they get their reset event.
    const slow = laggards.slice(0, 3);
    const trickle = setInterval(() => slow.forEach((s) => s.take()), 250);
    await until(() => health(url), (h) => h.open === 301);

    // 40 requests of 50 failed executions with 3 KB messages: about 70 KB of events per request.
    const batches = Array.from({ length: 40 }, () => failedExecutions(50, 'e'.repeat(3000)));
    let peak = 0;
    for (const batch of batches) {
      await post(url, batch.body);
      const now = await health(url);
      peak = Math.max(peak, now.queuedBytes);
    }
    const after = await until(() => health(url), (h) => h.dropped === 300);
    // Each stream holds at most its bound plus the one batch of events it was last sent.
    expect(peak).toBeLessThan(after.open * (bufferBytes + 128 * 1024));
    clearInterval(trickle);

    // The reader saw every change, in order, none missing, and was never reset.
    const last = await c.engine.lastSeq();
    await reader.next((e) => seqOf(e.id) === last, 20_000);
    const seqs = reader.events.map((e) => seqOf(e.id));
    expect(reader.events.every((e) => e.event === 'execution')).toBe(true);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => seqs[0]! + i));
    const seen = new Set(reader.events.map((e) => (JSON.parse(e.data) as ExecutionListItem).id));
    for (const batch of batches) for (const id of batch.ids) expect(seen.has(id)).toBe(true);

    // The slow ones read what was queued for them, then the reset event, then the stream ends.
    for (const stream of slow) {
      await stream.drain();
      const events = stream.text().split('\n\n').filter((block) => block.includes('event: '));
      expect(events.at(-1)).toMatch(new RegExp(`^id: [0-9a-f]{16}-\\d+\nevent: reset\ndata: ${JSON.stringify({ reason: FELL_BEHIND }).replace(/[{}]/g, '\\$&')}$`));
      expect(events.slice(0, -1).every((block) => block.includes('event: execution'))).toBe(true);
    }
    // Those that never read are disconnected, giving back their descriptors.
    const settled = await until(() => health(url), (h) => h.open === 1);
    expect(settled.queuedBytes).toBeLessThan(bufferBytes);
    reader.close();
    local.closeAllConnections();
    local.close();
  }, 120_000);
});

describe('the cap on streams', () => {
  it('answers 503 with Retry-After and a message past maxStreams, and takes new streams once one closes', async () => {
    const { url } = await collector({ maxStreams: 3 });
    const open = await Promise.all(Array.from({ length: 3 }, () => openStream(`${url}/api/stream`)));
    const refused = await fetch(`${url}/api/stream`);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('10');
    expect(await refused.json()).toEqual({
      error: 'unavailable',
      message: 'the collector already serves 3 live streams, its limit: retry in a few seconds, or close Usage tabs no one watches',
    });
    expect(await health(url)).toMatchObject({ open: 3, refused: 1 });
    open[0]!.close();
    await until(() => health(url), (h) => h.open === 2);
    const again = await openStream(`${url}/api/stream`);
    expect(again.response.status).toBe(200);
    for (const stream of [...open, again]) stream.close();
  });
});

describe('clipped text in list rows', () => {
  it('cuts a 1 MB error message and a long flow name in the list and the live event, and keeps them whole in the detail', async () => {
    const { url } = await collector();
    const stream = await openStream(`${url}/api/stream`);
    const message = `boom: ${'x'.repeat(1024 * 1024)}`;
    const { ids, body } = failedExecutions(1, message, `flow-${'n'.repeat(180)}`);
    await post(url, body);
    const event = await stream.next((e) => e.event === 'execution');
    const live = JSON.parse(event.data) as ExecutionListItem;
    const [listed] = (await getJson(`${url}/api/flows/bulk/executions`)).body.items as ExecutionListItem[];
    expect(listed).toEqual(live);
    expect(event.data.length).toBeLessThan(4096);
    expect(live.errorMessage).toBe(`${message.slice(0, LIST_TEXT_LENGTH.errorMessage - 1)}…`);
    expect(live.flowName).toBe(`flow-${'n'.repeat(LIST_TEXT_LENGTH.name - 6)}…`);
    expect(live.preview.length).toBeLessThanOrEqual(LIST_TEXT_LENGTH.preview);
    const detail = (await getJson(`${url}/api/executions/${ids[0]}`)).body;
    expect(detail.errorInfo.message).toBe(message);
    expect(detail.flowName).toBe(`flow-${'n'.repeat(180)}`);
    // The OpenAPI document states the lengths.
    const schema = (openApiDocument as any).components.schemas.ExecutionListItem.properties;
    expect(schema.errorMessage.maxLength).toBe(LIST_TEXT_LENGTH.errorMessage);
    expect(schema.flowName.maxLength).toBe(LIST_TEXT_LENGTH.name);
    stream.close();
  });
});

describe('event ids across a database reset', () => {
  it('resumes on the same database after a restart, and resets an id of the database it replaced or a plain number', async () => {
    // Closed and reopened by hand; its directory removed at the end.
    const first = await startCollector();
    const feed = await openStream(`${first.url}/api/stream`);
    await post(first.url, failedExecutions(3, 'before').body);
    await feed.next(() => feed.events.length === 3);
    feed.close();
    const [firstEvent, , lastEvent] = feed.events as [SseEvent, SseEvent, SseEvent];
    expect(firstEvent.id).toMatch(/^[0-9a-f]{16}-\d+$/);
    await first.collector.close();

    // The same file, reopened: the same history, so the client resumes where it was.
    const reopened = createCollector({ db: first.db, reconcileIntervalMs: 0, log: () => {} });
    let url = await reopened.listen(0, '127.0.0.1');
    const resumed = await openStream(`${url}/api/stream`, { 'last-event-id': firstEvent.id! });
    await resumed.next((e) => e.id === lastEvent.id);
    expect(resumed.events.map((e) => e.event)).toEqual(['execution', 'execution']);
    resumed.close();
    await reopened.close();

    // A new database at the same path numbers its changes from 1 again.
    rmSync(first.db);
    const fresh = createCollector({ db: first.db, reconcileIntervalMs: 0, log: () => {} });
    url = await fresh.listen(0, '127.0.0.1');
    try {
      const history = await fresh.engine.historyId();
      await post(url, failedExecutions(5, 'after').body);
      await until(() => fresh.engine.lastSeq(), (seq) => seq >= seqOf(lastEvent.id));
      for (const id of [firstEvent.id!, String(seqOf(firstEvent.id))]) {
        const stream = await openStream(`${url}/api/stream`, { 'last-event-id': id });
        const reset = await stream.next((e) => e.event === 'reset');
        expect(JSON.parse(reset.data)).toEqual({ reason: NOT_OF_THIS_HISTORY });
        expect(reset.id).toBe(`${history}-${await fresh.engine.lastSeq()}`);
        expect(stream.events.filter((e) => e.event === 'execution')).toEqual([]);
        stream.close();
      }
    } finally {
      await fresh.close();
      rmSync(first.dir, { recursive: true, force: true });
    }
  });
});
