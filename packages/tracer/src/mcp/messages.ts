import type { Attributes } from '@opentelemetry/api';
import * as sc from '@flowtrace/semconv';
import type { Meta } from './propagation.js';

/**
 * What a JSON-RPC message of MCP says, read from its shape alone: the tracer sees messages as
 * they cross a transport, so it needs no SDK schema (and works with every 1.x release).
 */
export type RequestId = string | number;

export interface Request {
  jsonrpc?: unknown;
  id: RequestId;
  method: string;
  params?: Params;
}
export interface Notification {
  jsonrpc?: unknown;
  method: string;
  params?: Params;
}
export interface Response {
  jsonrpc?: unknown;
  id: RequestId;
  result?: unknown;
  error?: { code?: unknown; message?: unknown };
}
export interface Params {
  name?: unknown;
  uri?: unknown;
  arguments?: unknown;
  requestId?: unknown;
  reason?: unknown;
  protocolVersion?: unknown;
  ref?: { type?: unknown; name?: unknown; uri?: unknown };
  _meta?: Meta;
  [key: string]: unknown;
}

export type Message = { kind: 'request'; message: Request } | { kind: 'notification'; message: Notification } | { kind: 'response'; message: Response };

export function classify(raw: unknown): Message | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const m = raw as Record<string, unknown>;
  const hasId = typeof m.id === 'string' || typeof m.id === 'number';
  if (typeof m.method === 'string') {
    return hasId ? { kind: 'request', message: m as unknown as Request } : { kind: 'notification', message: m as unknown as Notification };
  }
  if (hasId && ('result' in m || 'error' in m)) return { kind: 'response', message: m as unknown as Response };
  return undefined;
}

export const TOOLS_CALL = 'tools/call';
export const CANCELLED = 'notifications/cancelled';
export const INITIALIZE = 'initialize';

/** Methods whose target (a tool or prompt name) belongs in the span name. */
const TOOL_METHODS = new Set([TOOLS_CALL]);
const PROMPT_METHODS = new Set(['prompts/get']);
/** Methods that carry a resource URI in `params.uri` (never in the name: too many values). */
const RESOURCE_METHODS = new Set(['resources/read', 'resources/subscribe', 'resources/unsubscribe', 'notifications/resources/updated']);

/** The tool or prompt a request names, for the span name; undefined for other methods. */
export function targetOf(message: Request | Notification): string | undefined {
  const params = message.params;
  if (TOOL_METHODS.has(message.method) || PROMPT_METHODS.has(message.method)) {
    return typeof params?.name === 'string' ? params.name : undefined;
  }
  // completion/complete completes a prompt's argument (ref/prompt) or a resource template's.
  if (message.method === 'completion/complete' && params?.ref?.type === 'ref/prompt' && typeof params.ref.name === 'string') {
    return params.ref.name;
  }
  return undefined;
}

/** `{mcp.method.name} {target}`, as the MCP conventions name spans. */
export function spanNameOf(message: Request | Notification): string {
  const target = targetOf(message);
  return target === undefined ? message.method : `${message.method} ${target}`;
}

/** The attributes a request or notification carries by itself. */
export function messageAttributes(message: Request | Notification): Attributes {
  const attributes: Attributes = { [sc.ATTR_MCP_METHOD_NAME]: message.method };
  if ('id' in message && message.id !== undefined) attributes[sc.ATTR_JSONRPC_REQUEST_ID] = String(message.id);
  if (message.jsonrpc !== undefined && message.jsonrpc !== '2.0') attributes[sc.ATTR_JSONRPC_PROTOCOL_VERSION] = String(message.jsonrpc);
  const params = message.params;
  const target = targetOf(message);
  if (TOOL_METHODS.has(message.method) && target !== undefined) {
    attributes[sc.ATTR_GEN_AI_TOOL_NAME] = target;
    attributes[sc.ATTR_GEN_AI_OPERATION_NAME] = sc.GEN_AI_OPERATION_NAME_VALUE_EXECUTE_TOOL;
  } else if (target !== undefined) {
    attributes[sc.ATTR_GEN_AI_PROMPT_NAME] = target;
  }
  if (RESOURCE_METHODS.has(message.method) && typeof params?.uri === 'string') attributes[sc.ATTR_MCP_RESOURCE_URI] = params.uri;
  if (message.method === 'completion/complete' && typeof params?.ref?.uri === 'string') attributes[sc.ATTR_MCP_RESOURCE_URI] = params.ref.uri;
  return attributes;
}

/** The protocol version an `initialize` request asks for or its result agrees on. */
export function protocolVersionIn(value: unknown): string | undefined {
  const version = (value as { protocolVersion?: unknown } | undefined)?.protocolVersion;
  return typeof version === 'string' ? version : undefined;
}

/** The first text of a tool result's content, the error message a person reads. */
export function resultText(result: unknown): string | undefined {
  const content = (result as { content?: unknown } | undefined)?.content;
  if (!Array.isArray(content)) return undefined;
  const text = content.find((c): c is { type: 'text'; text: string } => c?.type === 'text' && typeof c.text === 'string');
  return text?.text;
}
