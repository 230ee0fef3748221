import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startTracing, type TracingHandle } from '../src/index.js';
import { cleanupAfterEach } from './support/cleanup.js';
import { freePort, listExecutions, startCollectorProcess, type CollectorProcess } from './support/collector-process.js';
import { inputsOf, runNumbered } from './support/spooled-flow.js';
import { spoolDiagnostics } from './support/spool-diag.js';
import { until } from './support/until.js';

const seen = spoolDiagnostics();
const cleanup = cleanupAfterEach();

describe('spool: a collector outage longer than the exporter retries', () => {
  it('delivers every execution exactly once after the collector comes back on the same database', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flowtrace-spool-outage-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const db = join(dir, 'flowtrace.db');
    const port = await freePort();
    let collector: CollectorProcess = await startCollectorProcess(db, port);
    cleanup.push(() => collector.stop());
    const tracing: TracingHandle = startTracing({
      serviceName: 'spool-outage',
      serviceInstanceId: 'outage-1',
      collectorUrl: collector.url,
      heartbeatIntervalMs: 0,
      // The exporter's own retries give up after 300 ms: without the spool, an outage drops spans.
      collectorBatch: { exportTimeoutMillis: 300 },
      spool: { dir: join(dir, 'spool') },
    });
    cleanup.push(() => tracing.shutdown());

    let sent = 0;
    let running = true;
    const load = (async () => {
      while (running) {
        await runNumbered(sent++);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    await until(() => sent >= 30);
    await collector.stop();
    const sentWhenStopped = sent;
    const failuresBefore = seen.matching(/spool for collector: sending failed/).length;
    // Three failed attempts, each after the exporter's 300 ms of retries, and steady load meanwhile.
    await until(() => seen.matching(/spool for collector: sending failed/).length >= failuresBefore + 3 && sent - sentWhenStopped >= 100);
    collector = await startCollectorProcess(db, port);
    await until(() => sent - sentWhenStopped >= 150);
    running = false;
    await load;
    await tracing.forceFlush();

    let items: Awaited<ReturnType<typeof listExecutions>> = [];
    await expect
      .poll(async () => (items = await listExecutions(collector.url, 'numbered')).filter((item) => item.status === 'fulfilled').length, {
        timeout: 30_000,
        interval: 200,
      })
      .toBe(sent);
    expect(items).toHaveLength(sent);
    expect(inputsOf(items)).toEqual(Array.from({ length: sent }, (_, n) => n));
    expect(seen.unhandled).toEqual([]);
  }, 90_000);
});
