import { context, createContextKey, type Attributes } from '@opentelemetry/api';
import * as sc from '@flowtrace/semconv';

/**
 * The network under an MCP session, as the MCP conventions' "Recording MCP transport" table
 * records it: stdio is a `pipe`; Streamable HTTP and HTTP+SSE are `tcp` with `http`.
 */

/** The HTTP request an MCP message arrived in: who sent it, over which HTTP version. */
interface HttpPeer {
  address?: string;
  port?: number;
  httpVersion?: string;
}

const HTTP_PEER = createContextKey('flowtrace.mcp.http-peer');

interface NodeRequestLike {
  httpVersion?: unknown;
  socket?: { remoteAddress?: unknown; remotePort?: unknown };
}
type HandleRequest = (req: NodeRequestLike, ...rest: unknown[]) => Promise<unknown>;

/**
 * A Node HTTP server transport hands its messages over while it handles `handleRequest(req,
 * res)`; wrapping that public method puts the request's peer in the OTel context, where the
 * message's span finds it. Transports without one (stdio, web-standard) are left alone.
 */
export function watchHttpPeer(transport: object): void {
  const target = transport as { handleRequest?: HandleRequest };
  const handleRequest = target.handleRequest;
  if (typeof handleRequest !== 'function') return;
  target.handleRequest = function (this: unknown, req: NodeRequestLike, ...rest: unknown[]) {
    const peer: HttpPeer = {};
    const socket = req?.socket;
    if (typeof socket?.remoteAddress === 'string') peer.address = socket.remoteAddress;
    if (typeof socket?.remotePort === 'number') peer.port = socket.remotePort;
    if (typeof req?.httpVersion === 'string') peer.httpVersion = req.httpVersion === '2.0' ? '2' : req.httpVersion;
    return context.with(context.active().setValue(HTTP_PEER, peer), () => handleRequest.call(this, req, ...rest));
  };
}

/**
 * Network attributes of a message: from the HTTP request it came in (a server over HTTP), else
 * from the kind of transport (class names are the SDK's public exports).
 */
export function networkAttributes(transport: object, extra: unknown): Attributes {
  const attributes: Attributes = {};
  const peer = context.active().getValue(HTTP_PEER) as HttpPeer | undefined;
  const overHttp = peer !== undefined || (extra as { requestInfo?: unknown } | undefined)?.requestInfo !== undefined;
  const kind = transport.constructor?.name ?? '';
  if (overHttp || /StreamableHTTP|SSE/.test(kind)) {
    attributes[sc.ATTR_NETWORK_TRANSPORT] = 'tcp';
    attributes[sc.ATTR_NETWORK_PROTOCOL_NAME] = 'http';
    if (peer?.httpVersion) attributes[sc.ATTR_NETWORK_PROTOCOL_VERSION] = peer.httpVersion;
    if (peer?.address) attributes[sc.ATTR_CLIENT_ADDRESS] = peer.address;
    if (peer?.port !== undefined) attributes[sc.ATTR_CLIENT_PORT] = peer.port;
  } else if (/Stdio/.test(kind)) {
    attributes[sc.ATTR_NETWORK_TRANSPORT] = 'pipe';
  }
  return attributes;
}

/** The HTTP header a Streamable HTTP client sends its protocol version in, after initialize. */
export function headerProtocolVersion(extra: unknown): string | undefined {
  const headers = (extra as { requestInfo?: { headers?: Record<string, unknown> } } | undefined)?.requestInfo?.headers;
  const version = headers?.['mcp-protocol-version'];
  return typeof version === 'string' ? version : undefined;
}
