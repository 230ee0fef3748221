import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startCollectorProcess } from './collector-process.js';
import { BEFORE_ISSUE_13, health, servesIssue13Api, timedGet, usable } from './http-api.js';
import { figure, median, unavailable, type Bench, type BenchResult, type Figure } from './measure.js';
import { sendBodies } from './send.js';
import { stallFile, type StallMark } from './stall-file.js';
import { batchBodies, syntheticExecution, templateExecution, templateParts, type StepShape } from './spans.js';

const SPANS_PER_REQUEST = 512;

/**
 * One huge execution (50,000 steps): does the collector stay responsive while it takes it in,
 * what does it cost on disk per step, and how fast is its detail read in pages? Issue 13 asks
 * that no single request stall the event loop, since every other client (live streams, the
 * Usage tab, other exporters) waits behind it.
 */
export const bigExecutionBench: Bench = async ({ smoke, log }): Promise<BenchResult> => {
  const steps = smoke ? 2_000 : 50_000;
  const parts = templateParts(await templateExecution());
  const executionId = `big-${Date.now()}`;
  const startMs = Date.now() - 60_000;
  // Serialised before the collector starts, so the bench's own event loop is idle while it
  // sends and polls /healthz (a busy bench would inflate the latencies it reads).
  const bodies = [
    ...batchBodies(
      syntheticExecution(parts, { executionId, flowId: 'big-import', startMs, params: { file: 'orders-2026-11.csv', lines: steps }, steps: bigSteps(steps), result: { imported: steps } }),
      SPANS_PER_REQUEST,
      'protobuf',
    ),
  ];
  const spans = steps + 2;
  const wire = { name: 'span wire size (protobuf)', value: bodies.reduce((s, b) => s + b.byteLength, 0) / spans };
  log(`${steps} steps in ${bodies.length} protobuf requests of ${SPANS_PER_REQUEST} spans, root last`);

  const dir = mkdtempSync(join(tmpdir(), 'flowtrace-bench-'));
  const db = join(dir, 'big.db');
  const collector = await startCollectorProcess(
    ['--db', db, '--timeout', '1h', '--max-body', String(64 * 1024 * 1024)],
    ['--import', new URL('./stall-probe.js', import.meta.url).href],
  );
  const figures: Figure[] = [];
  const samples: Record<string, number[]> = {};
  try {
    const url = collector.url;
    const issue13Api = await servesIssue13Api(url);
    const stallBefore = (await health(url)).eventLoop?.maxMs;
    await markStall(collector.pid, 1);
    const wcharBefore = collector.wcharBytes();
    const outputBefore = collector.outputBytes();

    // /healthz polled from outside during the ingest: the stall as any client sees it, on
    // either side of the merge (eventLoop.maxMs is the collector's own, exact figure).
    let ingesting = true;
    const duringIngest: number[] = [];
    const poller = (async () => {
      while (ingesting) {
        duringIngest.push((await timedGet(`${url}/healthz`)).ms);
        await sleep(10);
      }
    })();
    // One sender, so the requests arrive strictly in start order with the root span last, as
    // one process's exporter sends a long execution.
    const sent = await sendBodies(url, bodies, 'protobuf', 1);
    // As the ingest bench counts them: every write(2) less the HTTP responses and log output.
    const written = (collector.wcharBytes() - wcharBefore - sent.responseBytes - (collector.outputBytes() - outputBefore)) / spans;
    const stall = (await markStall(collector.pid, 2)).maxMs;
    ingesting = false;
    await poller;
    const sinceListening = (await health(url)).eventLoop?.maxMs;
    log(`ingested in ${sent.seconds.toFixed(1)} s; stall during it ${stall.toFixed(1)} ms; eventLoop.maxMs since listening: before ingest ${stallBefore ?? 'n/a'}, after ${sinceListening ?? 'n/a'}`);
    const diskPerStep = (size(db) + size(`${db}-wal`) + size(`${db}-journal`)) / steps;

    const detailPath = `/api/executions/${executionId}`;
    await markStall(collector.pid, 3);
    const cold = await timedGet(`${url}${detailPath}`);
    usable(cold, detailPath, { issue13Route: false, issue13Api });
    // The first read orders all the steps: other clients must not wait on it either.
    const coldStall = (await markStall(collector.pid, 4)).maxMs;
    const nodesNext = checkDetail(cold.body, steps);
    // Above 1,000 nodes the detail holds the first 1,000 and a cursor; up to that the record is
    // whole, and the first page of /nodes stands in for "a further page".
    const pagePath = nodesNext ? `/api/executions/${executionId}/nodes?cursor=${encodeURIComponent(nodesNext)}` : `/api/executions/${executionId}/nodes?limit=1000`;

    const rounds = smoke ? 3 : 15;
    const healthz: number[] = [];
    const detail: number[] = [];
    const page: number[] = [];
    let pages = true;
    for (let round = 0; round < rounds; round++) {
      healthz.push((await timedGet(`${url}/healthz`)).ms);
      const d = await timedGet(`${url}${detailPath}`);
      usable(d, detailPath, { issue13Route: false, issue13Api });
      detail.push(d.ms);
      if (pages) {
        const p = await timedGet(`${url}${pagePath}`);
        pages = usable(p, pagePath, { issue13Route: true, issue13Api });
        if (pages) {
          checkPage(p.body, steps);
          page.push(p.ms);
        }
      }
    }
    const anchor = { name: 'healthz p50', value: median(healthz) };
    Object.assign(samples, { healthz, detail, page, healthzDuringIngest: duringIngest, detailCold: [cold.ms] });

    figures.push(figure('collector event-loop stall, max, during ingest (in process)', stall, 'ms', undefined, '≤ 20 ms'));
    figures.push(
      sinceListening === undefined
        ? unavailable('/healthz eventLoop.maxMs since listening', 'ms', `${BEFORE_ISSUE_13}: no eventLoop in /healthz`)
        : figure('/healthz eventLoop.maxMs since listening (start-up included)', sinceListening, 'ms'),
    );
    figures.push(figure('/healthz latency during ingest, max', Math.max(...duringIngest), 'ms', anchor));
    figures.push(figure('ingest of the execution', spans / sent.seconds, 'spans/s'));
    figures.push(figure('bytes written per step (db file + journal)', written, 'B', wire));
    figures.push(figure('db file per step', diskPerStep, 'B', wire));
    figures.push(figure('first detail page, cold (first read)', cold.ms, 'ms', anchor));
    figures.push(figure('  collector event-loop stall, max, during that read', coldStall, 'ms', undefined, '≤ 20 ms'));
    figures.push(figure('first detail page, p50', median(detail), 'ms', anchor));
    figures.push(
      page.length > 0
        ? figure(nodesNext ? 'one further page of 1,000 nodes, p50' : 'nodes page from start (record whole), p50', median(page), 'ms', anchor)
        : unavailable('one further page of nodes, p50', 'ms', `${BEFORE_ISSUE_13}: no /nodes route`),
    );
    figures.push(figure('collector peak RSS', collector.peakRssMiB(), 'MiB'));
    return { bench: 'big', smoke, figures, samples };
  } finally {
    await collector.stop();
    rmSync(dir, { recursive: true, force: true });
    rmSync(stallFile(collector.pid), { force: true });
  }
};

