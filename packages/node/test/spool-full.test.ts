import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { metrics } from '@opentelemetry/api';
import { AggregationTemporality, MeterProvider, MetricReader, type SumMetricData } from '@opentelemetry/sdk-metrics';
import { describe, expect, it } from 'vitest';
import { DROPPED_METRIC, startTracing } from '../src/index.js';
import { cleanupAfterEach } from './support/cleanup.js';
import { freePort, listExecutions, startCollectorProcess } from './support/collector-process.js';
import { inputsOf, runNumbered } from './support/spooled-flow.js';
import { spoolDiagnostics } from './support/spool-diag.js';
import { until } from './support/until.js';

/** Collects on demand, as a host's Prometheus endpoint would. */
class OnDemandReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

const seen = spoolDiagnostics();
const cleanup = cleanupAfterEach();

const MAX_BYTES = 64 * 1024;

function spooledBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith('.seg')) total += statSync(join(entry.parentPath, entry.name)).size;
  }
  return total;
}

describe('spool: full while the collector is down', () => {
  it('drops the oldest spans, reports their number through diag and the metric, and the app runs on', async () => {
    const reader = new OnDemandReader();
    const meterProvider = new MeterProvider({ readers: [reader] });
    metrics.setGlobalMeterProvider(meterProvider);
    cleanup.push(async () => {
      metrics.disable();
      await meterProvider.shutdown();
    });
    const dir = mkdtempSync(join(tmpdir(), 'flowtrace-spool-full-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const port = await freePort();
    const tracing = startTracing({
      serviceName: 'spool-full',
      serviceInstanceId: 'full-1',
      collectorUrl: `http://127.0.0.1:${port}`,
      heartbeatIntervalMs: 0,
      collectorBatch: { exportTimeoutMillis: 300 },
      spool: { dir: join(dir, 'spool'), maxBytes: MAX_BYTES },
    });
    cleanup.push(() => tracing.shutdown());

    // Every call returns its own result (runNumbered throws otherwise) while the spool overflows.
    let ran = 0;
    const dropReports = () => seen.matching(/spool for collector dropped \d+ span/);
    while (dropReports().length < 3 && ran < 4000) {
      for (let i = 0; i < 20; i++) await runNumbered(ran++);
      await tracing.forceFlush();
    }
    expect(dropReports().length).toBeGreaterThanOrEqual(3);
    expect(spooledBytes(join(dir, 'spool'))).toBeLessThanOrEqual(MAX_BYTES);

    const reported = dropReports().reduce((sum, message) => sum + Number(/dropped (\d+) span/.exec(message)![1]), 0);
    expect(dropReports()[0]).toMatch(/^warn .*reached maxBytes while the destination was down; the oldest spans were dropped/);
    const { resourceMetrics } = await reader.collect();
    const counter = resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics).find((metric) => metric.descriptor.name === DROPPED_METRIC) as SumMetricData;
    const counted = counter.dataPoints.reduce((sum, point) => sum + point.value, 0);
    expect(counted).toBe(reported);
    expect(counter.dataPoints[0]!.attributes).toEqual({ 'flowtrace.spool.destination': 'collector', 'flowtrace.spool.reason': 'full' });

    // The collector comes up: what is left, the newest executions, arrives.
    const collector = await startCollectorProcess(join(dir, 'flowtrace.db'), port);
    cleanup.push(() => collector.stop());
    await tracing.forceFlush();
    let fulfilled: number[] = [];
    await until(async () => (fulfilled = inputsOf(await listExecutions(collector.url, 'numbered'))).includes(ran - 1));
    await tracing.forceFlush();
    fulfilled = inputsOf(await listExecutions(collector.url, 'numbered'));
    expect(fulfilled).not.toContain(0);
    // A suffix of the runs: at most the execution at the cut lost part of its spans.
    const first = fulfilled[0]!;
    expect(ran - first - fulfilled.length).toBeLessThanOrEqual(1);
    expect(seen.unhandled).toEqual([]);
  }, 90_000);
});
