import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { startCollectorProcess } from './collector-process.js';
import { BEFORE_ISSUE_13, servesIssue13Api, timedGet, usable } from './http-api.js';
import { figure, median, percentile, unavailable, type Bench, type BenchResult, type Figure } from './measure.js';
import { sendBodies } from './send.js';
import { batchBodies, syntheticExecution, templateExecution, templateParts, type StepShape, type TemplateParts } from './spans.js';

const FLOWS = 20;
const STEPS = 5;
const SENDERS = 4;
const SPANS_PER_REQUEST = 512;
const DAY = 86_400_000;
const HISTORY_DAYS = 30;
const PENDING = 100;
const CUSTOMERS = 5_000;
const DEEP_PAGE = 2_000;
const RESULTS = fileURLToPath(new URL('../results/', import.meta.url));

/** What the kept database holds, written beside it once seeding has finished. */
interface Seed {
  executions: number;
  /** Start of the 30 days of history, ms since the epoch (queries are placed relative to it). */
  originMs: number;
  seededAt: string;
  /** The collector's schema (`user_version`) that wrote it: another schema means seed again. */
  schema: number;
  through: string;
}

/**
 * History queries at scale: 1,000,000 executions across 20 flows, read through the HTTP API of
 * a collector process. The store is seeded through the real ingest path — OTLP protobuf
 * requests POSTed to the collector — so it holds exactly what ingest writes (indexes, search
 * index, rollups and all), and is kept under bench/results/ for later runs.
 */
