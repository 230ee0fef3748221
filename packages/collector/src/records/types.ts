/**
 * The collector's public data model: what the HTTP API returns and the viewer renders.
 * Times are ISO 8601 strings; durations are milliseconds.
 */

export type ExecutionStatus = 'pending' | 'fulfilled' | 'error';
export type ErrorKind = 'exception' | 'tool_error' | 'timeout' | 'cancelled' | 'interrupted';
export type NodeStatus = 'fulfilled' | 'error';

/** Why an execution failed, taken from its deepest failing step. */
export interface ErrorInfo {
  message: string;
  type: string;
  stack?: string;
  /** Span id of the failing node (the execution's own span when no step failed). */
  nodeId: string;
  nodeName: string;
}

/** One step of an execution (a child flow, an fn step, a parallel group, …). */
export interface ExecutionNode {
  /** Span id. */
  id: string;
  parentId: string | null;
  name: string;
  /** `flow` · `fn` · `parallel` · `parallel-settled` · `context` · `tool`, or `span` for others. */
  kind: string;
  key: string | null;
  flowName: string | null;
  depth: number;
  index: number | null;
  status: NodeStatus;
  startedAt: string;
  endedAt: string;
  durationMs: number;
  input?: unknown;
  output?: unknown;
  /** Present when the tracer cut the value to its byte cap. */
  inputTruncated?: true;
  outputTruncated?: true;
  error?: { message: string; type: string; stack?: string };
  /** Where this step's output lands in the record's `data`; null when it adds nothing. */
  dataKey: string | null;
}

export interface ExecutionRecord {
  id: string;
  flowId: string;
  flowName: string;
  toolName?: string;
  traceId: string;
  serviceName: string;
  serviceInstanceId?: string;
  status: ExecutionStatus;
  errorKind?: ErrorKind;
  startedAt: string;
  endedAt?: string;
  durationMs?: number;
  /** The time budget the timeout rule used. */
  timeoutMs: number;
  /** Set when the execution's abort signal fired. */
  cancelled?: { reason: string; kind: string };
  /** The input of the execution: flow input or tool arguments. */
  initialParams?: unknown;
  /** How many steps the execution has. */
  nodeCount: number;
  /** Every step in tree order; for a large execution the first page of them (see `nodesNext`). */
  nodes: ExecutionNode[];
  /** Present when `nodes` is only the first page: the cursor of the next one (nodes endpoint). */
  nodesNext?: string;
  /** Step outputs keyed by step key (or flow name, or span name): the data after the last node given. */
  data: Record<string, unknown>;
  errorInfo?: ErrorInfo;
  result?: unknown;
  tags: Record<string, unknown>;
}

/** What the list shows of an execution. */
export interface ExecutionListItem {
  id: string;
  flowId: string;
  flowName: string;
  toolName?: string;
  status: ExecutionStatus;
  errorKind?: ErrorKind;
  errorMessage?: string;
  startedAt: string;
  endedAt?: string;
  durationMs?: number;
  timeoutMs: number;
  /** A short text of the first parameter. */
  preview: string;
}

export interface FlowSummary {
  flowId: string;
  flowName: string;
  executionCount: number;
  lastStatus: ExecutionStatus | null;
  lastStartedAt: string | null;
  deleted: boolean;
}

export interface Page<T> {
  items: T[];
  page: number;
  limit: number;
  total: number;
  totalPages: number;
}
