import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { custom, flow } from '@pumped-fn/core-next';
import { afterAll, describe, expect, it } from 'vitest';
import { getJson, startCollector } from './support/collector.js';
import { postgresForCollectors, stopCollector } from './support/postgres-collectors.js';
import { openStream, seqOf, type SseEvent } from './support/sse.js';
import { checkoutSpans, jsonBody, memoryProvider, protobufBody } from './support/traced.js';

const pg15 = postgresForCollectors();
const provider = memoryProvider('shop', 'instance-a');
afterAll(() => provider.provider.shutdown());

/** Two collector processes on one fresh database. */
async function twoCollectors(...args: string[]) {
  const [a, b] = await pg15.collectors(2, await pg15.server.createDatabase(), ...args);
  return { a: a!.url, b: b!.url, children: [a!.child, b!.child] };
}

/** A deterministic shuffle, so a failure can be replayed. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let state = seed;
  const random = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

async function post(url: string, spans: ReadableSpan[], encoding: 'json' | 'protobuf') {
  const response = await fetch(`${url}/v1/traces`, {
    method: 'POST',
    body: encoding === 'json' ? jsonBody(spans) : protobufBody(spans),
    headers: { 'content-type': encoding === 'json' ? 'application/json' : 'application/x-protobuf' },
  });
  expect(response.status).toBe(200);
}

const executionIdOf = (span: ReadableSpan) => span.attributes['flowtrace.execution.id'] as string | undefined;

describe('several collectors on one PostgreSQL database', () => {
  it('builds from spans split between two collectors in random order the records one collector builds from all of them', async () => {
    const { a, b, children: pair } = await twoCollectors();
    const orders = Array.from({ length: 40 }, (_, i) => ({ sku: `S-${i}`, qty: i % 9 === 0 ? 0 : i + 1 }));
    const spans = await checkoutSpans(orders, provider);
    const reference = await startCollector();
    await post(reference.url, spans, 'protobuf');

    // Random batches to random collectors, four at a time; some batches go to both (a retry
    // that landed on the other collector).
    const order = shuffled(spans, 7);
    const batches: ReadableSpan[][] = [];
    for (let i = 0; i < order.length; ) {
      const size = 1 + ((i * 31) % 7);
      batches.push(order.slice(i, i + size));
      i += size;
    }
    let next = 0;
    const sender = async (lane: number) => {
      while (next < batches.length) {
        const n = next++;
        const batch = batches[n]!;
        const encoding = n % 2 === 0 ? 'json' : 'protobuf';
        await post((n + lane) % 2 === 0 ? a : b, batch, encoding);
        if (n % 5 === 0) await post((n + lane) % 2 === 0 ? b : a, batch, encoding);
      }
    };
    await Promise.all([0, 1, 2, 3].map(sender));

    const ids = [...new Set(spans.flatMap((s) => executionIdOf(s) ?? []))];
    // Executions started in the same millisecond are listed in arrival order, which differs
    // between collectors; everything else is the same.
    const list = async (url: string) => {
      const page = (await getJson(`${url}/api/flows/checkout/executions?limit=100`)).body;
      const starts = page.items.map((item: { startedAt: string }) => Date.parse(item.startedAt));
      expect(starts).toEqual([...starts].sort((x, y) => y - x));
      return { ...page, items: [...page.items].sort((x: { id: string }, y: { id: string }) => x.id.localeCompare(y.id)) };
    };
    const expected = await list(reference.url);
    expect(expected.total).toBe(40);
    expect(await list(a)).toEqual(expected);
    expect(await list(b)).toEqual(expected);
    for (const id of ids) {
      const want = (await getJson(`${reference.url}/api/flows/checkout/executions/${id}`)).body;
      expect((await getJson(`${a}/api/flows/checkout/executions/${id}`)).body).toEqual(want);
      expect((await getJson(`${b}/api/flows/checkout/executions/${id}`)).body).toEqual(want);
    }
    // The flow's last status is that of the newest execution (one of them, on a tie).
    const flows = async (url: string) => {
      const [checkout] = (await getJson(`${url}/api/flows`)).body.items;
      const newest = expected.items.filter((item: { startedAt: string }) => item.startedAt === checkout.lastStartedAt);
      expect(newest.map((item: { status: string }) => item.status)).toContain(checkout.lastStatus);
      return { ...checkout, lastStatus: undefined };
    };
    expect(await flows(b)).toEqual(await flows(reference.url));
    await reference.close();
    await Promise.all(pair.map(stopCollector));
  });

  it('streams to a browser on one collector what another ingested, in one change order that resumes on either', async () => {
    const { a, b, children: pair } = await twoCollectors();
    const onB = await openStream(`${b}/api/stream`);
    const onA = await openStream(`${a}/api/stream`);
    // Concurrent writers on both collectors: commits interleave.
    const runs = await Promise.all(
      Array.from({ length: 12 }, (_, i) => checkoutSpans([{ sku: `L-${i}`, qty: i + 1 }], memoryProvider('shop', `instance-${i}`))),
    );
    await Promise.all(runs.map((spans, i) => post(i % 2 === 0 ? a : b, spans, 'protobuf')));
    const ids = runs.map((spans) => executionIdOf(spans.find((s) => executionIdOf(s))!)!);
    const finished = (stream: { events: SseEvent[] }) => (id: string) =>
      stream.events.some((e) => {
        const item = JSON.parse(e.data);
        return item.id === id && item.status === 'fulfilled';
      });
    for (const id of ids) {
      await onB.next((e) => finished(onB)(id) && JSON.parse(e.data).id === id, 10_000);
      await onA.next((e) => finished(onA)(id) && JSON.parse(e.data).id === id, 10_000);
    }
    // Both streams carry the same numbers, rising, none twice.
    const seqs = (events: SseEvent[]) => events.map((e) => seqOf(e.id));
    for (const stream of [onA, onB]) {
      const numbers = seqs(stream.events);
      expect(numbers).toEqual([...new Set(numbers)].sort((x, y) => x - y));
    }
    // Resuming from the middle, on the other collector, gives every change after that point.
    const middle = onB.events[Math.floor(onB.events.length / 2)]!;
    const resumed = await openStream(`${a}/api/stream`, { 'last-event-id': middle.id! });
    const after = onB.events.filter((e) => seqOf(e.id) > seqOf(middle.id));
    const latest = new Map(after.map((e) => [JSON.parse(e.data).id as string, seqOf(e.id)]));
    await resumed.next(() => resumed.events.length >= latest.size, 10_000);
    expect(new Map(resumed.events.map((e) => [JSON.parse(e.data).id as string, seqOf(e.id)]))).toEqual(latest);
    for (const stream of [onA, onB, resumed]) stream.close();

    // With no stream open, B no longer reads A's changes back; one opened on it later, resuming
    // from its last event, gets what A wrote meanwhile and what A writes next, in order, once.
    const lastSeen = onB.events.at(-1)!;
    const later = await Promise.all(['M-1', 'M-2', 'M-3'].map((sku) => checkoutSpans([{ sku, qty: 1 }], memoryProvider('shop', `instance-${sku}`))));
    for (const spans of later.slice(0, 2)) await post(a, spans, 'protobuf');
    const reopened = await openStream(`${b}/api/stream`, { 'last-event-id': lastSeen.id! });
    await post(a, later[2]!, 'protobuf');
    for (const spans of later) {
      const id = executionIdOf(spans.find((s) => executionIdOf(s))!)!;
      await reopened.next(() => finished(reopened)(id), 10_000);
    }
    const numbers = seqs(reopened.events);
    expect(numbers[0]).toBe(seqOf(lastSeen.id) + 1);
    expect(numbers).toEqual([...new Set(numbers)].sort((x, y) => x - y));
    reopened.close();
    await Promise.all(pair.map(stopCollector));
  });

  it('decides a timeout once, however many collectors reconcile', async () => {
    // A flow that declares no budget, so the collectors' 1 s default applies; only its start
    // markers are sent, as from a process that hangs.
    const quick = flow({ name: 'quick', input: custom<{ n: number }>(), output: custom<number>() }, (_ctx, input) => input.n);
    const { a, b, children: pair } = await twoCollectors('--timeout', '2s');
    const stream = await openStream(`${b}/api/stream?flowId=quick`);
    provider.exporter.reset();
    await Promise.all(Array.from({ length: 20 }, (_, n) => provider.scope.exec({ flow: quick, input: { n } }).result));
    const markers = provider.exporter.getFinishedSpans().filter((s) => s.attributes['flowtrace.marker'] === 'start');
    expect(markers).toHaveLength(20);
    await post(a, markers.slice(0, 10), 'json');
    await post(b, markers.slice(10), 'protobuf');
    const item = (e: SseEvent) => JSON.parse(e.data) as { id: string; status: string; errorKind?: string };
    const timedOut = () => stream.events.filter((e) => item(e).errorKind === 'timeout');
    // Both collectors reconcile every 5 s.
    await stream.next(() => new Set(timedOut().map((e) => item(e).id)).size === 20, 30_000);
    // Those that arrived within their budget were decided by a reconciliation pass (the rest at ingest).
    const firstEvents = new Map<string, SseEvent>();
    for (const e of stream.events) if (!firstEvents.has(item(e).id)) firstEvents.set(item(e).id, e);
    const reconciled = [...firstEvents.values()].filter((e) => item(e).status === 'pending').length;
    const list = (await getJson(`${a}/api/flows/quick/executions?limit=100&status=error`)).body;
    expect(list.total).toBe(20);
    // Each collector runs another pass after that: nothing is decided twice.
    const health = async (url: string) => (await getJson(`${url}/healthz`)).body.reconcile as { passes: number; decided: number };
    const seen = { a: (await health(a)).passes, b: (await health(b)).passes };
    const eventsBefore = stream.events.length;
    await expect.poll(async () => (await health(a)).passes > seen.a && (await health(b)).passes > seen.b, { timeout: 20_000 }).toBe(true);
    expect((await health(a)).decided + (await health(b)).decided).toBe(reconciled);
    expect(timedOut()).toHaveLength(20);
    expect(stream.events.length).toBe(eventsBefore);
    stream.close();
    await Promise.all(pair.map(stopCollector));
  }, 60_000);
});
