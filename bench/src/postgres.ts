import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import pg from 'pg';
import { decodeProtobuf, PostgresEngine, routeSpans, type ExecutionListItem } from '@flowtrace/collector';
import { startPostgres, type PostgresServer } from '@flowtrace/test-servers';
import { ATTR_FLOW_ID, ATTR_STEP_INDEX } from '@flowtrace/tracer/semconv';
import { HttpSource } from '@flowtrace/viewer/source';
import { startCollectorProcess } from './collector-process.js';
import { timedGet, usable, type Answer } from './http-api.js';
import { alternate, figure, median, percentile, type Bench, type BenchResult, type Figure } from './measure.js';
import { customerOf, executionId, flowOf, HISTORY_DAYS, PENDING, seedRowsThroughRules, shopSpans, STEPS } from './postgres-seed.js';
import { sendBodies } from './send.js';
import { batchBodies, copyExecution, requestBodies, templateExecution, templateParts } from './spans.js';

const SPANS_PER_REQUEST = 512;
const SENDERS = 4;
const MAX_BODY = String(64 * 1024 * 1024);
const DAY = 86_400_000;
const DEEP_PAGE = 2_000;
/** The query collector's `--timeout`: the newest executions stay pending for the whole run. */
const TIMEOUT = '100000h';
const TIMEOUT_MS = 100_000 * 3_600_000;

/**
 * The collector on PostgreSQL (issue 14), on a throwaway PostgreSQL 15 of its own (durable:
 * fsync and synchronous_commit on): ingest through two collector processes sharing the
 * database, against a bare COPY of the same rows; history queries at 1,000,000 executions;
 * and how soon a live stream on one collector hears of an execution posted to the other.
 */
export const postgresBench: Bench = async ({ smoke, log }): Promise<BenchResult> => {
  const server = await startPostgres();
  const figures: Figure[] = [];
  const samples: Record<string, number[]> = {};
  try {
    await checkDurable(server);
    for (const part of [ingestPart, livePart, queryPart]) {
      const result = await part(server, smoke, log);
      figures.push(...result.figures);
      Object.assign(samples, result.samples);
    }
    return { bench: 'postgres', smoke, figures, samples };
  } finally {
    await server.close();
  }
};

type Part = (server: PostgresServer, smoke: boolean, log: (message: string) => void) => Promise<{ figures: Figure[]; samples: Record<string, number[]> }>;

async function checkDurable(server: PostgresServer): Promise<void> {
  const rows = await sql(server.url(), `SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes')`);
  for (const { name, setting } of rows as Array<{ name: string; setting: string }>) {
    if (setting !== 'on') throw new Error(`the bench's PostgreSQL runs with ${name}=${setting}: its figures would not be durable ones`);
  }
}

/** Runs `statements` on one connection to `url`; the rows of the last. */
async function sql(url: string, ...statements: string[]): Promise<unknown[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    let rows: unknown[] = [];
    for (const statement of statements) rows = (await client.query(statement)).rows;
    return rows;
  } finally {
    await client.end();
  }
}

/** A fresh database for `work`, dropped afterwards. */
async function withDatabase<T>(server: PostgresServer, work: (url: string) => Promise<T>): Promise<T> {
  const url = await server.createDatabase();
  try {
    return await work(url);
  } finally {
    await sql(server.url(), `DROP DATABASE IF EXISTS ${new URL(url).pathname.slice(1)} WITH (FORCE)`);
  }
}

/** Collector processes on one database, started and ready (schema in place) before anything is timed. */
async function startCollectors(url: string, count: number, timeout = '1h') {
  const collectors: Array<Awaited<ReturnType<typeof startCollectorProcess>>> = [];
  for (let i = 0; i < count; i++) collectors.push(await startCollectorProcess(['--db', url, '--timeout', timeout, '--max-body', MAX_BODY]));
  // The schema is made after the collector starts listening; a read waits for it.
  for (const c of collectors) usable(await timedGet(`${c.url}/api/flows`), '/api/flows', { issue13Route: false, issue13Api: true });
  return {
    collectors,
    stop: () => Promise.all(collectors.map((c) => c.stop())),
  };
}

// 1. Ingest

/**
 * Spans/s acknowledged (200 after commit) by two collector processes sharing one database, the
 * senders alternating between them; and by one alone. Against the limit: the same request
 * bodies decoded by the collector's decoder and each written by one text `COPY ... FROM STDIN`
 * into a plain table with the span table's columns (no key, no index), one at a time.
 */