export const queryBench: Bench = async ({ smoke, log }): Promise<BenchResult> => {
  const executions = smoke ? 2_000 : 1_000_000;
  const figures: Figure[] = [];
  const samples: Record<string, number[]> = {};
  const { path, seed, seedRate } = await seededDatabase(executions, log);
  figures.push({ ...figure('stored executions', seed.executions, 'executions'), note: `seeded through ingest: ${seed.through}, on ${seed.seededAt}` });
  // Informational: above ~40k spans/s (2-core machine) the bench's own OTel serialiser, not
  // the collector, sets this pace.
  if (seedRate !== undefined) figures.push({ ...figure('seeding ingest rate (this run)', seedRate, 'spans/s'), note: 'bench-bound above ~40k spans/s' });

  const perFlow = executions / FLOWS;
  const flow = (i: number) => `flow-${String(i % FLOWS).padStart(2, '0')}`;
  const list = (i: number, query: string) => `/api/flows/${flow(i)}/executions?${query}`;
  const middle = seed.originMs + (HISTORY_DAYS / 2) * DAY;
  const historyEnd = seed.originMs + HISTORY_DAYS * DAY;

  // Cold deep page: the first API request a fresh collector process answers is page 2000, no
  // earlier page asked — what a user jumping deep into history after a restart waits for —
  // against page 1 asked the same way (its own fresh process, alternating): the issue asks that
  // the jump cost what page 1 costs.
  const coldRuns = smoke ? 1 : 5;
  const cold: number[] = [];
  const coldFirst: number[] = [];
  const firstRequest = async (query: string) => {
    const fresh = await startCollectorProcess(['--db', path, '--timeout', '100000h']);
    try {
      const answer = await timedGet(`${fresh.url}${query}`);
      usable(answer, query, { issue13Route: false, issue13Api: true });
      return answer.ms;
    } finally {
      await fresh.stop();
    }
  };
  for (let run = 0; run < coldRuns; run++) {
    cold.push(await firstRequest(list(run, `page=${DEEP_PAGE}&limit=20`)));
    coldFirst.push(await firstRequest(list(run, 'page=1&limit=20')));
  }

  const collector = await startCollectorProcess(['--db', path, '--timeout', '100000h']);
  try {
    const url = collector.url;
    const issue13Api = await servesIssue13Api(url);
    await checkCount(url, executions);
    const requests = smoke ? 10 : 300;
    const kinds: Array<{ name: string; path: (i: number) => string; issue13?: boolean; goal?: string }> = [
      { name: 'healthz (anchor)', path: () => '/healthz' },
      { name: 'list, page 1', path: (i) => list(i, 'page=1&limit=20') },
      { name: 'list, status=error', path: (i) => list(i, 'status=error&limit=20') },
      { name: 'list, status=error,pending', path: (i) => list(i, 'status=error,pending&limit=20'), issue13: true },
      { name: 'list, 1-day range mid-history', path: (i) => list(i, `from=${iso(middle)}&to=${iso(middle + DAY)}&limit=20`) },
      { name: `list, page ${DEEP_PAGE} (warm)`, path: (i) => list(i, `page=${DEEP_PAGE}&limit=20`) },
      // `fulfilled`, not `error`: ~90% of a flow's executions, so page 2000 is not past the end.
      { name: `list, page ${DEEP_PAGE}, status=fulfilled`, path: (i) => list(i, `page=${DEEP_PAGE}&status=fulfilled&limit=20`) },
      { name: 'list, q=<customer id>', path: (i) => list(i, `q=${customerOf(i, executions)}&limit=20`) },
      { name: 'detail', path: (i) => `/api/executions/${executionId((i * 7919 * 13) % executions)}` },
      {
        name: 'metrics, 7 days by 1h',
        path: (i) => `/api/flows/${flow(i)}/metrics?bucket=1h&from=${iso(historyEnd - 7 * DAY)}&to=${iso(historyEnd)}`,
        issue13: true,
        goal: 'p99 < 50 ms',
      },
    ];
    const timings: Record<string, number[]> = Object.fromEntries(kinds.map((k) => [k.name, []]));
    const missing = new Set<string>();
    // Alternate the kinds request by request, after a warm-up pass.
    for (let i = -10; i < requests; i++) {
      for (const kind of kinds) {
        if (missing.has(kind.name)) continue;
        const p = kind.path(Math.abs(i));
        const answer = await timedGet(`${url}${p}`);
        if (!usable(answer, p, { issue13Route: kind.issue13 === true, issue13Api })) {
          missing.add(kind.name);
          continue;
        }
        if (i === -10) checkAnswer(kind.name, answer.body);
        if (i >= 0) timings[kind.name]!.push(answer.ms);
      }
    }
    const anchor = { name: 'healthz p50', value: percentile(timings['healthz (anchor)']!, 50) };
    const coldPage1 = { name: 'page 1 cold, median', value: median(coldFirst) };
    figures.push(figure(`list, page ${DEEP_PAGE}, cold (fresh process), median of ${coldRuns}`, median(cold), 'ms', coldPage1, 'what page 1 costs'));
    figures.push(figure(`list, page ${DEEP_PAGE}, cold, max of ${coldRuns}`, Math.max(...cold), 'ms', anchor));
    figures.push(figure(`list, page 1, cold (fresh process), median of ${coldRuns}`, median(coldFirst), 'ms', anchor));
    for (const kind of kinds.slice(1)) {
      if (missing.has(kind.name)) {
        figures.push(unavailable(`${kind.name} p50 / p99`, 'ms', `${BEFORE_ISSUE_13}: route or parameter refused`, kind.goal ?? 'p99 < 10 ms'));
        continue;
      }
      figures.push(figure(`${kind.name} p50`, percentile(timings[kind.name]!, 50), 'ms', anchor));
      figures.push(figure(`${kind.name} p99`, percentile(timings[kind.name]!, 99), 'ms', anchor, kind.goal ?? 'p99 < 10 ms'));
    }
    Object.assign(samples, timings, { coldPage: cold, coldPage1: coldFirst });
    log(`${executions} executions (${perFlow} a flow), ${requests} requests of each kind`);
    return { bench: 'query', smoke, figures, samples };
  } finally {
    await collector.stop();
  }
};

const executionId = (i: number) => `order-${i}`;

/**
 * A customer id that exists in flow i % 20 (customer c-N runs in flow N % 20) and has four
 * digits, so `q` matches it alone (no c-12345 exists). Execution ids are `order-N`, not
 * `exec-N`, so that "c-1234" cannot also match inside an id.
 */
function customerOf(i: number, executions: number): string {
  const customers = Math.min(CUSTOMERS, executions);
  const choices = Math.max(1, (customers - 1_000) / FLOWS);
  return `c-${1_000 + FLOWS * ((i * 7) % choices) + (i % FLOWS)}`;
}

/** The answers must be what the seed put there, or the timings mean nothing. */
function checkAnswer(kind: string, body: unknown): void {
  if (kind.startsWith('list, q=')) {
    const page = body as { items?: unknown[] };
    if (!page.items || page.items.length === 0) throw new Error(`${kind}: the search found nothing; the seeded customer should be there`);
  }
}

async function checkCount(url: string, executions: number): Promise<void> {
  const answer = await timedGet(`${url}/api/flows`);
  const items = (answer.body as { items?: Array<{ executionCount: number }> }).items ?? [];
  const stored = items.reduce((sum, f) => sum + f.executionCount, 0);
  if (stored !== executions) throw new Error(`the seeded database holds ${stored} executions, not ${executions}: delete bench/results/query-ingest-${executions}.db* and run again`);
}

