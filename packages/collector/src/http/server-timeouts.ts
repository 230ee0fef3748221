import type { ServerOptions } from 'node:http';

/**
 * Node's own request limits, set to agree with ingest's. Node answers a request whose headers
 * are late with a bare 408 (its encoding is not known yet). Its whole-request limit is only a
 * backstop, past the longest time ingest allows (headers, then the body), so that ingest's own
 * 408 with an OTLP body always comes first; it still cuts off what no route reads, such as the
 * rest of a body answered early.
 */
export function serverTimeouts(headersTimeoutMs: number, requestTimeoutMs: number): ServerOptions {
  return {
    headersTimeout: headersTimeoutMs,
    requestTimeout: headersTimeoutMs + requestTimeoutMs + 1000,
    // Node checks these limits every 30 s by default, which would stretch a 10 s limit to 40 s.
    connectionsCheckingInterval: Math.max(50, Math.min(1000, headersTimeoutMs / 2)),
  };
}