const ingestPart: Part = async (server, smoke, log) => {
  const count = smoke ? 4 : 120;
  log(`ingest: ${count} requests of ${SPANS_PER_REQUEST} spans, ${SENDERS} senders`);
  const bodies = requestBodies(await templateExecution(), count, SPANS_PER_REQUEST, 'protobuf');
  const spans = count * SPANS_PER_REQUEST;
  const cpu: Record<string, number[]> = { 'two.collectors': [], 'two.postgres': [], 'one.collectors': [], 'one.postgres': [] };
  const over = async (collectors: number, name: string) => {
    const run = await overHttp(server, bodies, collectors);
    cpu[`${name}.collectors`]!.push((run.collectorCpu / spans) * 1e6);
    cpu[`${name}.postgres`]!.push((run.postgresCpu / spans) * 1e6);
    return spans / run.seconds;
  };
  const result = await alternate(
    {
      two: () => over(2, 'two'),
      one: () => over(1, 'one'),
      limit: async () => spans / (await bareCopySeconds(server, bodies)),
    },
    { rounds: smoke ? 1 : 3, warmup: 0 },
  );
  const limit = { name: 'limit: decode + bare text COPY', value: median(result.limit!) };
  const inPostgres = (name: string) => ({ name: 'CPU in PostgreSQL', value: median(cpu[`${name}.postgres`]!) });
  return {
    figures: [
      figure('ingest protobuf, two collectors', median(result.two!), 'spans/s', limit, '≥ 40,000 spans/s and ≥ ×0.5 of bare COPY'),
      figure('ingest protobuf, one collector', median(result.one!), 'spans/s', limit),
      figure('  CPU per span in the collectors (two)', median(cpu['two.collectors']!), 'µs', inPostgres('two')),
      figure('  CPU per span in the collector (one)', median(cpu['one.collectors']!), 'µs', inPostgres('one')),
    ],
    samples: { 'ingest.two': result.two!, 'ingest.one': result.one!, 'ingest.limit': result.limit!, ...Object.fromEntries(Object.entries(cpu).map(([k, v]) => [`ingest.cpuPerSpan.${k}`, v])) },
  };
};

/**
 * `collectors` collector processes on a fresh database acknowledging every body: seconds, and
 * CPU seconds spent meanwhile by the collectors (decode worker included) and by PostgreSQL.
 */
async function overHttp(server: PostgresServer, bodies: Array<Uint8Array<ArrayBuffer>>, collectors: number) {
  return withDatabase(server, async (url) => {
    const running = await startCollectors(url, collectors);
    const postgres = await postgresCpu(server);
    try {
      // One queue of bodies; each collector gets SENDERS / collectors of the senders.
      const queue = bodies.values();
      const shared = { [Symbol.iterator]: () => queue };
      const collectorCpu = () => running.collectors.reduce((sum, c) => sum + cpuSeconds(c.pid), 0);
      const cpuBefore = { collectors: collectorCpu(), postgres: postgres() };
      const start = performance.now();
      await Promise.all(running.collectors.map((c) => sendBodies(c.url, shared, 'protobuf', SENDERS / collectors)));
      const seconds = (performance.now() - start) / 1000;
      return { seconds, collectorCpu: collectorCpu() - cpuBefore.collectors, postgresCpu: postgres() - cpuBefore.postgres };
    } finally {
      await running.stop();
    }
  });
}

/** CPU seconds (user + system) process `pid` used so far; with `reaped`, its ended children's too. */
function cpuSeconds(pid: number, reaped = false): number {
  try {
    // Fields after the command name: state, ppid, … utime (12th), stime, cutime, cstime, in clock ticks.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]) + (reaped ? Number(fields[13]) + Number(fields[14]) : 0);
    return ticks / 100;
  } catch {
    return 0; // ended meanwhile: counted in its parent's reaped children
  }
}

/** CPU seconds used so far by the PostgreSQL server: the postmaster, its live backends and those ended. */
async function postgresCpu(server: PostgresServer): Promise<() => number> {
  const [row] = (await sql(server.url(), `SELECT current_setting('data_directory') AS data`)) as Array<{ data: string }>;
  const postmaster = Number(readFileSync(join(row!.data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  return () => {
    let total = cpuSeconds(postmaster, true);
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        if (readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]!.split(' ')[1] === String(postmaster)) total += cpuSeconds(Number(entry));
      } catch {
        // ended meanwhile
      }
    }
    return total;
  };
}

