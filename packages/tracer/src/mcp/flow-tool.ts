import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { AnySchema, ZodRawShapeCompat } from '@modelcontextprotocol/sdk/server/zod-compat.js';
import type { CallToolResult, ToolAnnotations } from '@modelcontextprotocol/sdk/types.js';
import type { Core, Flow } from '@pumped-fn/core-next';
import { timeoutTag } from '../attributes.js';
import * as sc from '@flowtrace/semconv';
import { declareFlowTool } from './server.js';
import { currentCall } from './traced-transport.js';

type Schema = ZodRawShapeCompat | AnySchema;
interface ToolConfig {
  title?: string;
  description?: string;
  inputSchema?: Schema;
  outputSchema?: Schema;
  annotations?: ToolAnnotations;
}

export interface FlowToolOptions {
  name: string;
  title?: string;
  description?: string;
  /** Zod shape (or schema) of the arguments, as `registerTool` takes it. */
  inputSchema?: Schema;
  /** Zod shape of the output; when given, the output is returned as structured content. */
  outputSchema?: Schema;
  annotations?: ToolAnnotations;
  /** Grouping id in the Usage tab. Default: the flow's name. */
  flowId?: string;
  /**
   * Aborts the flow's signal after this many ms; the call's record gets this deadline, and a
   * flow that runs out of it ends the call `timeout` (not `tool_error`).
   */
  timeoutMs?: number;
}

/**
 * Publishes a pumped-fn flow as an MCP tool: each call runs `scope.exec({ flow, input: args })`
 * and answers with the flow's output (as text, and as structured content when it is an object);
 * a failing flow answers an `isError` result with the error's message. With
 * `instrumentMcpServer`, the flow's spans sit under the tool span in one execution.
 */
export function registerFlowTool<I, O>(
  server: McpServer,
  scope: Core.Scope,
  flow: Flow.Flow<I, O>,
  options: FlowToolOptions,
) {
  // Tagged once, here: a budget out of range is refused when the tool is defined.
  const budget = options.timeoutMs === undefined ? undefined : timeoutTag(options.timeoutMs);
  declareFlowTool(server, options.name, {
    flowId: options.flowId ?? flow.definition.name,
    flowName: flow.definition.name,
    ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
  });
  const config: ToolConfig = {};
  if (options.title !== undefined) config.title = options.title;
  if (options.description !== undefined) config.description = options.description;
  if (options.inputSchema !== undefined) config.inputSchema = options.inputSchema;
  if (options.outputSchema !== undefined) config.outputSchema = options.outputSchema;
  if (options.annotations !== undefined) config.annotations = options.annotations;

  const run = async (args: unknown, extra: { signal?: AbortSignal }): Promise<CallToolResult> => {
    const execution = scope.exec({
      flow,
      input: args as I,
      ...(budget ? { timeout: budget.value, tags: [budget] } : {}),
    });
    // A client that cancels the request aborts the flow's signal.
    let cancelled = false;
    const cancel = () => {
      cancelled = true;
      execution.abort.abort(extra.signal?.reason ?? new Error('the MCP request was cancelled'));
    };
    extra.signal?.addEventListener('abort', cancel, { once: true });
    try {
      const output = await execution.result;
      const result: CallToolResult = { content: [{ type: 'text', text: toText(output) }] };
      if (isRecord(output)) result.structuredContent = output;
      return result;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      // Only the timeout and the client abort this execution's own signal.
      const call = currentCall();
      if (call && options.timeoutMs && !cancelled && execution.abort.signal.aborted) {
        const reason = `${flow.definition.name} ran out of its ${options.timeoutMs} ms`;
        call.outcome = { errorType: sc.ERROR_TYPE_VALUE_TIMEOUT, message, abort: { kind: 'timeout', reason } };
      }
      return { isError: true, content: [{ type: 'text', text: message }] };
    } finally {
      extra.signal?.removeEventListener('abort', cancel);
    }
  };
  // registerTool's callback takes (args, extra) with an input schema and (extra) without one.
  const callback = options.inputSchema === undefined ? (extra: { signal?: AbortSignal }) => run(undefined, extra) : run;
  return (server.registerTool as (name: string, config: ToolConfig, cb: unknown) => ReturnType<McpServer['registerTool']>)(
    options.name,
    config,
    callback,
  );
}

function toText(value: unknown): string {
  if (typeof value === 'string') return value;
  return JSON.stringify(value) ?? String(value);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
