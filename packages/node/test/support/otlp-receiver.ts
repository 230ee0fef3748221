import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A minimal OTLP/HTTP endpoint on loopback that keeps every request it gets. */
export async function startReceiver() {
  const requests: ReceivedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      requests.push({ path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) });
      const json = req.headers['content-type'] === 'application/json';
      res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' });
      res.end(json ? '{}' : undefined);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

interface JsonAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number;
}
interface JsonSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Array<{ key: string; value: JsonAnyValue }>;
}
interface JsonRequest {
  resourceSpans: Array<{
    resource: { attributes: Array<{ key: string; value: JsonAnyValue }> };
    scopeSpans: Array<{ spans: JsonSpan[] }>;
  }>;
}

/** Spans of OTLP/JSON requests, flattened with their attributes and resource as plain objects. */
export function jsonSpans(requests: ReceivedRequest[]) {
  const plain = (attrs: Array<{ key: string; value: JsonAnyValue }>) =>
    Object.fromEntries(attrs.map(({ key, value }) => [key, value.stringValue ?? value.boolValue ?? value.intValue ?? value.doubleValue]));
  return requests.flatMap((request) => {
    const body = JSON.parse(request.body.toString()) as JsonRequest;
    return body.resourceSpans.flatMap((rs) =>
      rs.scopeSpans.flatMap((ss) =>
        ss.spans.map((span) => ({ ...span, attributes: plain(span.attributes), resource: plain(rs.resource.attributes) })),
      ),
    );
  });
}