/** The kept database if it was seeded for this size by a collector of this schema; else seeds one. */
async function seededDatabase(executions: number, log: (m: string) => void): Promise<{ path: string; seed: Seed; seedRate?: number }> {
  mkdirSync(RESULTS, { recursive: true });
  const path = `${RESULTS}query-ingest-${executions}.db`;
  const seedFile = `${path}.seed.json`;
  const schema = await collectorSchema();
  if (existsSync(path) && existsSync(seedFile)) {
    const seed = JSON.parse(readFileSync(seedFile, 'utf8')) as Seed;
    if (seed.executions === executions && seed.schema === schema) return { path, seed };
    log(`the kept database was seeded by schema ${seed.schema}, the collector writes ${schema}: seeding again`);
  }
  for (const suffix of ['', '-wal', '-shm', '.seed.json']) rmSync(path + suffix, { force: true });

  const partial = `${path}.partial`;
  for (const suffix of ['', '-wal', '-shm']) rmSync(partial + suffix, { force: true });
  const spans = executions * (STEPS + 2) - PENDING * (STEPS + 1);
  log(`seeding ${executions} executions (${spans} spans) through POST /v1/traces, kept in ${path} for later runs…`);
  const parts = templateParts(await templateExecution());
  const originMs = Date.now() - HISTORY_DAYS * DAY;
  // `--timeout 100000h`: the newest executions stay pending however long the store is kept.
  const collector = await startCollectorProcess(['--db', partial, '--timeout', '100000h', '--max-body', String(64 * 1024 * 1024)]);
  let seconds: number;
  try {
    const bodies = batchBodies(seedSpans(parts, executions, originMs), SPANS_PER_REQUEST, 'protobuf');
    ({ seconds } = await sendBodies(collector.url, bodies, 'protobuf', SENDERS));
  } finally {
    await collector.stop();
  }
  for (const suffix of ['-wal', '-shm']) if (existsSync(partial + suffix)) renameSync(partial + suffix, path + suffix);
  renameSync(partial, path);
  const seed: Seed = { executions, originMs, seededAt: new Date().toISOString(), schema, through: `OTLP protobuf POST /v1/traces, ${SPANS_PER_REQUEST} spans a request, ${SENDERS} senders` };
  writeFileSync(seedFile, JSON.stringify(seed, null, 2));
  log(`seeded in ${seconds.toFixed(0)} s`);
  return { path, seed, seedRate: spans / seconds };
}

/** The schema version (`user_version`) the collector writes into a new database. */
async function collectorSchema(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'flowtrace-bench-'));
  try {
    const collector = await startCollectorProcess(['--db', join(dir, 'schema.db')]);
    await collector.stop();
    const db = new Database(join(dir, 'schema.db'), { readonly: true });
    const version = db.pragma('user_version', { simple: true }) as number;
    db.close();
    return version;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Synthetic shop executions, oldest first, spread evenly over the 30 days: start marker, 5 step
 * spans, root span; about 10% fail at the last step; the newest 100 are still running (their
 * start marker only). Execution i runs in flow i % 20.
 */
function* seedSpans(parts: TemplateParts, executions: number, originMs: number) {
  const history = HISTORY_DAYS * DAY - 60_000;
  for (let i = 0; i < executions; i++) {
    const params = { customer: `c-${i % CUSTOMERS}`, sku: `sku-${i % 1000}`, qty: (i % 5) + 1 };
    const fails = (i * 7919) % 100 < 10;
    yield* syntheticExecution(parts, {
      executionId: executionId(i),
      flowId: `flow-${String(i % FLOWS).padStart(2, '0')}`,
      startMs: originMs + (i / executions) * history,
      params,
      steps: steps(i, params.sku, fails),
      result: { orderId: `O-${i}`, total: params.qty * 12.5 },
      pending: i >= executions - PENDING,
    });
  }
}

function steps(i: number, sku: string, fails: boolean): StepShape[] {
  return Array.from({ length: STEPS }, (_, n) =>
    fails && n === STEPS - 1
      ? { key: `s${n}`, input: [sku, n], error: `step s${n} failed for ${sku}`, durationMs: 2 }
      : { key: `s${n}`, input: [sku, n], output: { ok: true, step: n, value: i * n }, durationMs: 2 },
  );
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