const ROLE_CODE: Record<string, number> = { step: 0, root: 1, marker: 2 };

/**
 * The limit: each body decoded with the collector's `decodeProtobuf` and its spans written as
 * one text-format COPY (its own transaction, committed durably before the next) — the rows the
 * engine would store (each span's protobuf bytes less the ids its row keeps as body, format 3),
 * into a table with no key.
 */
async function bareCopySeconds(server: PostgresServer, bodies: Array<Uint8Array<ArrayBuffer>>): Promise<number> {
  return withDatabase(server, async (url) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(`CREATE TABLE spans (part integer NOT NULL, execution bigint NOT NULL, span_id bytea NOT NULL, trace_id bytea NOT NULL,
        role smallint NOT NULL, parent_id bytea, step_index integer, start_ms double precision NOT NULL, origin integer NOT NULL,
        format smallint NOT NULL, body bytea NOT NULL)`);
      const keys = new Map<string, number>();
      const start = performance.now();
      for (const body of bodies) {
        const decoded = decodeProtobuf(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
        const lines = routeSpans(decoded).map(({ span, role, executionId: id, wire }) => {
          let key = id === undefined ? 0 : keys.get(id);
          if (key === undefined) keys.set(id!, (key = keys.size + 1));
          const startMs = Number(BigInt(span.startTimeUnixNano) / 1000n) / 1000;
          const step = span.attributes[ATTR_STEP_INDEX];
          return [
            Math.floor(startMs / DAY), key, hex(Buffer.from(span.spanId, 'hex')), hex(Buffer.from(span.traceId, 'hex')), ROLE_CODE[role] ?? 3,
            span.parentSpanId ? hex(Buffer.from(span.parentSpanId, 'hex')) : '\\N', typeof step === 'number' ? step : '\\N', startMs, 1, 3, hex(wire!),
          ].join('\t');
        });
        await copyIn(client, 'COPY spans FROM STDIN', `${lines.join('\n')}\n`);
      }
      return (performance.now() - start) / 1000;
    } finally {
      await client.end();
    }
  });
}

/** bytea in COPY's text format: `\x` and hex digits, the backslash escaped. */
function hex(bytes: Uint8Array): string {
  return `\\\\x${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')}`;
}

/** The wire-protocol calls node-postgres makes for COPY, which its typings leave out. */
interface CopyConnection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
}

/**
 * `COPY ... FROM STDIN` with node-postgres alone (no pg-copy-streams): a query object that
 * answers the server's CopyInResponse with the data, then completes.
 */
function copyIn(client: pg.Client, statement: string, data: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let failed: Error | undefined;
    const copy = {
      submit: (connection: CopyConnection) => connection.query(statement),
      handleCopyInResponse: (connection: CopyConnection) => {
        connection.sendCopyFromChunk(Buffer.from(data));
        connection.endCopyFrom();
      },
      handleCommandComplete: () => {},
      handleError: (error: Error) => (failed = error),
      handleReadyForQuery: () => (failed ? reject(failed) : resolve()),
    };
    client.query(copy as unknown as pg.Submittable);
  });
}

// 2. Live

/**
 * One finished execution at a time posted to collector A; how long until its `execution`
 * event reaches a live stream (the viewer's own `HttpSource`) on collector B, and one on A.
 */
