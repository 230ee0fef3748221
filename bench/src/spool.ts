import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTracing, type TracingHandle } from '@flowtrace/node';
import { createTracingExtension } from '@flowtrace/tracer';
import { createScope, custom, flow } from '@pumped-fn/core-next';
import { startCollectorProcess } from './collector-process.js';
import { alternate, figure, median, timed, type Bench } from './measure.js';

/** Five keyed steps with a small input and output each: an execution is 6 spans and 6 start markers. */
const steps = flow({ name: 'spool-bench', input: custom<{ n: number }>(), output: custom<number>() }, async (ctx, { n }) => {
  let value = n;
  for (let i = 0; i < 5; i++) value = await ctx.exec({ key: `step-${i}`, fn: (x: number) => x + 1, params: [value] });
  return value;
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function storedCount(url: string): Promise<number> {
  const response = await fetch(`${url}/api/flows/spool-bench/executions?limit=1&status=fulfilled`);
  return response.ok ? ((await response.json()) as { total: number }).total : 0;
}

async function untilStored(url: string, count: number): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (let stored = 0; (stored = await storedCount(url)) < count; ) {
    if (Date.now() > deadline) throw new Error(`the collector lists ${stored} of ${count} executions after 2 minutes: spans were lost`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function traced(handle: TracingHandle): ReturnType<typeof createScope> {
  return createScope({ extensions: [createTracingExtension({ tracer: handle.provider.getTracer('spool-bench') })] });
}

/**
 * The spool's cost while the collector is up (spool off, on with an fsync per batch, on without
 * fsync; the real exporter to a live collector process), and how fast a spool drains after an
 * outage, against the same executions exported live.
 */
export const spoolBench: Bench = async ({ smoke, log }) => {
  const dir = mkdtempSync(join(tmpdir(), 'flowtrace-bench-spool-'));
  try {
    const overhead = await overheadScenario(dir, smoke, log);
    const drain = await drainScenario(dir, smoke, log);
    const m = (samples: Record<string, number[]>, name: string) => median(samples[name]!);
    return {
      bench: 'spool',
      smoke,
      figures: [
        figure('spool on (fsync per batch): flows', m(overhead.wall, 'fsync'), 'ms/exec', { name: 'spool off', value: m(overhead.wall, 'off') }, 'ratio within noise (≤ 1.05)'),
        figure('spool on (fsync per batch): process CPU', m(overhead.cpu, 'fsync'), 'ms/exec', { name: 'spool off', value: m(overhead.cpu, 'off') }),
        figure('spool on (no fsync): flows', m(overhead.wall, 'noFsync'), 'ms/exec', { name: 'spool off', value: m(overhead.wall, 'off') }),
        figure('spool on (no fsync): process CPU', m(overhead.cpu, 'noFsync'), 'ms/exec', { name: 'spool off', value: m(overhead.cpu, 'off') }),
        figure(`drain after an outage (${drain.executions} executions)`, drain.drainRate, 'exec/s', { name: 'same executions exported live', value: drain.liveRate }, 'ratio ≥ 1 (catches up faster than it fell behind)'),
      ],
      samples: { ...prefixed('wall', overhead.wall), ...prefixed('cpu', overhead.cpu), drainMs: [drain.drainMs], liveMs: [drain.liveMs] },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

function prefixed(prefix: string, samples: Record<string, number[]>): Record<string, number[]> {
  return Object.fromEntries(Object.entries(samples).map(([name, values]) => [`${prefix}.${name}`, values]));
}

async function overheadScenario(dir: string, smoke: boolean, log: (message: string) => void) {
  const collector = await startCollectorProcess(['--db', join(dir, 'overhead.db')]);
  const common = { serviceName: 'spool-bench', collectorUrl: collector.url, exporters: [], heartbeatIntervalMs: 0 };
  // One registered provider (its context manager serves all three); the others only give tracers.
  const handles = {
    off: startTracing({ ...common, serviceInstanceId: 'off' }),
    fsync: startTracing({ ...common, serviceInstanceId: 'fsync', register: false, spool: { dir: join(dir, 'spool-fsync') } }),
    noFsync: startTracing({ ...common, serviceInstanceId: 'no-fsync', register: false, spool: { dir: join(dir, 'spool-no-fsync'), fsync: false } }),
  };
  try {
    const runs = smoke ? 20 : 400;
    const cpu: Record<string, number[]> = { off: [], fsync: [], noFsync: [] };
    const sample = (name: keyof typeof handles) => {
      const scope = traced(handles[name]);
      return async () => {
        const cpuStart = process.cpuUsage();
        // Eight executions at a time, as a service's concurrent requests.
        const ms = await timed(async () => {
          for (let i = 0; i < runs; i += 8) await Promise.all(Array.from({ length: 8 }, (_, j) => scope.exec({ flow: steps, input: { n: i + j } })));
        });
        // Untimed: each variant's exports finish before the next variant's sample starts.
        await handles[name].forceFlush();
        const used = process.cpuUsage(cpuStart);
        cpu[name]!.push((used.user + used.system) / 1000 / runs);
        return ms / runs;
      };
    };
    log(`overhead: 5 steps, 8 concurrent, ${runs} executions per sample, OTLP to a live collector`);
    const wall = await alternate({ off: sample('off'), fsync: sample('fsync'), noFsync: sample('noFsync') }, { rounds: smoke ? 1 : 15, warmup: 1 });
    for (const name of Object.keys(cpu)) cpu[name] = cpu[name]!.slice(-wall[name]!.length);
    return { wall, cpu };
  } finally {
    for (const handle of Object.values(handles)) await handle.shutdown();
    await collector.stop();
  }
}

/**
 * Live: executions run with the collector up and the spool off, timed from the first start until
 * the collector lists them all. Drain: the same number run while the collector is down (spooled),
 * then the collector starts; timed from its start until it lists them all.
 */
async function drainScenario(dir: string, smoke: boolean, log: (message: string) => void) {
  // Below the live run's limit: 600 × 12 spans fit the collector batch processor's 8,192-span
  // queue (a larger burst without the spool loses spans, and the anchor would never finish).
  const executions = smoke ? 50 : 600;
  const run = async (handle: TracingHandle) => {
    const scope = traced(handle);
    for (let i = 0; i < executions; i += 8) await Promise.all(Array.from({ length: 8 }, (_, j) => scope.exec({ flow: steps, input: { n: i + j } })));
  };
  const common = { serviceName: 'spool-bench-drain', exporters: [], heartbeatIntervalMs: 0 };

  const live = await startCollectorProcess(['--db', join(dir, 'live.db')]);
  const liveHandle = startTracing({ ...common, serviceInstanceId: 'live', collectorUrl: live.url });
  const liveMs = await timed(async () => {
    await run(liveHandle);
    await liveHandle.forceFlush();
    await untilStored(live.url, executions);
  });
  await liveHandle.shutdown();
  await live.stop();

  const port = await freePort();
  const spooled = startTracing({
    ...common,
    serviceInstanceId: 'drain',
    collectorUrl: `http://127.0.0.1:${port}`,
    collectorBatch: { exportTimeoutMillis: 500 },
    spool: { dir: join(dir, 'spool-drain') },
  });
  await run(spooled);
  await spooled.forceFlush();
  log(`drain: ${executions} executions spooled while the collector was down`);
  let drainMs = Number.NaN;
  const collector = await startCollectorProcess(['--db', join(dir, 'drain.db'), '--port', String(port)]);
  try {
    // Flushes make the sender try again at once, rather than at the end of its pause (up to 5 s
    // after an outage this long): what is timed is the drain itself.
    drainMs = await timed(async () => {
      while ((await storedCount(collector.url)) < executions) await spooled.forceFlush();
    });
  } finally {
    await spooled.shutdown();
    await collector.stop();
  }
  return { executions, liveMs, drainMs, liveRate: executions / (liveMs / 1000), drainRate: executions / (drainMs / 1000) };
}
