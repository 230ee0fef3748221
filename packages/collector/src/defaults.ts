/** Budget of executions that declare none. */
export const DEFAULT_TIMEOUT_MS = 5 * 60_000;
/** Largest accepted request body, after gzip inflation. */
export const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024;
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
