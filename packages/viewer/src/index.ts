/**
 * @flowtrace/viewer — the Usage tab as Lit web components. Importing this module defines every
 * element: `<flowtrace-usage-tab>` and its parts, and `<flowtrace-flow-list>`.
 */
export { FlowtraceUsageTab } from './usage-tab.js';
export { FlowtraceExecutionList } from './execution-list.js';
export { FlowtraceExecutionItem } from './execution-item.js';
export { FlowtraceExecutionDetail } from './execution-detail.js';
export { FlowtraceExecutionTimeline } from './execution-timeline.js';
export { FlowtraceExecutionMetrics } from './execution-metrics.js';
export { FlowtraceExecutionCompare } from './execution-compare.js';
export { FlowtraceExecutionRerun } from './execution-rerun.js';
export { FlowtraceStatusDot } from './status-dot.js';
export { FlowtraceJsonView } from './json-view.js';
export { FlowtraceStackTrace } from './stack-trace.js';
export { FlowtraceFilterBar } from './filter-bar.js';
export { FlowtraceFlowList } from './flow-list.js';
export { activeFilters, filterQuery, NO_FILTERS, RANGES, type Filters, type RangePreset } from './filters.js';
export { FlowtracePagination, pageWindow } from './pagination.js';
export { HttpSource, SourceError, type FlowtraceSource, type HttpSourceOptions, type ListQuery, type LiveHandlers, type LiveState, type MetricsQuery } from './source.js';
export { describeStatus, STATUS } from './status.js';
export { formatDuration, formatTime } from './format.js';
export * from './events.js';
export type * from './types.js';
