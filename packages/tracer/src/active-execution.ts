import { createContextKey, type Context } from '@opentelemetry/api';

/**
 * An execution already open in the OTel context, such as an MCP tool call. A flow that starts
 * under it is one of its steps, not an execution of its own, and shares its id.
 */
export interface ActiveExecution {
  executionId: string;
  /** Depth of the span that opened the execution; flows under it are one deeper. */
  depth: number;
}

const ACTIVE_EXECUTION = createContextKey('flowtrace.active-execution');

export function withActiveExecution(ctx: Context, execution: ActiveExecution): Context {
  return ctx.setValue(ACTIVE_EXECUTION, execution);
}

export function getActiveExecution(ctx: Context): ActiveExecution | undefined {
  return ctx.getValue(ACTIVE_EXECUTION) as ActiveExecution | undefined;
}