const livePart: Part = async (server, smoke, log) => {
  const runs = smoke ? 5 : 200;
  const warmup = smoke ? 1 : 10;
  log(`live: ${runs} executions posted to collector A, streams on A and B`);
  const template = await templateExecution();
  return withDatabase(server, async (url) => {
    const running = await startCollectors(url, 2);
    const [a, b] = [running.collectors[0]!, running.collectors[1]!];
    const flowId = String(template.find((s) => s.attributes[ATTR_FLOW_ID] !== undefined)!.attributes[ATTR_FLOW_ID]);
    const onA = await follow(a.url, flowId);
    const onB = await follow(b.url, flowId);
    try {
      const same: number[] = [];
      const cross: number[] = [];
      for (let i = 0; i < warmup + runs; i++) {
        const id = `live-${i}-${Date.now()}`;
        const body = new Uint8Array(ProtobufTraceSerializer.serializeRequest(copyExecution(template, 0, id))!);
        const posted = performance.now();
        const response = await fetch(`${a.url}/v1/traces`, { method: 'POST', body, headers: { 'content-type': 'application/x-protobuf' } });
        await response.arrayBuffer();
        if (response.status !== 200) throw new Error(`ingest answered ${response.status}`);
        const [atA, atB] = await Promise.all([onA.arrival(id), onB.arrival(id)]);
        if (i < warmup) continue;
        same.push(atA - posted);
        cross.push(atB - posted);
      }
      const anchor = (p: number) => ({ name: `stream on A itself p${p}`, value: percentile(same, p) });
      return {
        figures: [
          figure('live, POST to A → event on B, p50', percentile(cross, 50), 'ms', anchor(50)),
          figure('live, POST to A → event on B, p95', percentile(cross, 95), 'ms', anchor(95), 'p95 < 100 ms'),
        ],
        samples: { 'live.cross': cross, 'live.same': same },
      };
    } finally {
      onA.close();
      onB.close();
      await running.stop();
    }
  });
};

