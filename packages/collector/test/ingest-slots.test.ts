import { describe, expect, it, onTestFinished } from 'vitest';
import { IngestSlots } from '../src/ingest/slots.js';
import { startCollector } from './support/collector.js';
import { history } from './support/history.js';
import { RawClient } from './support/raw-http.js';
import { checkoutSpans, jsonBody } from './support/traced.js';

describe('ingest slots', () => {
  it('a burst of whole bodies against one slot waits its turn: every request is stored, none is turned away', async () => {
    const running = await startCollector({ maxConcurrentIngests: 1 });
    onTestFinished(() => running.close());
    const bodies = await Promise.all(Array.from({ length: 12 }, (_, i) => checkoutSpans([{ sku: `S${i}`, qty: i + 1 }]).then(jsonBody)));
    const clients = await Promise.all(bodies.map(() => RawClient.open(running.url)));
    onTestFinished(() => clients.forEach((raw) => raw.close()));
    // All at once: while the first is decoded and stored, the others have arrived whole.
    await Promise.all(clients.map((raw, i) => raw.post(bodies[i]!.toString())));
    const statuses = (await Promise.all(clients.map((raw) => raw.response()))).map((response) => response.status);
    expect(statuses).toEqual(bodies.map(() => 200));
    expect(running.collector.stats).toMatchObject({ accepted: 12, busy: 0, queued: 0 });
    const list = await history(running.collector).listExecutions({ flowId: 'checkout', page: 1, limit: 20 });
    expect(list.items.map((item) => item.preview).sort()).toEqual(bodies.map((_, i) => `sku: S${i}`).sort());
  });

  it('hands a freed slot to the longest-waiting body, and gives up on a body after the wait', async () => {
    const slots = new IngestSlots(1, 100);
    expect(slots.tryTake()).toBe(true);
    expect(slots.tryTake()).toBe(false);
    const order: string[] = [];
    const first = slots.wait().then((granted) => order.push(`first ${granted}`));
    const second = slots.wait().then((granted) => order.push(`second ${granted}`));
    expect(slots.queued).toBe(2);
    slots.give();
    await first;
    // The slot went to the first waiter; the second gives up after 100 ms with nothing freed.
    await second;
    expect(order).toEqual(['first true', 'second false']);
    expect(slots.queued).toBe(0);
    // A newcomer does not overtake a waiter: the freed slot is handed over, not left free.
    const waiter = slots.wait();
    slots.give();
    expect(slots.tryTake()).toBe(false);
    expect(await waiter).toBe(true);
    slots.give();
    expect(slots.tryTake()).toBe(true);
  });
});
