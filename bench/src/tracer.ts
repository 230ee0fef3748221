import { setMaxListeners } from 'node:events';
import { context, propagation, trace, type Tracer } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import { BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { captureJson, createRedactor, createTracingExtension } from '@flowtrace/tracer';
import { createScope, custom, flow, type Extension } from '@pumped-fn/core-next';
import { alternate, figure, median, timed, type Bench, type BenchResult } from './measure.js';
import { order } from './payload.js';
import { realisticScenario } from './tracer-realistic.js';

/**
 * The tracer's cost. Spans go through the SDK's BatchSpanProcessor to an exporter that drops
 * them: what is measured is the work in the application's process, not a network.
 */
class DroppingExporter implements SpanExporter {
  export(_spans: ReadableSpan[], done: (result: { code: ExportResultCode }) => void): void {
    done({ code: ExportResultCode.SUCCESS });
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** The anchor for what a span costs: one active span per operation, nothing else. */
function naiveExtension(tracer: Tracer): Extension.Extension {
  return {
    name: 'naive',
    wrap(_scope, next, operation) {
      if (operation.kind !== 'execution') return next();
      return tracer.startActiveSpan(operation.name, async (span) => {
        try {
          return await next();
        } finally {
          span.end();
        }
      });
    },
  };
}

const child = flow({ name: 'child', input: custom<number>(), output: custom<number>() }, (_ctx, n) => n + 1);

/** 20 trivial steps: 10 child flows and 10 fn steps with params. */
const twenty = flow({ name: 'twenty', input: custom<{ id: string; n: number }>(), output: custom<number>() }, async (ctx, input) => {
  let total = input.n;
  for (let i = 0; i < 10; i++) {
    total = await ctx.exec({ flow: child, input: total, key: `child-${i}` });
    total = await ctx.exec({ fn: (a: number, b: number) => a + b, params: [total, i], key: `add-${i}` });
  }
  return total;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A flow whose 5 steps each wait 1 ms: what a real flow looks like next to the tracer. */
const waiting = flow({ name: 'waiting', input: custom<void>(), output: custom<number>() }, async (ctx) => {
  for (let i = 0; i < 5; i++) await ctx.exec({ fn: () => sleep(1), key: `wait-${i}` });
  return 5;
});

export const tracerBench: Bench = async ({ smoke, log }): Promise<BenchResult> => {
  // core-next adds one abort listener per ctx.exec to the flow's signal; Node warns past 10.
  setMaxListeners(64);
  const provider = new NodeTracerProvider({ spanProcessors: [new BatchSpanProcessor(new DroppingExporter(), { maxQueueSize: 65536 })] });
  trace.disable();
  context.disable();
  propagation.disable();
  provider.register();
  const tracer = provider.getTracer('bench');
  const scopes = {
    untraced: createScope(),
    flowtrace: createScope({ extensions: [createTracingExtension({ tracer })] }),
    naive: createScope({ extensions: [naiveExtension(tracer)] }),
  };
  const input = { id: 'order-1', n: 1 };

  const runs = smoke ? 50 : 2000;
  const perExecution = (scope: (typeof scopes)[keyof typeof scopes]) => async () => {
    const ms = await timed(async () => {
      for (let i = 0; i < runs; i++) await scope.exec({ flow: twenty, input });
    });
    return (ms * 1000) / runs;
  };
  log(`20-step flow: ${runs} executions per sample`);
  const trivial = await alternate(
    { untraced: perExecution(scopes.untraced), flowtrace: perExecution(scopes.flowtrace), naive: perExecution(scopes.naive) },
    { rounds: smoke ? 2 : 9, warmup: 1 },
  );

  const waitRuns = smoke ? 5 : 60;
  const waitingSample = (scope: (typeof scopes)[keyof typeof scopes]) => async () =>
    (await timed(async () => {
      for (let i = 0; i < waitRuns; i++) await scope.exec({ flow: waiting, input: undefined });
    })) / waitRuns;
  log(`1 ms-step flow: ${waitRuns} executions per sample`);
  const slow = await alternate(
    { untraced: waitingSample(scopes.untraced), flowtrace: waitingSample(scopes.flowtrace) },
    { rounds: smoke ? 2 : 15, warmup: 1 },
  );

  const heapRuns = smoke ? 500 : 50_000;
  log(`heap: ${heapRuns} traced executions`);
  const heap = await heapAround(async () => {
    for (let i = 0; i < heapRuns; i++) await scopes.flowtrace.exec({ flow: twenty, input });
  }, provider);

  await provider.shutdown();
  trace.disable();
  context.disable();
  propagation.disable();

  const realistic = await realisticScenario({ smoke, log });
  const capture = await captureCost(smoke, log);

  const m = (s: Record<string, number[]>, name: string) => median(s[name]!);
  return {
    bench: 'tracer',
    smoke,
    figures: [
      figure('20 trivial steps, traced (full data)', m(trivial, 'flowtrace'), 'µs/exec', { name: 'untraced', value: m(trivial, 'untraced') }),
      figure('20 trivial steps, traced (full data)', m(trivial, 'flowtrace'), 'µs/exec', { name: 'naive span-per-op', value: m(trivial, 'naive') }, 'ratio ≤ 1.10'),
      figure('realistic: 20 × (1 ms + 3 KB), OTLP', m(realistic.wall, 'traced'), 'ms/exec', { name: 'untraced', value: m(realistic.wall, 'untraced') }, 'ratio ≤ 1.05'),
      figure('realistic, encoded on the main thread', m(realistic.wall, 'tracedMainThread'), 'ms/exec', { name: 'untraced', value: m(realistic.wall, 'untraced') }),
      figure('realistic, traced without data', m(realistic.wall, 'tracedNoData'), 'ms/exec', { name: 'untraced', value: m(realistic.wall, 'untraced') }),
      figure('realistic, traced, spans dropped (no export)', m(realistic.wall, 'tracedDropped'), 'ms/exec', { name: 'untraced', value: m(realistic.wall, 'untraced') }),
      figure('realistic: process CPU (export included)', m(realistic.cpu, 'traced'), 'ms/exec', { name: 'untraced', value: m(realistic.cpu, 'untraced') }),
      figure('realistic: process CPU, encoded on the main thread', m(realistic.cpu, 'tracedMainThread'), 'ms/exec', { name: 'untraced', value: m(realistic.cpu, 'untraced') }),
      figure('realistic: process CPU, without data', m(realistic.cpu, 'tracedNoData'), 'ms/exec', { name: 'untraced', value: m(realistic.cpu, 'untraced') }),
      figure('realistic: process CPU, spans dropped', m(realistic.cpu, 'tracedDropped'), 'ms/exec', { name: 'untraced', value: m(realistic.cpu, 'untraced') }),
      figure('5 steps of 1 ms, traced', m(slow, 'flowtrace'), 'ms/exec', { name: 'untraced', value: m(slow, 'untraced') }, 'ratio < 1.02 (promise: < 1.10)'),
      figure('capture of a ~3 KB value (redacted, capped)', m(capture, 'capture'), 'µs', { name: 'JSON.stringify of it', value: m(capture, 'stringify') }),
      figure('capture of a ~300 KB value at the 8 KiB cap', m(capture, 'captureBig'), 'µs', { name: 'JSON.stringify of it', value: m(capture, 'stringifyBig') }, 'ratio ≪ 1 (stops at the cap)'),
      figure(`heap after ${heapRuns} traced executions`, heap.after / MiB, 'MiB', { name: 'heap before them', value: heap.before / MiB }, 'ratio ≈ 1 (no leak)'),
    ],
    samples: { ...prefix('trivial.', trivial), ...prefix('waiting.', slow), ...prefix('realistic.', { ...realistic.wall }), ...prefix('realistic-cpu.', { ...realistic.cpu }), ...prefix('capture.', capture) },
  };
};

const MiB = 1024 * 1024;

/**
 * What capturing one value costs (the extension's `captureJson`: one pass, redaction and card
 * scan included, no cache) against `JSON.stringify` of the same value, which does less (no cap,
 * no redaction) and is native code: on realistic ~3 KB orders, and on a ~300 KB one capped at
 * the default 8 KiB.
 */
async function captureCost(smoke: boolean, log: (message: string) => void): Promise<Record<string, number[]>> {
  const values = Array.from({ length: 64 }, (_, i) => order(i));
  const big = { orders: Array.from({ length: 100 }, (_, i) => order(i)) };
  const options = { maxBytes: 8192, redact: createRedactor(undefined) };
  const n = smoke ? 200 : 20_000;
  const perCall = (work: (i: number) => unknown, calls = n) => async () => (await timed(() => {
    for (let i = 0; i < calls; i++) work(i);
  })) * 1000 / calls;
  log(`capture: ${n} values per sample`);
  return alternate(
    {
      capture: perCall((i) => captureJson(values[i & 63], options)),
      stringify: perCall((i) => JSON.stringify(values[i & 63])),
      captureBig: perCall(() => captureJson(big, options), n / 10),
      stringifyBig: perCall(() => JSON.stringify(big), n / 10),
    },
    { rounds: smoke ? 1 : 9, warmup: 1 },
  );
}

/** Heap used before and after `work`, each after a full GC (the runner starts node with --expose-gc). */
async function heapAround(work: () => Promise<void>, provider: NodeTracerProvider): Promise<{ before: number; after: number }> {
  const gc = (globalThis as { gc?: () => void }).gc;
  await provider.forceFlush();
  gc?.();
  const before = process.memoryUsage().heapUsed;
  await work();
  await provider.forceFlush();
  gc?.();
  return { before, after: process.memoryUsage().heapUsed };
}

function prefix(p: string, samples: Record<string, number[]>): Record<string, number[]> {
  return Object.fromEntries(Object.entries(samples).map(([k, v]) => [p + k, v]));
}
