import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { startCli as startCliWith } from './support/cli.js';
import { checkoutSpans, memoryProvider, protobufBody } from './support/traced.js';

const dir = mkdtempSync(join(tmpdir(), 'flowtrace-crash-'));
const dbPath = join(dir, 'flowtrace.db');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const startCli = () => startCliWith(['--db', dbPath]);

describe('crash safety', () => {
  it('keeps every acknowledged span through repeated SIGKILLs under load, and the database stays sound', async () => {
    const provider = memoryProvider();
    const bodies: Array<{ body: Buffer; spanIds: string[]; executionIds: Set<string> }> = [];
    for (let i = 0; i < 48; i++) {
      const spans = await checkoutSpans(Array.from({ length: 12 }, (_, n) => ({ sku: `K${i}-${n}`, qty: (n % 4) + 1 })), provider);
      bodies.push({
        body: protobufBody(spans),
        spanIds: spans.map((s) => s.spanContext().spanId),
        executionIds: new Set(spans.map((s) => String(s.attributes['flowtrace.execution.id']))),
      });
    }
    await provider.provider.shutdown();

    const acknowledged = new Set<string>();
    const acknowledgedExecutions = new Set<string>();
    let next = 0;
    for (const killAt of [12, 28, 44]) {
      const { child, url } = await startCli();
      let alive = true;
      const sender = async () => {
        while (alive && next < bodies.length) {
          // Kill while the four senders have requests in flight.
          if (next === killAt) {
            child.kill('SIGKILL');
            alive = false;
          }
          const { body, spanIds, executionIds } = bodies[next++]!;
          try {
            const response = await fetch(`${url}/v1/traces`, {
              method: 'POST',
              body,
              headers: { 'content-type': 'application/x-protobuf' },
            });
            if (response.status === 200) {
              for (const id of spanIds) acknowledged.add(id);
              for (const id of executionIds) acknowledgedExecutions.add(id);
            }
          } catch {
            // The process died mid-request: this batch was not acknowledged.
          }
        }
      };
      await Promise.all([sender(), sender(), sender(), sender()]);
      if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
    }
    // Some batches were acknowledged and some were cut off by the kills.
    expect(acknowledged.size).toBeGreaterThan(0);
    expect(acknowledged.size).toBeLessThan(bodies.length * bodies[0]!.spanIds.length);

    const db = new Database(dbPath, { readonly: false });
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    const stored = new Set((db.prepare('SELECT span_id FROM spans').pluck().all() as Buffer[]).map((id) => id.toString('hex')));
    const missing = [...acknowledged].filter((id) => !stored.has(id));
    expect(missing).toEqual([]);
    db.close();

    // A restarted collector serves what it had acknowledged.
    const { child, url } = await startCli();
    for (const id of acknowledgedExecutions) {
      const response = await fetch(`${url}/api/executions/${id}`);
      expect(response.status, id).toBe(200);
    }
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
  }, 60_000);
});
