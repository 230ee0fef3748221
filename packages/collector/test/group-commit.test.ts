import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createCollector } from '../src/app.js';
import type { StorageEngine } from '../src/store/engine.js';
import { SqliteEngine } from '../src/store/sqlite/engine.js';
import { getJson } from './support/collector.js';
import { checkoutSpans, memoryProvider, protobufBody } from './support/traced.js';

/** The real SQLite engine; once armed, its next write transaction waits until the test lets it go. */
function heldEngine(path: string) {
  const engine = new SqliteEngine({ path });
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const state = { armed: false, held: false };
  const transaction: StorageEngine['transaction'] = async (work) => {
    if (state.armed && !state.held) {
      state.held = true;
      await released;
    }
    return engine.transaction(work);
  };
  return { engine: Object.assign(Object.create(engine) as StorageEngine, { transaction }), release, state };
}

describe('group commit', () => {
  it('writes the requests that arrive during a transaction together in the next, answering each after its commit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flowtrace-group-'));
    const { engine, release, state } = heldEngine(join(dir, 'flowtrace.db'));
    const collector = createCollector({ engine, reconcileIntervalMs: 0, log: () => {} });
    const url = await collector.listen(0);
    const provider = memoryProvider();
    const requests: Array<{ body: Buffer; spans: number }> = [];
    for (const sku of ['first', 'a', 'b', 'c', 'd', 'e']) {
      const spans = await checkoutSpans([{ sku, qty: 1 }], provider);
      requests.push({ body: protobufBody(spans), spans: spans.length });
    }
    const post = async ({ body }: { body: Buffer }) =>
      (await fetch(`${url}/v1/traces`, { method: 'POST', body, headers: { 'content-type': 'application/x-protobuf' } })).status;
    await collector.reconcile(); // the start-up pass has its own transaction
    state.armed = true;
    const first = post(requests[0]!);
    await expect.poll(() => state.held).toBe(true);
    // While the first transaction is held, five more requests arrive and wait for the next one.
    const rest = requests.slice(1).map(post);
    const waiting = requests.slice(1).reduce((sum, r) => sum + r.spans, 0);
    await expect.poll(async () => (await getJson(`${url}/healthz`)).body.ingest.waiting).toBe(waiting);
    expect(collector.stats.accepted).toBe(0);
    release();
    expect(await Promise.all([first, ...rest])).toEqual([200, 200, 200, 200, 200, 200]);
    expect(collector.stats).toMatchObject({ accepted: 6, commits: 2 });
    expect((await getJson(`${url}/api/flows/checkout/executions`)).body.total).toBe(6);
    await collector.close();
    provider.provider.shutdown();
    rmSync(dir, { recursive: true, force: true });
  });
});
