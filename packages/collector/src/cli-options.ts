/** The collector's command line: flags, environment, their checks. */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_STREAMS, DEFAULT_TIMEOUT_MS, MIN_DB_POOL } from './defaults.js';
import { parseForwardHeaders } from './forward/headers.js';
import { isPostgresUrl } from './store/open.js';

export const HELP = `flowtrace-collector — OTLP/HTTP in, flowtrace execution records out

Usage: flowtrace-collector [options]

  --port <n>            port to listen on (default 4318, the OTLP/HTTP port)
  --host <address>      address to bind (default 127.0.0.1; others need --token or --insecure)
  --db <path|url>       SQLite file (default ./flowtrace.db), or a postgres:// URL: several
                        collectors can share one PostgreSQL database
  --db-pool <n>         PostgreSQL connections per collector, 2 or more (default 10)
  --db-connect-timeout <duration>    wait this long for a PostgreSQL connection, then answer 503 (default 5s)
  --db-statement-timeout <duration>  cancel a PostgreSQL statement after this long (default 30s)
  --db-no-prepare       send PostgreSQL statements unnamed, for a pooler that cannot follow
                        prepared statements (PgBouncer before 1.21, or max_prepared_statements = 0)
  --timeout <duration>  budget of executions that declare none: 300000, 90s, 5m, 1h (default 5m)
  --retain-days <n>     delete executions that started more than n days ago (default: keep all)
  --forward <url>       also send what is received to this OTLP/HTTP endpoint (repeatable); kept in
                        the database until sent, so an outage or a restart loses nothing
  --forward-header <'name: value'>  send this header with every forwarded request, e.g.
                        'x-api-key: <key>' (repeatable)
  --forward-max-bytes <size>  bytes kept per destination while it is down; past it the oldest
                        are dropped: 500MiB, 2GiB, or a number of bytes (default 1GiB)
  --token <token>       require "Authorization: Bearer <token>" (default: $FLOWTRACE_TOKEN)
  --cors-origin <url>   allow browser calls from this origin (repeatable)
  --allowed-host <name> also serve this Host on loopback, besides localhost and loopback addresses
                        (DNS-rebinding protection; repeatable; name or name:port)
  --max-body <bytes>    largest request body after gzip inflation (default ${DEFAULT_MAX_BODY_BYTES})
  --max-connections <n> connections open at once; past it, 503 (default: 3/4 of the open-file limit)
  --max-streams <n>     live streams (GET /api/stream) open at once; past it, 503 (default ${DEFAULT_MAX_STREAMS})
  --decode-threads <n>  worker threads decoding request bodies; 0 = the main thread (default: cores - 1)
  --trace-url <tmpl>    link trace ids in the Usage page, e.g. http://localhost:16686/trace/{traceId}
                        (an http or https URL)
  --rerun-url <url>     the Usage page's Re-run posts { flowId, executionId, params } here (an http or
                        https URL of your app, which allows this page's origin) and opens the
                        execution id it answers; without it the page says re-running is unsupported
  --insecure            allow a non-loopback --host without a token
  --trust-proxy         take client addresses from X-Forwarded-For (its last entry): only when
                        every request comes through your reverse proxy
  -h, --help            show this help

Environment: FLOWTRACE_PORT, FLOWTRACE_HOST, FLOWTRACE_DB, FLOWTRACE_DB_POOL, FLOWTRACE_DB_CONNECT_TIMEOUT,
FLOWTRACE_DB_STATEMENT_TIMEOUT, FLOWTRACE_TIMEOUT, FLOWTRACE_RETAIN_DAYS, FLOWTRACE_FORWARD (comma-separated),
FLOWTRACE_FORWARD_HEADERS (name=value,name2=value2 with percent-encoded values, as OTEL_EXPORTER_OTLP_HEADERS),
FLOWTRACE_FORWARD_MAX_BYTES, FLOWTRACE_TOKEN, FLOWTRACE_CORS_ORIGINS (comma-separated), FLOWTRACE_ALLOWED_HOSTS (comma-separated), FLOWTRACE_MAX_BODY, FLOWTRACE_MAX_CONNECTIONS, FLOWTRACE_MAX_STREAMS, FLOWTRACE_DECODE_THREADS,
FLOWTRACE_TRACE_URL, FLOWTRACE_RERUN_URL, FLOWTRACE_INSECURE=true, FLOWTRACE_TRUST_PROXY=true and FLOWTRACE_DB_NO_PREPARE=true set the same options.
`;

export class UsageError extends Error {}

export function parseDuration(text: string, name: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) throw new UsageError(`${name} must be a duration such as 300000, 90s, 5m or 1h (got "${text}")`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] ?? 'ms']!;
  const ms = Math.round(Number(match[1]) * unit);
  if (ms <= 0) throw new UsageError(`${name} must be more than zero`);
  return ms;
}

function parsePort(text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) throw new UsageError(`--port must be a number from 0 to 65535 (got "${text}")`);
  return port;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);
