import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import cors from '@koa/cors';
import Router from '@koa/router';
import Koa from 'koa';
import {
  DEFAULT_BODY_IDLE_TIMEOUT_MS,
  DEFAULT_HEADERS_TIMEOUT_MS,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_INGEST_WAIT_MS,
  DEFAULT_MAX_READING_BYTES,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_TIMEOUT_MS,
} from './defaults.js';
import { Forwarder } from './forward/forwarder.js';
import { createDecoder } from './otlp/decoder.js';
import { bearerAuth } from './http/auth.js';
import { ByteBudget } from './http/byte-budget.js';
import { serverTimeouts } from './http/server-timeouts.js';
import { capConnections, defaultMaxConnections } from './http/connection-cap.js';
import { loopbackHostCheck } from './http/host-check.js';
import { jsonErrors } from './http/errors.js';
import { Reconciler } from './reconcile.js';
import { apiRoutes } from './routes/api.js';
import { conflictLog } from './ingest/ownership.js';
import { emptyStats, ingestRoute, type IngestStats } from './routes/ingest.js';
import { openApiDocument } from './routes/openapi.js';
import { LiveStreams } from './routes/live-streams.js';
import { streamRoute } from './routes/stream.js';
import { findViewerBundle, VIEWER_PATH, viewerRoutes } from './routes/viewer.js';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { GroupCommit } from './ingest/group-commit.js';
import { routeSpans } from './ingest/route.js';
import { ExecutionRules } from './ingest/rules.js';
import { upgradeHistory } from './ingest/upgrade.js';
import { ChangeFeed } from './read/change-feed.js';
import { ExecutionReader } from './read/executions.js';
import type { ExecutionChange, StorageEngine } from './store/engine.js';
import { openEngine, type PostgresPoolOptions } from './store/open.js';

export interface CollectorOptions {
  /**
   * Where history is kept: a SQLite file path, or a `postgres://` / `postgresql://` URL for a
   * PostgreSQL database several collectors can share. Default `./flowtrace.db`. Ignored when
   * `engine` is given.
   */
  db?: string;
  /** Pool size and timeouts when `db` is PostgreSQL. */
  postgres?: PostgresPoolOptions;
  engine?: StorageEngine;
  /** Keep executions this many days, then delete them in small batches. Default: keep forever. */
  retainDays?: number;
  /** Budget of executions that declare none, in ms. Default 5 minutes. */
  timeoutMs?: number;
  /** How often pending executions are checked against their budget. Default 5 s; 0 turns it off. */
  reconcileIntervalMs?: number;
  /** OTLP/HTTP endpoints that receive what was ingested, markers removed (a base URL gets /v1/traces). */
  forward?: string[];
  /** Headers sent with every forwarded request (an API key), by lowercase name. */
  forwardHeaders?: Record<string, string>;
  /** Bytes each destination's outbox may hold; past it the oldest payloads are dropped. Default 1 GiB. */
  forwardMaxBytes?: number;
  /** Time a destination has to answer, in ms. Default 10 s. */
  forwardTimeoutMs?: number;
  /** Back-off after forwarding failures in a row, in ms. Default 1 s doubling to 60 s. */
  forwardRetryMs?: { firstMs: number; maxMs: number };
  /** When set, every route but `/healthz` requires `Authorization: Bearer <token>`. */
  token?: string;
  /** Origins allowed to call the collector from a browser. Default none. */
  corsOrigins?: string[];
  /** `Host` names served on loopback besides localhost and loopback addresses (DNS-rebinding protection). */
  allowedHosts?: string[];
  /**
   * Behind a reverse proxy: take each client's address from the last `X-Forwarded-For` entry
   * (the one the proxy added), so fair shares are per exporter, not one for the proxy. Only
   * when every request comes through that proxy: otherwise a client can name any address.
   */
  trustProxy?: boolean;
  /** Largest accepted request body after gzip inflation. Default 16 MiB. */
  maxBodyBytes?: number;
  /** Worker threads that decode request bodies; 0 decodes on the main thread. Default 0 (the CLI uses the spare cores). */
  decodeThreads?: number;
  /**
   * Ingest requests decoded and stored at once (bodies still arriving take none); also what each
   * client's share (429 past it) is cut from. Default 32.
   */
  maxConcurrentIngests?: number;
  /** Time, in ms, a body that has arrived may wait for one of those slots before it is answered 503. Default 2 s. */
  maxIngestWaitMs?: number;
  /**
   * Connections open at once; past it a new one is answered 503 and closed, so held connections
   * never take the file descriptors ingest and the database need. Default: 3/4 of the open-file limit.
   */
  maxConnections?: number;
  /** Live streams (GET /api/stream) served at once; past it, 503 with Retry-After. Default 200. */
  maxStreams?: number;
  /** Bytes a live stream may have waiting for a slow client before it is sent `reset` and closed. Default 1 MiB. */
  streamBufferBytes?: number;
  /** Time to receive a request's headers, in ms; Node answers 408 past it. Default 10 s. */
  headersTimeoutMs?: number;
  /** Time an ingest body may go without a byte arriving, in ms (408). Default 10 s. */
  bodyIdleTimeoutMs?: number;
  /** Time an ingest body may take to arrive whole, in ms (408). Default 60 s. */
  requestTimeoutMs?: number;
  /** Bytes all ingest bodies being read may hold together, at least `maxBodyBytes` (503 past it). Default 64 MiB. */
  maxReadingBytes?: number;
  /**
   * The viewer's bundle (`@flowtrace/viewer/bundle`), served at /viewer/flowtrace-viewer.js with
   * a Usage page at /. Default: found when @flowtrace/viewer is installed; `false` for none.
   */
  viewerBundle?: string | false;
  /** Trace-link template for the Usage page, e.g. `http://localhost:16686/trace/{traceId}`. */
  traceUrl?: string;
  /** Where the Usage page's Re-run posts (your app's endpoint); without it, the page does not re-run. */
  rerunUrl?: string;
  /** The clock (ms since the epoch); injectable for tests. */
  now?: () => number;
  log?: (message: string) => void;
}

