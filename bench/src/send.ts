import type { Encoding } from './spans.js';

/**
 * Posting OTLP request bodies to a collector the way the OTel exporter does: several requests in
 * flight at once (one per sender), each retried on 503/429 until it is acknowledged. Shared by
 * the ingest, big-execution and query benchmarks so they all load the collector alike.
 */

export const CONTENT_TYPE: Record<Encoding, string> = { protobuf: 'application/x-protobuf', json: 'application/json' };

export interface Sent {
  seconds: number;
  requests: number;
  /** Bytes of every HTTP response the collector wrote (status line, headers, body), retries included. */
  responseBytes: number;
}

/**
 * Sends every body, `senders` at a time, in the order given (a sender takes the next body when
 * its previous one is acknowledged). `bodies` may be a lazy iterator, so huge seeds are produced
 * as they are sent rather than held in memory.
 */
export async function sendBodies(url: string, bodies: Iterable<Uint8Array<ArrayBuffer>>, encoding: Encoding, senders: number): Promise<Sent> {
  const iterator = bodies[Symbol.iterator]();
  let requests = 0;
  let responseBytes = 0;
  const start = performance.now();
  const sender = async () => {
    for (let next = iterator.next(); !next.done; next = iterator.next()) {
      for (;;) {
        const response = await fetch(`${url}/v1/traces`, { method: 'POST', body: next.value, headers: { 'content-type': CONTENT_TYPE[encoding] } });
        const body = await response.arrayBuffer();
        responseBytes += responseSize(response, body.byteLength);
        if (response.status === 200) break;
        if (response.status !== 503 && response.status !== 429) throw new Error(`ingest answered ${response.status}: ${Buffer.from(body).toString()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      requests++;
    }
  };
  await Promise.all(Array.from({ length: senders }, sender));
  return { seconds: (performance.now() - start) / 1000, requests, responseBytes };
}

/**
 * The bytes of one HTTP/1.1 response as it went over the socket, rebuilt from what fetch hands
 * back: `HTTP/1.1 200 OK\r\n`, one `name: value\r\n` per header, `\r\n`, the body. fetch keeps
 * every header Node's server wrote (Date, Connection, Keep-Alive, Content-Length…) and the body
 * is sent with a Content-Length (not chunked), so this is exact to within a few bytes — and a
 * response is ~200 bytes against ~300 KB of request, so any slack is noise.
 */
export function responseSize(response: Response, bodyBytes: number): number {
  let bytes = `HTTP/1.1 ${response.status} ${response.statusText}\r\n`.length + 2 + bodyBytes;
  response.headers.forEach((value, name) => (bytes += name.length + 2 + Buffer.byteLength(value) + 2));
  return bytes;
}