/** Below this no OTLP batch fits. */
const MIN_MAX_BODY_BYTES = 1024;

/** A whole number of at least `min`, or undefined when not given. */
function count(text: string | undefined, name: string, min: number): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{1,7}$/.test(text) || Number(text) < min) throw new UsageError(`${name} must be a whole number, at least ${min} (got "${text}")`);
  return Number(text);
}

/** Below this a destination's outbox would not hold one large request. */
const MIN_FORWARD_MAX_BYTES = 1024 * 1024;
const UNITS: Record<string, number> = { '': 1, B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 };

/** A size such as 500MiB, 2GiB or 1073741824, or undefined when not given. */
function byteSize(text: string | undefined, name: string, min: number): number | undefined {
  if (text === undefined) return undefined;
  const match = /^(\d{1,13})\s*(B|KiB|MiB|GiB|TiB)?$/.exec(text.trim());
  const bytes = match ? Number(match[1]) * UNITS[match[2] ?? '']! : Number.NaN;
  if (!(bytes >= min)) throw new UsageError(`${name} must be a size such as 500MiB, 2GiB or a number of bytes, at least 1MiB (got "${text}")`);
  return bytes;
}

/** Payloads are posted to it: an http(s) URL, with no credentials (those belong in --forward-header). */
function checkForwardUrl(text: string): void {
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new UsageError(`--forward must be an http or https URL such as http://localhost:4318 (got "${text.slice(0, 200)}")`);
  }
  // fetch refuses such URLs, and logs would show them.
  if (url.username || url.password) {
    throw new UsageError("--forward URLs cannot hold a user or password: send credentials with --forward-header 'authorization: Basic …'");
  }
}

/** The Usage page turns the template into links: only web addresses, never `javascript:`. */
function checkTraceUrl(template: string): void {
  let url: URL | undefined;
  try {
    url = new URL(template.replaceAll('{traceId}', '0'));
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new UsageError(`--trace-url must be an http or https URL template such as http://localhost:16686/trace/{traceId} (got "${template}")`);
  }
}

/** The Usage page posts to it from the browser: a web address only. */
function checkRerunUrl(text: string): void {
  let protocol: string | undefined;
  try {
    protocol = new URL(text).protocol;
  } catch {
    protocol = undefined;
  }
  if (protocol !== 'http:' && protocol !== 'https:') {
    throw new UsageError(`--rerun-url must be an http or https URL such as http://127.0.0.1:3001/rerun (got "${text.slice(0, 200)}")`);
  }
}

