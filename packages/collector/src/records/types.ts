/**
 * The collector's public data model: what the HTTP API returns and the viewer renders
 * (`@flowtrace/collector/types`). The types are derived from the schemas in ../contract, the
 * single source of the API's shapes; this module keeps the names importable from here.
 */
export type {
  ErrorInfo,
  ErrorKind,
  ExecutionListItem,
  ExecutionNode,
  ExecutionRecord,
  ExecutionStatus,
  FlowList,
  FlowMetrics,
  FlowSummary,
  Health,
  MetricsBucket,
  MetricsBucketSize,
  NodePage,
  NodeStatus,
  Page,
  Problem,
} from '../contract/index.js';
export { ERROR_KINDS, EXECUTION_STATUSES, METRICS_BUCKET_SIZES, NODE_STATUSES } from '../contract/index.js';
