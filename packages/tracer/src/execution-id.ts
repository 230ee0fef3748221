import type { ExecutionContext } from '@pumped-fn/core-next';

/**
 * The execution id of each traced execution, keyed by the abort controller of its top pumped-fn
 * context. That controller is the one thing a context and the `FlowExecution` returned by
 * `scope.exec` share (`execution.abort` is the top context's controller); pumped-fn hands
 * extensions the context's id, not `FlowExecution.id`. Not keyed by its signal: an AbortSignal
 * is a slow object to hash.
 */
const executionIds = new WeakMap<AbortController, string>();

const controllerOf = (ctx: ExecutionContext.Context) => (ctx as unknown as { abortController?: AbortController }).abortController;

export function rememberExecutionId(topCtx: ExecutionContext.Context, executionId: string): void {
  const controller = controllerOf(topCtx);
  if (controller) executionIds.set(controller, executionId);
}

/** What user code holds of an execution: a flow's `ctx`, or what `scope.exec` returned. */
export type ExecutionHandle = ExecutionContext.Context | { readonly abort: AbortController };

/**
 * The `flowtrace.execution.id` the collector records for the execution `handle` belongs to,
 * so a log line can name the record: pass a flow's `ctx` (at any depth, also inside an MCP
 * tool call) or the `FlowExecution` that `scope.exec` returned. `undefined` when the
 * execution was not traced (its scope has no tracing extension).
 *
 * @example
 * const execution = scope.exec({ flow: checkout, input });
 * logger.info({ executionId: executionIdOf(execution) }, 'checkout started');
 */
export function executionIdOf(handle: ExecutionHandle): string | undefined {
  if ('signal' in handle) {
    let top = handle;
    while (top.parent) top = top.parent;
    const controller = controllerOf(top);
    return controller && executionIds.get(controller);
  }
  return executionIds.get(handle.abort);
}
