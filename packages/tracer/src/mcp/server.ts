import { randomUUID } from 'node:crypto';
import {
  context,
  createContextKey,
  diag,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { withActiveExecution } from '../active-execution.js';
import { AttributeMapper } from '../attributes.js';
import * as sc from '../semconv.js';
import type { TracingExtensionOptions } from '../types.js';
import { TRACER_NAME, TRACER_VERSION } from '../version.js';
import { extractFromMeta, type Meta } from './propagation.js';
import { guard } from '../guard.js';

export interface McpServerTracingOptions extends Pick<TracingExtensionOptions, 'tracer' | 'captureData' | 'maxDataBytes' | 'redact'> {
  /** Grouping id of a tool's executions. Default: the flow id of a flow tool, else the tool name. */
  flowId?: (toolName: string) => string | undefined;
}

type Handler = (request: ToolCallRequest, extra: RequestExtra) => Promise<unknown>;
interface ToolCallRequest {
  method: string;
  params?: { name?: unknown; arguments?: unknown; _meta?: Meta };
}
interface RequestExtra {
  requestId?: string | number;
  sessionId?: string;
  requestInfo?: { headers?: Record<string, string | string[] | undefined> };
}
interface Internals {
  server: { _requestHandlers: Map<string, Handler>; setRequestHandler: (...args: unknown[]) => void };
  executeToolHandler?: (...args: unknown[]) => Promise<unknown>;
}

const TOOL_SPAN = createContextKey('flowtrace.mcp.tool-span');
const INSTRUMENTED = Symbol.for('flowtrace.mcp.server');
/** Flow tools registered on a server: tool name → the flow it runs. */
const flowTools = new WeakMap<McpServer, Map<string, { flowId: string; flowName: string }>>();

/** Called by `registerFlowTool`, so the tool span records the flow it runs. */
export function declareFlowTool(server: McpServer, toolName: string, flow: { flowId: string; flowName: string }): void {
  let tools = flowTools.get(server);
  if (!tools) flowTools.set(server, (tools = new Map()));
  tools.set(toolName, flow);
}

/**
 * Traces every `tools/call` on an `McpServer` — tools registered before or after, with
 * `registerTool` or `tool` — as a SERVER span `tools/call <tool>` with the MCP semantic
 * conventions, arguments and result, continuing the caller's trace from `params._meta`. The
 * span opens a flowtrace execution: flows the tool runs are its steps. Responses are unchanged.
 */
export function instrumentMcpServer<S extends McpServer>(server: S, options: McpServerTracingOptions = {}): S {
  const target = server as S & { [INSTRUMENTED]?: true };
  if (target[INSTRUMENTED]) return server;
  target[INSTRUMENTED] = true;
  const tracer: Tracer = options.tracer ?? trace.getTracer(TRACER_NAME, TRACER_VERSION);
  const mapper = new AttributeMapper({ ...options, flowId: undefined });
  const internals = server as unknown as Internals;
  const protocol = internals.server;
  let negotiatedVersion: string | undefined;

  const traced = (handler: Handler): Handler =>
    async function tracedToolCall(request, extra) {
      const started = guard(() => startToolSpan(request, extra));
      if (!started) return handler(request, extra);
      const { span, spanContext } = started;
      try {
        const result = (await context.with(spanContext, () => handler(request, extra))) as
          | { isError?: boolean; content?: unknown; structuredContent?: unknown }
          | undefined;
        guard(() => {
          const attributes: Attributes = {};
          const shown = result?.structuredContent ?? result?.content;
          const captured = shown === undefined ? undefined : mapper.json(shown);
          if (captured && mapper.captureData) attributes[sc.ATTR_GEN_AI_TOOL_CALL_RESULT] = captured.json;
          if (result?.isError) {
            attributes[sc.ATTR_ERROR_TYPE] = sc.ERROR_TYPE_VALUE_TOOL_ERROR;
            span.setStatus({ code: SpanStatusCode.ERROR, message: errorText(result.content) });
          }
          span.setAttributes(attributes);
        });
        return result;
      } catch (error) {
        // A JSON-RPC error (unknown method, elicitation required): the client gets an error response.
        guard(() => {
          if (error instanceof Error) span.recordException(error);
          span.setAttribute(sc.ATTR_ERROR_TYPE, (error as { code?: unknown })?.code?.toString() ?? 'error');
          span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
        });
        throw error;
      } finally {
        span.end();
      }
    };

  function startToolSpan(request: ToolCallRequest, extra: RequestExtra) {
    const toolName = typeof request.params?.name === 'string' ? request.params.name : 'unknown';
    const parent = extractFromMeta(request.params?._meta, context.active());
    const executionId = randomUUID();
    const flow = flowTools.get(server)?.get(toolName);
    const flowId = options.flowId?.(toolName) ?? flow?.flowId ?? toolName;
    const headers = extra.requestInfo?.headers;
    const headerVersion = headers?.['mcp-protocol-version'];
    const attributes: Attributes = {
      [sc.ATTR_MCP_METHOD_NAME]: 'tools/call',
      [sc.ATTR_GEN_AI_OPERATION_NAME]: sc.GEN_AI_OPERATION_NAME_VALUE_EXECUTE_TOOL,
      [sc.ATTR_GEN_AI_TOOL_NAME]: toolName,
      [sc.ATTR_EXECUTION_ID]: executionId,
      [sc.ATTR_EXECUTION_ROOT]: true,
      [sc.ATTR_DEPTH]: 0,
      [sc.ATTR_STEP_KIND]: sc.STEP_KIND_TOOL,
      [sc.ATTR_FLOW_ID]: flowId,
      [sc.ATTR_FLOW_NAME]: flow?.flowName ?? toolName,
    };
    if (extra.requestId !== undefined) attributes[sc.ATTR_JSONRPC_REQUEST_ID] = String(extra.requestId);
    if (extra.sessionId) attributes[sc.ATTR_MCP_SESSION_ID] = extra.sessionId;
    const version = typeof headerVersion === 'string' ? headerVersion : negotiatedVersion;
    if (version) attributes[sc.ATTR_MCP_PROTOCOL_VERSION] = version;
    // HTTP transports hand the request's headers over; stdio and in-memory ones do not.
    if (extra.requestInfo) attributes[sc.ATTR_NETWORK_TRANSPORT] = 'tcp';
    else if (isStdio(protocol)) attributes[sc.ATTR_NETWORK_TRANSPORT] = 'pipe';
    mapper.data(attributes, sc.ATTR_GEN_AI_TOOL_CALL_ARGUMENTS, sc.ATTR_INPUT_TRUNCATED, request.params?.arguments ?? {});

    const span = tracer.startSpan(`tools/call ${toolName}`, { kind: SpanKind.SERVER, attributes }, parent);
    const spanContext = withActiveExecution(trace.setSpan(parent, span), { executionId, depth: 0 }).setValue(TOOL_SPAN, span);
    return { span, spanContext };
  }

  // The McpServer installs its tools/call handler lazily (on the first registered tool) and may
  // replace it: wrap whatever is installed now and whatever is installed later.
  const wrapInstalled = () => {
    const installed = protocol._requestHandlers.get('tools/call');
    if (installed && !(installed as { [INSTRUMENTED]?: true })[INSTRUMENTED]) {
      const wrapped = traced(installed);
      (wrapped as { [INSTRUMENTED]?: true })[INSTRUMENTED] = true;
      protocol._requestHandlers.set('tools/call', wrapped);
    }
    const initialize = protocol._requestHandlers.get('initialize');
    if (initialize && !(initialize as { [INSTRUMENTED]?: true })[INSTRUMENTED]) {
      const wrapped: Handler = async (request, extra) => {
        const result = (await initialize(request, extra)) as { protocolVersion?: string };
        negotiatedVersion = result?.protocolVersion;
        return result;
      };
      (wrapped as { [INSTRUMENTED]?: true })[INSTRUMENTED] = true;
      protocol._requestHandlers.set('initialize', wrapped);
    }
  };
  const setRequestHandler = protocol.setRequestHandler.bind(protocol);
  protocol.setRequestHandler = (...args: unknown[]) => {
    setRequestHandler(...args);
    wrapInstalled();
  };
  wrapInstalled();

  // The SDK turns a throwing tool callback into an `isError` result; record the exception on
  // the tool span first, so its type, message and stack are kept.
  const execute = internals.executeToolHandler;
  if (typeof execute === 'function') {
    internals.executeToolHandler = async (...args: unknown[]) => {
      try {
        return await execute.apply(server, args);
      } catch (error) {
        const span = context.active().getValue(TOOL_SPAN) as Span | undefined;
        guard(() => span?.recordException(error instanceof Error ? error : String(error)));
        throw error;
      }
    };
  } else {
    diag.warn('flowtrace: this MCP SDK version hides tool exceptions; tool errors are traced without their stack');
  }
  return server;
}

function isStdio(protocol: unknown): boolean {
  const transport = (protocol as { transport?: object }).transport;
  return transport?.constructor?.name === 'StdioServerTransport';
}

function errorText(content: unknown): string {
  if (Array.isArray(content)) {
    const text = content.find((c): c is { type: 'text'; text: string } => c?.type === 'text' && typeof c.text === 'string');
    if (text) return text.text;
  }
  return 'tool returned an error';
}

