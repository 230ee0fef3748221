/** The collector's data model, imported type-only: the viewer and collector meet on the wire. */
import type * as Contract from '@flowtrace/collector/types';

export type { ErrorKind, ExecutionStatus, Page } from '@flowtrace/collector/types';

// TEMPORARY: the running-steps contract (node status `running`, no end while running, the list
// item's `runningStep`) as announced for the collector; the same types once it lands, then these
// lines go back to plain re-exports.
export type NodeStatus = Contract.NodeStatus | 'running';
export type ExecutionNode = Omit<Contract.ExecutionNode, 'status' | 'endedAt' | 'durationMs'> & {
  status: NodeStatus;
  endedAt?: string;
  durationMs?: number;
};
export type ExecutionRecord = Omit<Contract.ExecutionRecord, 'nodes'> & { nodes: ExecutionNode[] };
export type ExecutionListItem = Contract.ExecutionListItem & {
  runningStep?: { id: string; name: string; startedAt: string };
};
export type NodePage = Omit<Contract.NodePage, 'items'> & { items: ExecutionNode[] };
