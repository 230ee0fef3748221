import { randomUUID } from 'node:crypto';
import { diag, trace, type Attributes } from '@opentelemetry/api';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { withActiveExecution } from '../active-execution.js';
import { AttributeMapper } from '../attributes.js';
import * as sc from '@flowtrace/semconv';
import type { TracingExtensionOptions } from '../types.js';
import { TRACER_NAME, TRACER_VERSION } from '../version.js';
import { TOOLS_CALL } from './messages.js';
import { mcpMetrics } from './metrics.js';
import { watchHttpPeer } from './network.js';
import { ToolRegistry } from './tool-registry.js';
import { traceTransport } from './traced-transport.js';

export interface McpServerTracingOptions extends Pick<TracingExtensionOptions, 'tracer' | 'captureData' | 'maxDataBytes' | 'redact'> {
  /** Grouping id of a tool's executions. Default: the flow id of a flow tool, else the tool name. */
  flowId?: (toolName: string) => string | undefined;
}

/** What `registerFlowTool` tells the instrumentation about a tool. */
export interface FlowToolDeclaration {
  flowId: string;
  flowName: string;
  timeoutMs?: number;
}

interface Connectable {
  connect(transport: object, ...rest: unknown[]): Promise<void>;
  readonly transport?: unknown;
}

const INSTRUMENTED = Symbol.for('flowtrace.mcp.server');
/** Flow tools registered on a server: tool name → the flow it runs. */
const flowTools = new WeakMap<object, Map<string, FlowToolDeclaration>>();

/** Called by `registerFlowTool`, so the tool's span records the flow it runs and its budget. */
export function declareFlowTool(server: McpServer, toolName: string, flow: FlowToolDeclaration): void {
  let tools = flowTools.get(server);
  if (!tools) flowTools.set(server, (tools = new Map()));
  tools.set(toolName, flow);
}

/**
 * Traces an MCP server — an `McpServer` or a low-level `Server` — on every connection it makes
 * from now on: a SERVER span for every request and notification it receives, and a CLIENT span
 * for every one it sends (sampling, elicitation, roots), with the OTel MCP conventions,
 * continuing the caller's trace from `params._meta`; and the MCP duration metrics through the
 * global MeterProvider. A `tools/call` of a tool the server has opens a flowtrace execution:
 * the flows the tool runs are its steps. Responses are unchanged.
 *
 * Call it before `connect`; on an `McpServer`, before registering tools (the tools it learns
 * of are those registered after, and every `registerFlowTool` tool).
 */
export function instrumentMcpServer<S extends McpServer | Server>(server: S, options: McpServerTracingOptions = {}): S {
  const target = server as S & { [INSTRUMENTED]?: true };
  if (target[INSTRUMENTED]) return server;
  target[INSTRUMENTED] = true;
  const highLevel = isMcpServer(server);
  const protocol = (highLevel ? server.server : server) as unknown as Connectable;
  // A low-level Server answers tools/call itself: every call counts as one of its tools.
  const registry = highLevel ? new ToolRegistry(server) : undefined;
  const tracer = options.tracer ?? trace.getTracer(TRACER_NAME, TRACER_VERSION);
  const mapper = new AttributeMapper({ ...options, flowId: undefined });
  const metrics = mcpMetrics();
  if (protocol.transport) diag.warn('flowtrace: instrumentMcpServer was called on a connected server; only its next connections are traced');

  const openExecution = (toolName: string, attributes: Attributes) => {
    const flow = flowTools.get(server)?.get(toolName);
    if (!flow && registry && !registry.runs(toolName)) return undefined;
    const executionId = randomUUID();
    attributes[sc.ATTR_EXECUTION_ID] = executionId;
    attributes[sc.ATTR_EXECUTION_ROOT] = true;
    attributes[sc.ATTR_DEPTH] = 0;
    attributes[sc.ATTR_STEP_KIND] = sc.STEP_KIND_TOOL;
    attributes[sc.ATTR_FLOW_ID] = flowIdOf(toolName, flow);
    attributes[sc.ATTR_FLOW_NAME] = flow?.flowName ?? toolName;
    if (flow?.timeoutMs) attributes[sc.ATTR_TIMEOUT_MS] = flow.timeoutMs;
    return { executionId, depth: 0 };
  };
  const flowIdOf = (toolName: string, flow: FlowToolDeclaration | undefined): string => {
    try {
      return options.flowId?.(toolName) ?? flow?.flowId ?? toolName;
    } catch {
      return flow?.flowId ?? toolName;
    }
  };

  const connect = protocol.connect.bind(protocol);
  protocol.connect = (transport: object, ...rest: unknown[]) => {
    watchHttpPeer(transport);
    const traced = traceTransport(transport, {
      role: 'server',
      tracer,
      mapper,
      metrics,
      onRequestReceived(request, attributes) {
        const toolName = attributes[sc.ATTR_GEN_AI_TOOL_NAME];
        if (request.method !== TOOLS_CALL || typeof toolName !== 'string') return undefined;
        const execution = openExecution(toolName, attributes);
        return execution && ((ctx) => withActiveExecution(ctx, execution));
      },
    });
    return connect(traced, ...rest);
  };
  return server;
}

function isMcpServer(server: McpServer | Server): server is McpServer {
  const inner = (server as { server?: { connect?: unknown } }).server;
  return typeof inner?.connect === 'function';
}