export interface Collector {
  app: Koa;
  engine: StorageEngine;
  rules: ExecutionRules;
  reader: ExecutionReader;
  /** Settles when history from an older release has been converted (at once when there is none). */
  ready: Promise<void>;
  /** Emits `execution-change` with each {@link ExecutionChange}, in change order, whoever wrote it. */
  changes: ChangeFeed;
  forwarder: Forwarder;
  /** What ingest did since start (also in GET /healthz). */
  stats: IngestStats;
  /** Every route served, as method and path (`/api/executions/:executionId`). */
  routes: Array<{ method: string; path: string }>;
  /** Budget of executions that declare none, in ms. */
  defaultTimeoutMs: number;
  /** The collector's clock. */
  now: () => number;
  /** Runs the timeout rule once, now. */
  reconcile(): Promise<ExecutionChange[]>;
  /** Runs the retention rule once, now; returns how many executions were deleted. */
  retain(): Promise<number>;
  /** Starts listening; resolves with the base URL. */
  listen(port?: number, host?: string): Promise<string>;
  server: Server | undefined;
  /** Stops listening and forwarding (what is not sent stays queued) and closes the store. */
  close(): Promise<void>;
}


/** Executions deleted per transaction by the retention rule: small, so ingest keeps flowing. */
const RETENTION_BATCH = 500;

/**
 * Deletes whole executions that started before `cutoff`, a small batch per transaction, and
 * forwarding payloads queued before it.
 */
async function retain(engine: StorageEngine, cutoff: number, log: (message: string) => void): Promise<number> {
  if (!Number.isFinite(cutoff)) return 0;
  const expired = await engine.transaction((tx) => tx.removeOutboxBefore(cutoff));
  if (expired > 0) log(`forwarding: ${expired} payload(s) never sent were older than the retention period and are dropped`);
  let removed = 0;
  for (;;) {
    const n = await engine.transaction((tx) => tx.removeStartedBefore(cutoff, RETENTION_BATCH));
    removed += n;
    if (n < RETENTION_BATCH) return removed;
  }
}

