/** Budget of executions that declare none. */
export const DEFAULT_TIMEOUT_MS = 5 * 60_000;
/** Largest accepted request body, after gzip inflation. */
export const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024;
/**
 * Ingest limits on slow or hostile clients. An OTel exporter sends its headers and a whole batch
 * at once and gives up by itself after 10 s (its default `timeoutMillis`), so none of these is
 * ever reached by one.
 */
/** Time to receive a request's headers (Node's `headersTimeout`). */
export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
/** Time an ingest body may go without a byte arriving. */
export const DEFAULT_BODY_IDLE_TIMEOUT_MS = 10_000;
/** Time an ingest body may take to arrive whole, from the end of its headers. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;
/**
 * Time a body that has arrived may wait for a decoding/storing slot before it is answered 503: a
 * few group commits, well inside the 10 s an exporter gives a request.
 */
export const DEFAULT_INGEST_WAIT_MS = 2_000;
/** Bytes held, across all requests, by ingest bodies still being read (after inflation). */
export const DEFAULT_MAX_READING_BYTES = 64 * 1024 * 1024;
/**
 * Live streams (GET /api/stream) served at once. Each holds a file descriptor: at the common limit
 * of 1,024 this leaves over 800 for ingest connections, the database and forwarding.
 */
export const DEFAULT_MAX_STREAMS = 200;
/**
 * Bytes a live stream may have waiting for its client when more is to be sent (about a thousand
 * list rows); a client further behind is told to read everything again and disconnected.
 */
export const DEFAULT_STREAM_BUFFER_BYTES = 1024 * 1024;
/**
 * Fewest PostgreSQL connections a collector may keep: an ingest transaction makes its new
 * executions on a second connection while it holds the first.
 */
export const MIN_DB_POOL = 2;
