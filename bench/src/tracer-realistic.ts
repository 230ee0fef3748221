import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExportResultCode } from '@opentelemetry/core';
import { BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { startTracing } from '@flowtrace/node';
import { createTracingExtension } from '@flowtrace/tracer';
import { createScope, custom, flow } from '@pumped-fn/core-next';
import { startCollectorProcess } from './collector-process.js';
import { alternate, timed } from './measure.js';
import { order, type Order } from './payload.js';

const STEPS = 20;
const EVENTS = ['validated', 'priced', 'reserved', 'charged', 'packed'];
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * One step of an order pipeline: it waits on a downstream service (a ~1 ms timer) and returns
 * the order as a new object with its status and history moved on, sharing the unchanged parts —
 * as code written with spreads does. Its ~3 KB output is the next step's input.
 */
async function advance(current: Order, step: number): Promise<Order> {
  await sleep(1);
  const event = EVENTS[step % EVENTS.length]!;
  return {
    ...current,
    status: event,
    updatedAt: current.updatedAt + 1000,
    history: [...current.history.slice(1), { at: new Date(current.updatedAt + 1000).toISOString(), event, by: `svc-step-${step}` }],
  };
}

/** 20 keyed steps, each with a ~3 KB parameter and result. */
const pipeline = flow({ name: 'order-pipeline', input: custom<Order>(), output: custom<Order>() }, async (ctx, input) => {
  let current = input;
  for (let i = 0; i < STEPS; i++) current = await ctx.exec({ key: `step-${i}`, fn: advance, params: [current, i] });
  return current;
});

export type RealisticSamples = Record<'untraced' | 'traced' | 'tracedMainThread' | 'tracedNoData' | 'tracedDropped', number[]>;

/** Ends spans in the SDK's batch processor and sends nothing: what the tracer costs without the export. */
class DroppingExporter implements SpanExporter {
  export(_spans: ReadableSpan[], done: (result: { code: ExportResultCode }) => void): void {
    done({ code: ExportResultCode.SUCCESS });
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * The realistic scenario: the pipeline above, traced with `startTracing` (the OTel SDK's
 * BatchSpanProcessor and OTLP/HTTP protobuf exporter, as users run it) exporting to a live
 * collector process on loopback — so span encoding and sending are part of what is measured —
 * against the same pipeline untraced, in the same process and run.
 *
 * Wall time is the flows' own (what a caller waits); exports run beside them as they would in
 * a service, and what is still queued at a sample's end is flushed before the next one starts,
 * untimed (waiting for the collector to store it is not the flows' latency). The process's CPU
 * time per execution, flush included, says what the tracing costs in all. A fourth variant sends
 * its spans to an exporter that drops them, to tell the tracer's own cost from the export's.
 */
export async function realisticScenario({ smoke, log }: { smoke: boolean; log(message: string): void }): Promise<{ wall: RealisticSamples; cpu: RealisticSamples }> {
  const dir = mkdtempSync(join(tmpdir(), 'flowtrace-bench-tracer-'));
  const collector = await startCollectorProcess(['--db', join(dir, 'tracer.db')]);
  const tracing = startTracing({ serviceName: 'bench-tracer', collectorUrl: collector.url, exporters: [] });
  // The same pipeline with the OTLP encoding on the application's thread, as before the export
  // thread. Not registered: only its scope's extension uses it.
  const mainThread = startTracing({ serviceName: 'bench-tracer-main', collectorUrl: collector.url, exporters: [], exportThread: false, register: false, heartbeatIntervalMs: 0 });
  // Not registered: only the 'tracedDropped' scope's extension uses it (the context manager is
  // startTracing's). Batches leave as often as the collector pipeline's (50 ms): held for the
  // SDK's default 5 s, ~3 KB spans would outlive the young generation and charge the tracer for
  // garbage collection the real pipeline does not do.
  const dropping = new NodeTracerProvider({ spanProcessors: [new BatchSpanProcessor(new DroppingExporter(), { maxQueueSize: 65536, scheduledDelayMillis: 50 })] });
  try {
    const scopes = {
      untraced: createScope(),
      traced: createScope({ extensions: [createTracingExtension()] }),
      tracedMainThread: createScope({ extensions: [createTracingExtension({ tracer: mainThread.provider.getTracer('bench') })] }),
      tracedNoData: createScope({ extensions: [createTracingExtension({ captureData: false })] }),
      tracedDropped: createScope({ extensions: [createTracingExtension({ tracer: dropping.getTracer('bench') })] }),
    };
    const inputs = Array.from({ length: 16 }, (_, i) => order(i));
    const runs = smoke ? 2 : 30;
    const cpu: Record<string, number[]> = { untraced: [], traced: [], tracedMainThread: [], tracedNoData: [], tracedDropped: [] };
    const sample = (name: keyof typeof scopes) => async () => {
      const scope = scopes[name];
      const cpuStart = process.cpuUsage();
      const ms = await timed(async () => {
        for (let i = 0; i < runs; i++) await scope.exec({ flow: pipeline, input: inputs[i % inputs.length]! });
      });
      // Untimed: the spans still queued are sent before the next sample starts, so no export
      // runs during another variant's sample; their CPU is counted in this one's CPU time.
      await tracing.forceFlush();
      await mainThread.forceFlush();
      await dropping.forceFlush();
      const used = process.cpuUsage(cpuStart);
      cpu[name]!.push((used.user + used.system) / 1000 / runs);
      return ms / runs;
    };
    log(`realistic: ${STEPS} steps of ~1 ms with ~3 KB JSON in and out, OTLP to a live collector; ${runs} executions per sample`);
    const samples = await alternate(
      { untraced: sample('untraced'), traced: sample('traced'), tracedMainThread: sample('tracedMainThread'), tracedNoData: sample('tracedNoData'), tracedDropped: sample('tracedDropped') },
      { rounds: smoke ? 1 : 15, warmup: 1 },
    );
    await checkArrived(collector.url, smoke);
    // The warm-up round's CPU samples go, as its times do.
    for (const name of Object.keys(cpu)) cpu[name] = cpu[name]!.slice(-samples[name]!.length);
    return { wall: samples as RealisticSamples, cpu: cpu as RealisticSamples };
  } finally {
    await dropping.shutdown();
    await mainThread.shutdown();
    await tracing.shutdown();
    await collector.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The spans must really have reached the collector: a bench that lost them would flatter the tracer. */
async function checkArrived(collectorUrl: string, smoke: boolean): Promise<void> {
  const response = await fetch(`${collectorUrl}/api/flows/order-pipeline/executions?limit=1`);
  const { items, total } = (await response.json()) as { items: Array<{ id: string; status: string }>; total: number };
  const minimum = smoke ? 4 : 60;
  if (total < minimum || items[0]?.status !== 'fulfilled') throw new Error(`the collector holds ${total} order-pipeline executions (expected at least ${minimum}, the newest fulfilled)`);
  const detail = (await (await fetch(`${collectorUrl}/api/executions/${items[0].id}`)).json()) as { nodes?: unknown[] };
  if ((detail.nodes?.length ?? 0) < STEPS) throw new Error(`the newest execution has ${detail.nodes?.length ?? 0} steps (expected ${STEPS})`);
}