/** Realistic small steps: one order line each, its input and its result. */
function* bigSteps(count: number): Generator<StepShape> {
  for (let i = 0; i < count; i++) {
    const qty = (i % 5) + 1;
    yield { key: `line-${i}`, input: [{ line: i, sku: `sku-${i % 1000}`, qty }], output: { ok: true, reserved: qty, warehouse: 'eu-west-1' }, durationMs: 0.04 };
  }
}

/** The detail must be the execution just sent: whole, or its first 1,000 nodes and a cursor. Returns the cursor. */
function checkDetail(body: unknown, steps: number): string | undefined {
  const record = body as { nodes?: unknown[]; nodeCount?: number; nodesNext?: string };
  const nodes = record.nodes?.length ?? 0;
  const whole = record.nodesNext === undefined;
  if ((whole && nodes !== steps) || (!whole && nodes !== 1_000) || (record.nodeCount !== undefined && record.nodeCount !== steps)) {
    throw new Error(`the detail holds ${nodes} nodes (nodeCount ${record.nodeCount}, nodesNext ${record.nodesNext ?? 'absent'}); expected ${steps} steps`);
  }
  return record.nodesNext;
}

function checkPage(body: unknown, steps: number): void {
  const page = body as { items?: unknown[]; total?: number };
  if (!page.items || page.items.length === 0 || page.total !== steps) throw new Error(`a nodes page held ${page.items?.length} items of total ${page.total}; expected ${steps}`);
}

/**
 * Signals the collector's stall probe and waits for its mark: the longest event-loop delay
 * since the previous mark (the first mark starts the count).
 */
async function markStall(pid: number, marks: number): Promise<StallMark> {
  process.kill(pid, 'SIGUSR2');
  for (;;) {
    const file = stallFile(pid);
    const mark = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as StallMark) : undefined;
    if (mark?.marks === marks) return mark;
    await sleep(5);
  }
}

function size(path: string): number {
  return existsSync(path) ? statSync(path).size : 0;
}
