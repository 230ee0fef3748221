import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { createCollector, type CollectorOptions } from '@flowtrace/collector';
import { startTracing } from '@flowtrace/node';
import { createTracingExtension } from '@flowtrace/tracer';
import { createScope, custom, flow } from '@pumped-fn/core-next';

export const BUNDLE = fileURLToPath(new URL('../../dist/bundle/flowtrace-viewer.js', import.meta.url));

export interface Order {
  sku: string;
  qty: number;
  note?: string;
}

const validate = flow({ name: 'validate', input: custom<Order>(), output: custom<{ ok: true }>() }, (_ctx, order) => {
  if (order.qty <= 0) throw new RangeError(`quantity must be positive, got ${order.qty}`);
  return { ok: true as const };
});

export const checkout = flow(
  { name: 'checkout', input: custom<Order>(), output: custom<{ total: number }>() },
  async (ctx, order) => {
    await ctx.exec({ flow: validate, input: order, key: 'validate' });
    const total = await ctx.exec({ fn: (qty: number) => qty * 5, params: [order.qty], key: 'price' });
    await ctx.exec({ fn: async () => ({ reserved: order.qty }), key: 'reserve' });
    return { total };
  },
);

/** A gate a test opens to let a running flow finish. */
export function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

export const waiting = flow({ name: 'waiting', input: custom<{ label: string; until: Promise<void> }>(), output: custom<string>() }, async (ctx, input) => {
  await ctx.exec({ fn: () => input.until, key: 'wait' });
  return `done ${input.label}`;
});

const importChunk = flow({ name: 'import-chunk', input: custom<{ from: number; rows: number }>(), output: custom<number>() }, async (ctx, { from, rows }) => {
  let sum = 0;
  for (let i = from; i < from + rows; i++) sum += await ctx.exec({ fn: (n: number) => n + 1, params: [i], key: `row-${i}` });
  return sum;
});

/** A large execution: `chunks` child flows of `rows` steps each. */
export const bulkImport = flow({ name: 'bulk-import', input: custom<{ chunks: number; rows: number }>(), output: custom<number>() }, async (ctx, { chunks, rows }) => {
  let sum = 0;
  for (let c = 0; c < chunks; c++) sum += await ctx.exec({ flow: importChunk, input: { from: c * rows, rows }, key: `chunk-${c}` });
  return sum;
});

/**
 * The real thing, in process: a collector on loopback with a SQLite file, serving this
 * package's bundle, and the tracer exporting real executions to it.
 */
export async function startStack(options: CollectorOptions = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'flowtrace-viewer-'));
  const collector = createCollector({ db: join(dir, 'flowtrace.db'), viewerBundle: BUNDLE, reconcileIntervalMs: 0, log: () => {}, ...options });
  const url = await collector.listen(0, '127.0.0.1');
  // forceFlush exports every queued batch at once and the OTLP exporter refuses more than 30 in
  // flight: a full queue (the bulk execution, a start notice and a span per step) must fit in 16.
  const tracing = startTracing({
    serviceName: 'shop',
    collectorUrl: url,
    collectorProtocol: 'http/json',
    collectorBatch: { scheduledDelayMillis: 50, maxQueueSize: 65_536, maxExportBatchSize: 4096 },
  });
  const scope = createScope({ extensions: [createTracingExtension()] });
  return {
    url,
    collector,
    tracing,
    scope,
    /** Runs an order through checkout; a failing one is expected to fail. */
    async order(order: Order) {
      await scope.exec({ flow: checkout, input: order }).result.catch(() => {});
    },
    /** Runs one large execution (see {@link bulkImport}). */
    async bulk(chunks: number, rows: number) {
      await scope.exec({ flow: bulkImport, input: { chunks, rows } }).result;
    },
    /**
     * A second service whose spans are held (no start markers, as with a network outage) and
     * sent by a real OTLP exporter only when `deliver` is called: its executions reach the
     * collector after ones that started later.
     */
    heldService() {
      const held = new InMemorySpanExporter();
      const provider = new BasicTracerProvider({
        resource: resourceFromAttributes({ 'service.name': 'shop-offline' }),
        spanProcessors: [new SimpleSpanProcessor(held)],
      });
      const heldScope = createScope({ extensions: [createTracingExtension({ tracer: provider.getTracer('held') })] });
      return {
        scope: heldScope,
        async deliver() {
          const exporter = new OTLPTraceExporter({ url: `${url}/v1/traces` });
          const spans = held.getFinishedSpans();
          await new Promise<void>((resolve, reject) =>
            exporter.export(spans, (result) => (result.code === 0 ? resolve() : reject(result.error ?? new Error('export failed')))),
          );
          await exporter.shutdown();
          await provider.shutdown();
        },
      };
    },
    async flush() {
      await tracing.forceFlush();
    },
    async close() {
      await tracing.shutdown();
      await collector.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
