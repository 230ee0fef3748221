import { diag, trace } from '@opentelemetry/api';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { AttributeMapper } from '../attributes.js';
import { TRACER_NAME, TRACER_VERSION } from '../version.js';
import { mcpMetrics } from './metrics.js';
import type { McpServerTracingOptions } from './server.js';
import { traceTransport } from './traced-transport.js';

export type McpClientTracingOptions = Omit<McpServerTracingOptions, 'flowId'>;

const INSTRUMENTED = Symbol.for('flowtrace.mcp.client');

/**
 * Traces an MCP client on every connection it makes from now on: a CLIENT span for every
 * request and notification it sends — its context carried to the server in `params._meta`, so
 * agent → MCP server → flow → steps is one trace — and a SERVER span for every one the server
 * sends it (sampling, elicitation, roots, pings); plus `mcp.client.*` duration metrics.
 * Call it before `connect`. Returns the same client.
 */
export function instrumentMcpClient<C extends Client>(client: C, options: McpClientTracingOptions = {}): C {
  const target = client as C & { [INSTRUMENTED]?: true };
  if (target[INSTRUMENTED]) return client;
  target[INSTRUMENTED] = true;
  if (client.transport) diag.warn('flowtrace: instrumentMcpClient was called on a connected client; only its next connections are traced');
  const tracer = options.tracer ?? trace.getTracer(TRACER_NAME, TRACER_VERSION);
  const mapper = new AttributeMapper(options);
  const metrics = mcpMetrics();
  const connect = client.connect.bind(client) as (transport: object, ...rest: unknown[]) => Promise<void>;
  (client as { connect: (transport: object, ...rest: unknown[]) => Promise<void> }).connect = (transport, ...rest) =>
    connect(traceTransport(transport, { role: 'client', tracer, mapper, metrics }), ...rest);
  return client;
}
