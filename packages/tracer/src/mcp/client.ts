import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { injectIntoParams, type Meta } from './propagation.js';

const INSTRUMENTED = Symbol.for('flowtrace.mcp.client');

/**
 * Makes every request the client sends carry the active trace context in `params._meta`, so
 * agent → MCP server → flow → steps is one trace. Returns the same client.
 */
export function instrumentMcpClient<C extends Client>(client: C): C {
  const target = client as C & { [INSTRUMENTED]?: true };
  if (target[INSTRUMENTED]) return client;
  target[INSTRUMENTED] = true;
  const request = client.request.bind(client);
  client.request = ((message: { method: string; params?: { _meta?: Meta } }, ...rest: unknown[]) =>
    (request as (...args: unknown[]) => unknown)({ ...message, params: injectIntoParams(message.params) }, ...rest)) as C['request'];
  return client;
}
