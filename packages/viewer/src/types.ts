/** The collector's data model, imported type-only: the viewer and collector meet on the wire. */
export type {
  ErrorKind,
  ExecutionListItem,
  ExecutionNode,
  ExecutionRecord,
  ExecutionStatus,
  FlowMetrics,
  FlowSummary,
  MetricsBucket,
  MetricsBucketSize,
  NodePage,
  NodeStatus,
  Page,
} from '@flowtrace/collector/types';
