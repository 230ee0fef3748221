import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/**
 * A cap on open connections, so clients that hold connections (live streams, idle keep-alives,
 * a flood) can never take the file descriptors the database and ingest need. Past it a new
 * connection is answered at once — 503 with a message and `Retry-After`, written on the raw
 * socket before any request is read — and closed. Node's own `maxConnections` only drops it.
 */
export function capConnections(server: Server, max: number, onRefused: () => void): void {
  let open = 0;
  server.on('connection', (socket: Socket) => {
    if (open >= max) {
      onRefused();
      const body = JSON.stringify({
        error: 'too_many_connections',
        message: `the collector has ${max} connections open, its limit: retry later`,
      });
      socket.end(
        `HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      return;
    }
    open++;
    socket.once('close', () => open--);
  });
}

/**
 * The default cap: three quarters of the process's open-file limit (Linux tells it in
 * /proc/self/limits), leaving the rest to the database, its journal and the worker threads;
 * 768 — three quarters of the common 1,024 — where it cannot be read.
 */
export function defaultMaxConnections(): number {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = Number(line?.split(/\s{2,}/)[1]);
    if (Number.isFinite(soft) && soft > 0) return Math.max(64, Math.floor(soft * 0.75));
  } catch {
    // not Linux
  }
  return 768;
}