export function parseCli(argv: string[], env: NodeJS.ProcessEnv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        db: { type: 'string' },
        'db-pool': { type: 'string' },
        'db-connect-timeout': { type: 'string' },
        'db-statement-timeout': { type: 'string' },
        'db-no-prepare': { type: 'boolean' },
        timeout: { type: 'string' },
        'retain-days': { type: 'string' },
        forward: { type: 'string', multiple: true },
        'forward-header': { type: 'string', multiple: true },
        'forward-max-bytes': { type: 'string' },
        token: { type: 'string' },
        'cors-origin': { type: 'string', multiple: true },
        'allowed-host': { type: 'string', multiple: true },
        'max-body': { type: 'string' },
        'max-connections': { type: 'string' },
        'max-streams': { type: 'string' },
        'decode-threads': { type: 'string' },
        'trace-url': { type: 'string' },
        'rerun-url': { type: 'string' },
        insecure: { type: 'boolean' },
        'trust-proxy': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const v = parsed.values;
  const list = (value: string | undefined) => (value ? value.split(',').map((s) => s.trim()).filter(Boolean) : []);
  const host = v.host ?? env.FLOWTRACE_HOST ?? '127.0.0.1';
  // An empty variable is an unset one (`FLOWTRACE_TOKEN=` in a shell or compose file).
  const token = v.token ?? (env.FLOWTRACE_TOKEN || undefined);
  // A bearer token is sent in a header: visible ASCII, no spaces (RFC 6750's token68 is stricter).
  if (token !== undefined && !/^[\x21-\x7e]{8,}$/.test(token)) {
    throw new UsageError('--token must be at least 8 visible ASCII characters, without spaces');
  }
  const insecure = v.insecure === true || env.FLOWTRACE_INSECURE === 'true';
  if (!LOOPBACK.has(host) && !token && !insecure) {
    throw new UsageError(`refusing to listen on ${host} without a token: set --token (or FLOWTRACE_TOKEN), or pass --insecure`);
  }
  const maxBody = v['max-body'] ?? env.FLOWTRACE_MAX_BODY;
  if (maxBody !== undefined && !(/^\d+$/.test(maxBody) && Number(maxBody) >= MIN_MAX_BODY_BYTES)) {
    throw new UsageError(`--max-body must be a number of bytes, at least ${MIN_MAX_BODY_BYTES} (got "${maxBody}")`);
  }
  const maxConnections = count(v['max-connections'] ?? env.FLOWTRACE_MAX_CONNECTIONS, '--max-connections', 16);
  const maxStreams = count(v['max-streams'] ?? env.FLOWTRACE_MAX_STREAMS, '--max-streams', 1);
  const traceUrl = v['trace-url'] ?? env.FLOWTRACE_TRACE_URL;
  if (traceUrl !== undefined) checkTraceUrl(traceUrl);
  const rerunUrl = v['rerun-url'] ?? env.FLOWTRACE_RERUN_URL;
  if (rerunUrl !== undefined) checkRerunUrl(rerunUrl);
  const timeout = v.timeout ?? env.FLOWTRACE_TIMEOUT;
  const retainDays = v['retain-days'] ?? env.FLOWTRACE_RETAIN_DAYS;
  const decodeThreads = v['decode-threads'] ?? env.FLOWTRACE_DECODE_THREADS;
  if (decodeThreads !== undefined && !/^\d{1,2}$/.test(decodeThreads)) {
    throw new UsageError(`--decode-threads must be a whole number of threads, 0 or more (got "${decodeThreads}")`);
  }
  if (retainDays !== undefined && !/^[1-9]\d{0,5}$/.test(retainDays)) {
    throw new UsageError(`--retain-days must be a whole number of days, 1 or more (got "${retainDays}")`);
  }
  const forward = v.forward ?? list(env.FLOWTRACE_FORWARD);
  for (const url of forward) checkForwardUrl(url);
  let forwardHeaders: Record<string, string>;
  try {
    forwardHeaders = parseForwardHeaders(v['forward-header'] ?? [], env.FLOWTRACE_FORWARD_HEADERS);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (Object.keys(forwardHeaders).length > 0 && forward.length === 0) throw new UsageError('--forward-header applies to --forward: give it a destination');
  const forwardMaxBytes = byteSize(v['forward-max-bytes'] ?? env.FLOWTRACE_FORWARD_MAX_BYTES, '--forward-max-bytes', MIN_FORWARD_MAX_BYTES);
  const db = v.db ?? env.FLOWTRACE_DB ?? './flowtrace.db';
  const pool = v['db-pool'] ?? env.FLOWTRACE_DB_POOL;
  if (pool !== undefined && !(/^[1-9]\d{0,3}$/.test(pool) && Number(pool) >= MIN_DB_POOL)) {
    throw new UsageError(`--db-pool must be a whole number of connections, ${MIN_DB_POOL} or more: ingest runs a statement beside its transaction (got "${pool}")`);
  }
  const connectTimeout = v['db-connect-timeout'] ?? env.FLOWTRACE_DB_CONNECT_TIMEOUT;
  const statementTimeout = v['db-statement-timeout'] ?? env.FLOWTRACE_DB_STATEMENT_TIMEOUT;
  const noPrepare = v['db-no-prepare'] === true || env.FLOWTRACE_DB_NO_PREPARE === 'true';
  if (((pool ?? connectTimeout ?? statementTimeout) !== undefined || noPrepare) && !isPostgresUrl(db)) {
    throw new UsageError('--db-pool, --db-connect-timeout, --db-statement-timeout and --db-no-prepare apply to PostgreSQL: give --db a postgres:// URL');
  }
  return {
    help: v.help === true,
    port: parsePort(v.port ?? env.FLOWTRACE_PORT ?? '4318'),
    host,
    options: {
      db,
      postgres: {
        ...(pool ? { poolSize: Number(pool) } : {}),
        ...(connectTimeout ? { connectTimeoutMs: parseDuration(connectTimeout, '--db-connect-timeout') } : {}),
        ...(statementTimeout ? { statementTimeoutMs: parseDuration(statementTimeout, '--db-statement-timeout') } : {}),
        ...(noPrepare ? { preparedStatements: false } : {}),
      },
      timeoutMs: timeout ? parseDuration(timeout, '--timeout') : DEFAULT_TIMEOUT_MS,
      ...(retainDays ? { retainDays: Number(retainDays) } : {}),
      decodeThreads: decodeThreads === undefined ? Math.max(1, Math.min(4, availableParallelism() - 1)) : Number(decodeThreads),
      forward,
      ...(Object.keys(forwardHeaders).length > 0 ? { forwardHeaders } : {}),
      ...(forwardMaxBytes !== undefined ? { forwardMaxBytes } : {}),
      token,
      corsOrigins: v['cors-origin'] ?? list(env.FLOWTRACE_CORS_ORIGINS),
      allowedHosts: v['allowed-host'] ?? list(env.FLOWTRACE_ALLOWED_HOSTS),
      trustProxy: v['trust-proxy'] === true || env.FLOWTRACE_TRUST_PROXY === 'true',
      maxBodyBytes: maxBody ? Number(maxBody) : DEFAULT_MAX_BODY_BYTES,
      ...(maxConnections !== undefined ? { maxConnections } : {}),
      ...(maxStreams !== undefined ? { maxStreams } : {}),
      traceUrl,
      rerunUrl,
    },
  };
}