/** Composes the collector: Koa app, store, reconciliation, forwarding. */
export function createCollector(options: CollectorOptions = {}): Collector {
  const now = options.now ?? Date.now;
  const log = options.log ?? ((message: string) => console.error(`[flowtrace-collector] ${message}`));
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const engine = options.engine ?? openEngine(options.db ?? './flowtrace.db', options.postgres ?? {}, log);
  const stats = emptyStats();
  const logConflict = conflictLog(log);
  const rules = new ExecutionRules(engine, timeoutMs, (conflict) => {
    stats.conflicts++;
    logConflict(conflict);
  });
  const reader = new ExecutionReader(engine, timeoutMs);
  const changes = new ChangeFeed(engine, reader, (error) => log(`live changes could not be read: ${String(error)}`));
  const publish = (list: ExecutionChange[]) => changes.committed(list);
  /** Connections answered 503 at the cap, since start. */
  const connections = { refused: 0 };
  const streams = new LiveStreams(changes, { maxStreams: options.maxStreams, bufferBytes: options.streamBufferBytes });
  const forwarder = new Forwarder(
    engine,
    {
      urls: options.forward ?? [],
      headers: options.forwardHeaders,
      maxBytes: options.forwardMaxBytes,
      timeoutMs: options.forwardTimeoutMs,
      retry: options.forwardRetryMs,
    },
    now,
    log,
  );
  const decoder = createDecoder(options.decodeThreads ?? 0);
  const commits = new GroupCommit(async (spans, outbox) => {
    const list = await rules.ingest(spans, now(), undefined, outbox);
    stats.commits++;
    publish(list);
    if (outbox.length > 0) forwarder.committed();
  });
  const reconciler = new Reconciler(
    async () => {
      const list = await rules.reconcile(now());
      publish(list);
      if (options.retainDays !== undefined) await retain(engine, now() - options.retainDays * 86_400_000, log);
      return list;
    },
    (error) => log(`reconciliation failed: ${String(error)}`),
  );
  // Measured from when the collector listens: start-up work is not a stall anyone waits on.
  const eventLoop = monitorEventLoopDelay({ resolution: 10 });
  const ready = upgradeHistory(engine, rules, now, log).catch((error) => log(`upgrade failed: ${String(error)}`));

  const app = new Koa();
  if (options.trustProxy) {
    app.proxy = true;
    // The last entry is the proxy's own view of the client; earlier ones the client may have written.
    app.maxIpsCount = 1;
  }
  app.on('error', (error: Error & { code?: string }) => {
    // A client that goes away (a closed Usage tab ending its live stream, an exporter hanging up
    // mid-body) is not a failure.
    if (error.code === 'ERR_STREAM_PREMATURE_CLOSE' || error.code === 'ECONNRESET' || error.code === 'HPE_INVALID_EOF_STATE') return;
    log(`request failed: ${error.stack ?? error.message}`);
  });
  app.use(jsonErrors(log));
  app.use(loopbackHostCheck(options.allowedHosts ?? []));
  const origins = new Set(options.corsOrigins ?? []);
  app.use(
    cors({
      origin: (ctx) => (origins.has(ctx.get('origin')) ? ctx.get('origin') : ''),
      allowMethods: ['GET', 'POST', 'DELETE', 'OPTIONS'],
      allowHeaders: ['Authorization', 'Content-Type', 'Content-Encoding', 'Last-Event-ID'],
      maxAge: 600,
    }),
  );
  if (options.token) app.use(bearerAuth(options.token, ['/healthz', '/', VIEWER_PATH, `${VIEWER_PATH}.map`]));

  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const reading = new ByteBudget(Math.max(options.maxReadingBytes ?? DEFAULT_MAX_READING_BYTES, maxBodyBytes));
  const headersTimeoutMs = options.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS;
  const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.body = {
      status: 'ok',
      ingest: { ...stats, readingBytes: reading.used, waiting: commits.waiting },
      reconcile: { ...reconciler.stats },
      streams: streams.health(),
      connections: { ...connections },
      forward: forwarder.health(),
      eventLoop: { maxMs: eventLoop.max / 1e6, p99Ms: eventLoop.percentile(99) / 1e6 },
    };
  });
  router.post(
    '/v1/traces',
    ingestRoute({
      stats,
      body: {
        maxBytes: maxBodyBytes,
        idleTimeoutMs: options.bodyIdleTimeoutMs ?? DEFAULT_BODY_IDLE_TIMEOUT_MS,
        timeoutMs: requestTimeoutMs,
        reading,
      },
      maxConcurrent: options.maxConcurrentIngests ?? 32,
      maxWaitMs: options.maxIngestWaitMs ?? DEFAULT_INGEST_WAIT_MS,
      decode: (encoding, body) => decoder.decode(encoding, body),
      async store(decoded, received) {
        await commits.submit(routeSpans(decoded), forwarder.outbox(received, decoded.spans.length + decoded.rejected));
      },
    }),
  );
  router.get('/api/stream', streamRoute(streams, engine, reader));
  router.get('/api/openapi.json', (ctx) => {
    ctx.body = openApiDocument;
  });
  const api = apiRoutes({ engine, reader, now });
  const viewer = viewerRoutes(findViewerBundle(options.viewerBundle), { traceUrl: options.traceUrl, rerunUrl: options.rerunUrl });
  app.use(router.routes()).use(router.allowedMethods());
  app.use(api.routes()).use(api.allowedMethods());
  app.use(viewer.routes()).use(viewer.allowedMethods());

  reconciler.run().catch((error: unknown) => log(`reconciliation failed: ${String(error)}`));
  const interval = options.reconcileIntervalMs ?? 5000;
  if (interval > 0) reconciler.start(interval);

  const collector: Collector = {
    app,
    engine,
    rules,
    reader,
    ready,
    changes,
    forwarder,
    stats,
    routes: [router, api, viewer].flatMap((r) =>
      r.stack.flatMap((layer) => layer.methods.filter((m) => m !== 'HEAD').map((method) => ({ method, path: String(layer.path) }))),
    ),
    server: undefined,
    defaultTimeoutMs: timeoutMs,
    now,
    reconcile: () => reconciler.run(),
    retain: () => retain(engine, now() - (options.retainDays ?? Number.POSITIVE_INFINITY) * 86_400_000, log),
    listen(port = 4318, host = '127.0.0.1') {
      return new Promise((resolve, reject) => {
        const server = createServer(serverTimeouts(headersTimeoutMs, requestTimeoutMs), app.callback());
        capConnections(server, options.maxConnections ?? defaultMaxConnections(), () => connections.refused++);
        server.listen(port, host);
        collector.server = server;
        server.once('error', reject);
        server.once('listening', () => {
          eventLoop.enable();
          const address = server.address() as AddressInfo;
          const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
          resolve(`http://${shown}:${address.port}`);
        });
      });
    },
    async close() {
      reconciler.stop();
      const server = collector.server;
      if (server) {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          // Live streams never end on their own.
          server.closeAllConnections();
        });
      }
      eventLoop.disable();
      await ready;
      await changes.settled();
      await forwarder.close();
      await decoder.close();
      await engine.close();
    },
  };
  return collector;
}
