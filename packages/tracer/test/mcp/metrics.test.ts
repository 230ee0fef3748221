import { metrics } from '@opentelemetry/api';
import {
  AggregationTemporality,
  DataPointType,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type HistogramMetricData,
} from '@opentelemetry/sdk-metrics';
import { afterAll, describe, expect, it } from 'vitest';
import * as sc from '@flowtrace/semconv';
import { memoryTracing } from '../support/memory-tracing.js';
import { SDKS } from '../support/mcp-sdk.js';
import { agentClient, closeSessions, overHttp, shopServer } from '../support/mcp-shop.js';

memoryTracing();
// A host's MeterProvider, registered globally after the instrumentation is set up in each test.
const reader = new PeriodicExportingMetricReader({
  exporter: new InMemoryMetricExporter(AggregationTemporality.DELTA),
  exportIntervalMillis: 3_600_000,
});
const provider = new MeterProvider({ readers: [reader] });
metrics.disable();
metrics.setGlobalMeterProvider(provider);
afterAll(() => provider.shutdown());

/** Histograms recorded since the last collection, by name. */
async function histograms(): Promise<Map<string, HistogramMetricData>> {
  const { resourceMetrics } = await reader.collect();
  const found = new Map<string, HistogramMetricData>();
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) if (metric.dataPointType === DataPointType.HISTOGRAM) found.set(metric.descriptor.name, metric);
  }
  return found;
}

const CONVENTION_BUCKETS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300];

describe.each(SDKS)('MCP duration metrics, SDK $label', (sdk) => {
  it('records operation durations on both sides and session durations when the session ends', async () => {
    await histograms();
    const session = await overHttp(sdk, shopServer(sdk, { instrument: true }).server, agentClient(sdk, { instrument: true }));
    await session.client.callTool({ name: 'add', arguments: { a: 1, b: 2 } });
    await session.client.callTool({ name: 'refuse', arguments: { password: 'x' } });
    await closeSessions();
    const recorded = await histograms();

    for (const name of [sc.METRIC_MCP_SERVER_OPERATION_DURATION, sc.METRIC_MCP_CLIENT_OPERATION_DURATION]) {
      const metric = recorded.get(name)!;
      expect(metric.descriptor.unit, name).toBe('s');
      const calls = metric.dataPoints.filter((p) => p.attributes[sc.ATTR_MCP_METHOD_NAME] === 'tools/call');
      const add = calls.find((p) => p.attributes[sc.ATTR_GEN_AI_TOOL_NAME] === 'add')!;
      expect(add.value.count, name).toBe(1);
      expect(add.value.buckets.boundaries, name).toEqual(CONVENTION_BUCKETS);
      expect(add.attributes, name).toMatchObject({ [sc.ATTR_NETWORK_TRANSPORT]: 'tcp', [sc.ATTR_GEN_AI_OPERATION_NAME]: 'execute_tool' });
      // Ids and arguments would make one series per call: they stay on spans.
      expect(add.attributes[sc.ATTR_JSONRPC_REQUEST_ID], name).toBeUndefined();
      expect(add.attributes[sc.ATTR_MCP_SESSION_ID], name).toBeUndefined();
      expect(add.attributes[sc.ATTR_GEN_AI_TOOL_CALL_ARGUMENTS], name).toBeUndefined();
      const refuse = calls.find((p) => p.attributes[sc.ATTR_GEN_AI_TOOL_NAME] === 'refuse')!;
      expect(refuse.attributes[sc.ATTR_ERROR_TYPE], name).toBe('tool_error');
      expect(metric.dataPoints.some((p) => p.attributes[sc.ATTR_MCP_METHOD_NAME] === 'initialize'), name).toBe(true);
    }
    for (const name of [sc.METRIC_MCP_SERVER_SESSION_DURATION, sc.METRIC_MCP_CLIENT_SESSION_DURATION]) {
      const points = recorded.get(name)?.dataPoints ?? [];
      expect(points.reduce((sum, p) => sum + p.value.count, 0), name).toBe(1);
      expect(points[0]!.attributes[sc.ATTR_MCP_PROTOCOL_VERSION], name).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    }
  });
});
