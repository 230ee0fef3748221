/** Budget of executions that declare none. */
export const DEFAULT_TIMEOUT_MS = 5 * 60_000;
/** Largest accepted request body, after gzip inflation. */
export const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024;
