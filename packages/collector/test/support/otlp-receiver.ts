import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request an OTLP receiver got. */
export interface ReceivedRequest {
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/**
 * A small OTLP/HTTP receiver on loopback that keeps every request it gets and answers each with
 * `answer` (default 200 with an empty response in the request's encoding). Started on `port`
 * when given, so a test can stop it and start it again where the collector forwards.
 */
export async function startReceiver(options: { port?: number; answer?: (request: ReceivedRequest) => { status: number; headers?: Record<string, string> } } = {}) {
  const requests: ReceivedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request = { path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) };
      requests.push(request);
      const { status, headers = {} } = options.answer?.(request) ?? { status: 200 };
      const json = (req.headers['content-type'] ?? '').startsWith('application/json');
      res.writeHead(status, { 'content-type': json ? 'application/json' : 'application/x-protobuf', ...headers });
      res.end(json ? '{}' : '');
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
