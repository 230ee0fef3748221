import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonTraceSerializer } from '@opentelemetry/otlp-transformer';
import { startTracing } from '@flowtrace/node';
import { createTracingExtension } from '@flowtrace/tracer';
import { ATTR_MARKER } from '@flowtrace/tracer/semconv';
import { createScope, custom, flow } from '@pumped-fn/core-next';
import { HttpSource } from '@flowtrace/viewer/source';
import type { ExecutionListItem } from '@flowtrace/collector';
import { startCollectorProcess } from './collector-process.js';
import { figure, median, percentile, type Bench, type BenchResult } from './measure.js';
import { copyExecution, templateExecution } from './spans.js';

type Item = ExecutionListItem;

/**
 * How soon a subscriber of /api/stream learns that an execution started and that it ended, with
 * `startTracing` defaults; against the collector's own floor in the same run: one OTLP request
 * posted straight to it and its event coming back.
 */
export const liveBench: Bench = async ({ smoke, log }): Promise<BenchResult> => {
  const dir = mkdtempSync(join(tmpdir(), 'flowtrace-bench-'));
  const collector = await startCollectorProcess(['--db', join(dir, 'live.db')]);
  const tracing = startTracing({ serviceName: 'bench-live', collectorUrl: collector.url });
  const scope = createScope({ extensions: [createTracingExtension()] });
  const work = flow({ name: 'live', input: custom<{ run: string }>(), output: custom<string>() }, async (ctx, input) => {
    await ctx.exec({ key: 'work', fn: () => new Promise((r) => setTimeout(r, 300)) });
    return input.run;
  });
  const stream = subscribe(collector.url, ['live', 'place-order']);
  await stream.ready;
  try {
    const runs = smoke ? 2 : 20;
    log(`${runs} executions`);
    const template = await templateExecution();
    const samples: Record<string, number[]> = { pending: [], fulfilled: [], floor: [] };
    for (let i = 0; i < runs; i++) {
      // Base 36: a 13-digit millisecond timestamp can pass the Luhn check and be redacted as a card.
      const run = `run-${i}-${Date.now().toString(36)}`;
      const started = performance.now();
      const execution = scope.exec({ flow: work, input: { run } });
      await stream.waitFor((item) => item.preview === `run: ${run}` && item.status === 'pending');
      samples.pending!.push(performance.now() - started);
      await execution.result;
      const ended = performance.now();
      await stream.waitFor((item) => item.preview === `run: ${run}` && item.status === 'fulfilled');
      samples.fulfilled!.push(performance.now() - ended);

      // The floor: a finished execution's root span, posted straight to the collector.
      const id = `floor-${i}-${Date.now()}`;
      const root = copyExecution(template, 0, id).filter((s) => s.attributes['flowtrace.execution.root'] === true && s.attributes[ATTR_MARKER] === undefined);
      const body = JsonTraceSerializer.serializeRequest(root)!;
      const posted = performance.now();
      await fetch(`${collector.url}/v1/traces`, { method: 'POST', body: new Uint8Array(body), headers: { 'content-type': 'application/json' } }).then((r) => r.arrayBuffer());
      await stream.waitFor((item) => item.id === id);
      samples.floor!.push(performance.now() - posted);
    }
    const floor = { name: 'collector floor (POST → event)', value: median(samples.floor!) };
    return {
      bench: 'live',
      smoke,
      // Issue 15's goal is on the 95th percentile; with 20 runs that is the second-slowest.
      figures: [
        figure('flow start → pending event, p50', median(samples.pending!), 'ms', floor),
        figure('flow start → pending event, p95', percentile(samples.pending!, 95), 'ms', floor, 'p95 < 100 ms'),
        figure('flow end → fulfilled event, p50', median(samples.fulfilled!), 'ms', floor),
        figure('flow end → fulfilled event, p95', percentile(samples.fulfilled!, 95), 'ms', floor, 'p95 < 100 ms'),
      ],
      samples,
    };
  } finally {
    stream.close();
    await tracing.shutdown();
    await collector.stop();
    rmSync(dir, { recursive: true, force: true });
  }
};

/** Follows the flows' live events with the viewer's own data source, as the Usage tab does. */
function subscribe(collectorUrl: string, flowIds: string[]) {
  const source = new HttpSource({ apiBase: collectorUrl });
  const seen: Item[] = [];
  let wake: (() => void) | undefined;
  const live = new Set<string>();
  let connected: () => void;
  const ready = new Promise<void>((resolve) => (connected = resolve));
  const subscriptions = flowIds.map((flowId) =>
    source.subscribe(flowId, {
      onChange: (item) => {
        seen.push(item);
        wake?.();
      },
      onState: (state) => {
        if (state === 'live') live.add(flowId);
        if (live.size === flowIds.length) connected();
      },
    }),
  );
  return {
    ready,
    async waitFor(match: (item: Item) => boolean, timeoutMs = 10_000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (!seen.some(match)) {
        if (Date.now() > deadline) throw new Error('the expected event did not arrive');
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 50);
        });
      }
    },
    close: () => subscriptions.forEach((s) => s.close()),
  };
}
