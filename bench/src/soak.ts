import { readFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setMaxListeners } from 'node:events';
import { startTracing } from '@flowtrace/node';
import { createTracingExtension } from '@flowtrace/tracer';
import { createScope, custom, flow } from '@pumped-fn/core-next';
import { startCollectorProcess } from './collector-process.js';

/**
 * `npm run soak`: a steady load for SOAK_SECONDS (default 120) — flows traced with startTracing
 * defaults into a collector process — sampling the collector's resident memory and the tracer's
 * heap. Exits 1 when either grows by more than half between the first sample after warm-up and
 * the last: a leak, not a slow machine, fails it.
 */
const seconds = Number(process.env.SOAK_SECONDS ?? 120);
const rate = Number(process.env.SOAK_RATE ?? 40); // executions per second
setMaxListeners(64);

const order = flow({ name: 'soak', input: custom<{ n: number; payload: string }>(), output: custom<number>() }, async (ctx, input) => {
  const a = await ctx.exec({ key: 'validate', fn: (n: number) => n + 1, params: [input.n] });
  const b = await ctx.exec({ key: 'price', fn: (n: number) => n * 2, params: [a] });
  await ctx.exec({ key: 'reserve', fn: async () => ({ ok: true, payload: input.payload }) });
  return b;
});

const dir = mkdtempSync(join(tmpdir(), 'flowtrace-soak-'));
const collector = await startCollectorProcess(['--db', join(dir, 'soak.db')]);
const tracing = startTracing({ serviceName: 'soak', collectorUrl: collector.url });
const scope = createScope({ extensions: [createTracingExtension()] });
const rss = () => {
  const status = readFileSync(`/proc/${collector.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]) / 1024;
};
const heap = () => {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed / 1024 / 1024;
};

console.log(`soak: ${rate} executions/s for ${seconds} s`);
const samples: Array<{ t: number; rss: number; heap: number; executions: number }> = [];
const start = Date.now();
let executions = 0;
let nextSample = start + 10_000;
while (Date.now() - start < seconds * 1000) {
  const tick = Date.now();
  await Promise.all(Array.from({ length: Math.max(1, Math.round(rate / 10)) }, () => scope.exec({ flow: order, input: { n: executions++, payload: 'x'.repeat(200) } })));
  if (Date.now() >= nextSample) {
    await tracing.forceFlush();
    const sample = { t: Math.round((Date.now() - start) / 1000), rss: rss(), heap: heap(), executions };
    samples.push(sample);
    console.log(`  ${String(sample.t).padStart(4)} s  ${sample.executions} executions  collector RSS ${sample.rss.toFixed(1)} MiB  tracer heap ${sample.heap.toFixed(1)} MiB`);
    nextSample += 10_000;
  }
  await new Promise((r) => setTimeout(r, Math.max(0, 100 - (Date.now() - tick))));
}
await tracing.shutdown();
const stored = (await (await fetch(`${collector.url}/api/flows/soak/executions?limit=1`)).json()) as { total: number };
await collector.stop();
rmSync(dir, { recursive: true, force: true });

// The first sample is the warm-up (caches, JIT, SQLite pages); compare the rest with it.
const first = samples[1] ?? samples[0];
const last = samples.at(-1);
if (!first || !last) throw new Error('the soak ran too briefly to sample');
const growth = { rss: last.rss / first.rss, heap: last.heap / first.heap };
console.log(`stored ${stored.total} of ${executions} executions; collector RSS ×${growth.rss.toFixed(2)}, tracer heap ×${growth.heap.toFixed(2)} from ${first.t} s to ${last.t} s`);
if (stored.total !== executions) {
  console.error('soak: executions were lost');
  process.exit(1);
}
if (growth.rss > 1.5 || growth.heap > 1.5) {
  console.error('soak: memory grew by more than half under a steady load');
  process.exit(1);
}
