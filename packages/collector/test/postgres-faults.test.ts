import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { getJson } from './support/collector.js';
import { postgresForCollectors, stopCollector } from './support/postgres-collectors.js';
import { checkoutSpans, memoryProvider, protobufBody } from './support/traced.js';

const pg15 = postgresForCollectors();
const provider = memoryProvider('shop', 'instance-f');
afterAll(() => provider.provider.shutdown());

interface Batch {
  body: Buffer;
  spanIds: string[];
}

async function batches(count: number): Promise<Batch[]> {
  const out: Batch[] = [];
  for (let i = 0; i < count; i++) {
    const spans = await checkoutSpans(Array.from({ length: 6 }, (_, n) => ({ sku: `F${i}-${n}`, qty: n + 1 })), provider);
    out.push({ body: protobufBody(spans), spanIds: spans.map((s) => s.spanContext().spanId) });
  }
  return out;
}

async function storedSpanIds(url: string): Promise<Set<string>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const { rows } = await client.query<{ id: string }>(`SELECT encode(span_id, 'hex') AS id FROM spans`);
  await client.end();
  return new Set(rows.map((row) => row.id));
}

/** Posts like an OTLP exporter: a 503 or a lost connection is retried, a 200 is acknowledged. */
async function send(targets: () => string[], batch: Batch, seen: { unavailable: number; retryAfter: boolean }): Promise<void> {
  for (let attempt = 0; attempt < 400; attempt++) {
    const url = targets()[attempt % targets().length]!;
    try {
      const response = await fetch(`${url}/v1/traces`, { method: 'POST', body: batch.body, headers: { 'content-type': 'application/x-protobuf' } });
      await response.arrayBuffer();
      if (response.status === 200) return;
      expect(response.status).toBe(503);
      seen.unavailable++;
      if (response.headers.get('retry-after')) seen.retryAfter = true;
    } catch {
      // The collector went away mid-request: not acknowledged, so sent again.
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('a batch was never acknowledged');
}

describe('faults with PostgreSQL', () => {
  it('answers 503 with Retry-After while PostgreSQL restarts, reconnects by itself and loses nothing it acknowledged', async () => {
    const db = await pg15.server.createDatabase();
    const pair = await pg15.collectors(2, db, '--db-connect-timeout', '1s');
    const urls = pair.map((p) => p.url);
    const work = await batches(40);
    const seen = { unavailable: 0, retryAfter: false };
    const acknowledged = new Set<string>();
    let next = 0;
    let restarted: Promise<unknown> | undefined;
    const sender = async () => {
      while (next < work.length) {
        const n = next++;
        if (n === 12) {
          // Down mid-ingest, and up again once the collectors were seen refusing.
          await pg15.server.stop('fast');
          restarted = (async () => {
            await expect.poll(() => seen.unavailable, { timeout: 20_000 }).toBeGreaterThan(0);
            const read = await getJson(`${urls[0]}/api/flows`);
            expect(read.status).toBe(503);
            expect(read.body.message).toMatch(/PostgreSQL database cannot be reached/);
            await pg15.server.start();
          })();
        }
        await send(() => urls, work[n]!, seen);
        for (const id of work[n]!.spanIds) acknowledged.add(id);
      }
    };
    await Promise.all([sender(), sender(), sender()]);
    await restarted;
    expect(seen.unavailable).toBeGreaterThan(0);
    expect(seen.retryAfter).toBe(true);
    const stored = await storedSpanIds(db);
    expect([...acknowledged].filter((id) => !stored.has(id))).toEqual([]);
    // Both serve again without a restart of their own.
    for (const url of urls) {
      const flows = await getJson(`${url}/api/flows`);
      expect(flows.status).toBe(200);
      expect(flows.body.items[0].executionCount).toBe(40 * 6);
    }
    await Promise.all(pair.map(({ child }) => stopCollector(child)));
  }, 90_000);

  it('loses nothing acknowledged when one collector is killed mid-ingest; the other keeps serving', async () => {
    const db = await pg15.server.createDatabase();
    const pair = await pg15.collectors(2, db);
    const [victim, survivor] = pair;
    let alive = [victim!.url, survivor!.url];
    const work = await batches(30);
    const seen = { unavailable: 0, retryAfter: false };
    const acknowledged = new Set<string>();
    let next = 0;
    const sender = async () => {
      while (next < work.length) {
        const n = next++;
        if (n === 10) {
          victim!.child.kill('SIGKILL');
          // A load balancer takes it out once its connections fail.
          victim!.child.once('exit', () => (alive = [survivor!.url]));
        }
        await send(() => alive, work[n]!, seen);
        for (const id of work[n]!.spanIds) acknowledged.add(id);
      }
    };
    await Promise.all([sender(), sender(), sender(), sender()]);
    const stored = await storedSpanIds(db);
    expect([...acknowledged].filter((id) => !stored.has(id))).toEqual([]);
    expect(acknowledged.size).toBe(work.reduce((n, b) => n + b.spanIds.length, 0));
    const flows = await getJson(`${survivor!.url}/api/flows`);
    expect(flows.body.items[0].executionCount).toBe(30 * 6);
    await stopCollector(survivor!.child);
  }, 90_000);
});