/** A live subscription to one flow, as the viewer holds it: when each execution's first event arrived. */
async function follow(collectorUrl: string, flowId: string) {
  const arrived = new Map<string, number>();
  const waiting = new Map<string, () => void>();
  let live: () => void;
  const connected = new Promise<void>((resolve) => (live = resolve));
  const subscription = new HttpSource({ apiBase: collectorUrl }).subscribe(flowId, {
    onChange: (item: ExecutionListItem) => {
      if (arrived.has(item.id)) return;
      arrived.set(item.id, performance.now());
      waiting.get(item.id)?.();
    },
    onState: (state) => state === 'live' && live(),
  });
  await connected;
  return {
    async arrival(id: string, timeoutMs = 10_000): Promise<number> {
      if (!arrived.has(id)) {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no event for ${id} on ${collectorUrl} within ${timeoutMs} ms`)), timeoutMs);
          waiting.set(id, () => {
            clearTimeout(timer);
            resolve();
          });
        });
        waiting.delete(id);
      }
      return arrived.get(id)!;
    },
    close: () => subscription.close(),
  };
}

// 3. Queries

/**
 * History queries over HTTP against one collector process, the database holding 1,000,000
 * executions: all but the newest day's written through the collector's rules straight into the
 * engine (rows, rollups and search entries, no spans), the newest day's ingested over HTTP
 * with their spans. p50/p99 against /healthz p50, as the SQLite query bench.
 */
const queryPart: Part = async (server, smoke, log) => {
  const executions = smoke ? 2_000 : 1_000_000;
  const tail = smoke ? 500 : Math.round(executions / HISTORY_DAYS);
  const bulk = executions - tail;
  return withDatabase(server, async (url) => {
    const parts = templateParts(await templateExecution());
    const originMs = Date.now() - HISTORY_DAYS * DAY;
    log(`queries: seeding ${bulk} executions through the rules into the engine, ${tail} through HTTP ingest…`);
    let started = performance.now();
    const engine = new PostgresEngine({ url });
    try {
      await seedRowsThroughRules(engine, parts, { from: 0, to: bulk, executions, originMs, timeoutMs: TIMEOUT_MS, perTransaction: smoke ? 500 : 5_000 });
    } finally {
      await engine.close();
    }
    const bulkSeconds = (performance.now() - started) / 1000;
    const running = await startCollectors(url, 1, TIMEOUT);
    try {
      const collector = running.collectors[0]!;
      started = performance.now();
      const bodies = batchBodies(shopSpans(parts, bulk, executions, executions, originMs), SPANS_PER_REQUEST, 'protobuf');
      await sendBodies(collector.url, bodies, 'protobuf', SENDERS);
      const tailSeconds = (performance.now() - started) / 1000;
      started = performance.now();
      await sql(url, 'VACUUM (ANALYZE)');
      // The seeding's dirty pages are written now, not by a checkpoint spread over the queries.
      await sql(url, 'CHECKPOINT');
      const vacuumSeconds = (performance.now() - started) / 1000;
      log(`seeded: rows ${bulkSeconds.toFixed(0)} s, HTTP ${tailSeconds.toFixed(0)} s, VACUUM ANALYZE and CHECKPOINT ${vacuumSeconds.toFixed(0)} s`);
      const tailSpans = tail * (STEPS + 2) - PENDING * (STEPS + 1);
      const seeding: Figure[] = [
        { ...figure('pg: executions written through the rules', bulk / bulkSeconds, 'executions/s'), note: `${bulk} executions in ${bulkSeconds.toFixed(0)} s, no spans` },
        { ...figure('pg: seeding tail over HTTP (one collector)', tailSpans / tailSeconds, 'spans/s'), note: `${tail} executions, ${tailSpans} spans, in ${tailSeconds.toFixed(0)} s` },
        { ...figure('pg: VACUUM ANALYZE and CHECKPOINT after seeding', vacuumSeconds, 's') },
      ];
      const timings = await timeQueries(collector.url, executions, tail, originMs, smoke);
      const anchor = { name: 'healthz p50', value: percentile(timings['healthz']!, 50) };
      const figures = [...seeding];
      for (const [name, ms] of Object.entries(timings)) {
        if (name === 'healthz') continue;
        figures.push(figure(`pg: ${name} p50`, percentile(ms, 50), 'ms', anchor));
        figures.push(figure(`pg: ${name} p99`, percentile(ms, 99), 'ms', anchor, name.startsWith('metrics') ? 'p99 < 50 ms' : 'p99 < 10 ms'));
      }
      return { figures, samples: Object.fromEntries(Object.entries(timings).map(([k, v]) => [`query.${k}`, v])) };
    } finally {
      await running.stop();
    }
  });
};

async function timeQueries(url: string, executions: number, tail: number, originMs: number, smoke: boolean): Promise<Record<string, number[]>> {
  const flows = await timedGet(`${url}/api/flows`);
  const stored = ((flows.body as { items?: Array<{ executionCount: number }> }).items ?? []).reduce((sum, f) => sum + f.executionCount, 0);
  if (stored !== executions) throw new Error(`the seeded database holds ${stored} executions, not ${executions}`);
  const list = (i: number, query: string) => `/api/flows/${flowOf(i)}/executions?${query}`;
  const historyEnd = originMs + HISTORY_DAYS * DAY;
  const kinds: Record<string, { path: (i: number) => string; check?: (body: unknown) => boolean }> = {
    healthz: { path: () => '/healthz' },
    'list, page 1': { path: (i) => list(i, 'page=1&limit=20'), check: (body) => items(body) === 20 },
    // As in the SQLite bench's seed, only flows 0 and 11-19 have failures: the others answer none.
    'list, status=error': { path: (i) => list(i, 'status=error&limit=20'), check: (body) => (body as { items: ExecutionListItem[] }).items.every((item) => item.status === 'error') },
    [`list, page ${DEEP_PAGE}`]: { path: (i) => list(i, `page=${DEEP_PAGE}&limit=20`), check: (body) => smoke || items(body) === 20 },
    'list, q=<customer id>': { path: (i) => list(i, `q=${customerOf(i, executions)}&limit=20`), check: (body) => items(body) > 0 },
    // Executions of the newest day: the ones with spans.
    detail: {
      path: (i) => `/api/executions/${executionId(executions - tail + ((i * 7919) % (tail - PENDING)))}`,
      check: (body) => ((body as { nodes?: unknown[] }).nodes?.length ?? 0) === STEPS,
    },
    'metrics, 7 days by 1h': { path: (i) => `/api/flows/${flowOf(i)}/metrics?bucket=1h&from=${iso(historyEnd - 7 * DAY)}&to=${iso(historyEnd)}` },
  };
  const requests = smoke ? 10 : 300;
  const timings: Record<string, number[]> = Object.fromEntries(Object.keys(kinds).map((k) => [k, []]));
  // The kinds alternate request by request, after a warm-up pass.
  for (let i = -10; i < requests; i++) {
    for (const [name, kind] of Object.entries(kinds)) {
      const path = kind.path(Math.abs(i));
      const answer: Answer = await timedGet(`${url}${path}`);
      usable(answer, path, { issue13Route: false, issue13Api: true });
      if (i === -10 && kind.check && !kind.check(answer.body)) throw new Error(`${path}: not the answer the seed should give: ${JSON.stringify(answer.body).slice(0, 300)}`);
      if (i >= 0) timings[name]!.push(answer.ms);
    }
  }
  return timings;
}

function items(body: unknown): number {
  return (body as { items?: unknown[] }).items?.length ?? 0;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
