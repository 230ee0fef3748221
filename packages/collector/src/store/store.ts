import type { Span } from '../otlp/span.js';
import type {
  ExecutionListItem,
  ExecutionRecord,
  ExecutionStatus,
  FlowSummary,
  Page,
} from '../records/types.js';

/** A record that was created or changed, with the sequence number of that change. */
export interface ExecutionChange {
  seq: number;
  item: ExecutionListItem;
}

export interface ExecutionQuery {
  flowId: string;
  page: number;
  limit: number;
  status?: ExecutionStatus;
  /** Started at or after (ms since the epoch). */
  from?: number;
  /** Started before (ms since the epoch). */
  to?: number;
  /** Text searched in the initial parameters. */
  q?: string;
}

/**
 * Everything the collector keeps, behind one interface so another database can follow.
 * Every write method is one transaction: it is all stored, or nothing is.
 */
export interface Store {
  /** Stores the spans of one OTLP request and updates the records they touch. */
  ingest(spans: readonly Span[], now: number): ExecutionChange[];
  /** Re-evaluates pending executions whose time budget ran out by `now`. */
  reconcile(now: number): ExecutionChange[];
  listFlows(): FlowSummary[];
  listExecutions(query: ExecutionQuery): Page<ExecutionListItem>;
  getExecution(id: string): ExecutionRecord | undefined;
  /** Hides a flow from `listFlows`; its executions stay. Returns false for an unknown flow. */
  deleteFlow(flowId: string, now: number): boolean;
  /** Every stored span of a trace, flowtrace's or not. */
  getTrace(traceId: string): Span[];
  /** Changes after `seq`, oldest first, for resuming a live stream. */
  changesSince(seq: number, flowId: string | undefined, limit: number): ExecutionChange[];
  /** The sequence number of the latest change. */
  lastSeq(): number;
  close(): void;
}
