import { Type, type Static } from '@sinclair/typebox';
import { MetricsBucketSize } from './metrics.js';
import { ExecutionStatus } from './status.js';

/**
 * Query parameters of the API. The OpenAPI document lists them from these objects, and
 * routes/params.ts reads its bounds and defaults from the same schemas.
 */

/** Far past any real history; keeps OFFSET arithmetic exact. */
export const PageNumber = Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1 });
export const PageSize = Type.Integer({ minimum: 1, maximum: 100, default: 20 });
/** A time parameter: an ISO 8601 time (2026-01-31T12:00:00Z) or milliseconds since the epoch. */
const time = (description: string) => Type.String({ description: `${description} (ISO 8601 time or ms since the epoch)` });
/** The search index matches 3-character sequences, so shorter text cannot be looked up. */
export const SearchText = Type.String({ minLength: 3, maxLength: 200, description: 'Text searched in the initial parameters' });
/** Sent comma-separated (`status=error,pending`): OpenAPI style form, explode false. */
export const StatusFilter = Type.Array(ExecutionStatus, { minItems: 1, description: 'One status or several, comma-separated' });

export const ExecutionListQuery = Type.Object({
  page: Type.Optional(PageNumber),
  limit: Type.Optional(PageSize),
  status: Type.Optional(StatusFilter),
  from: Type.Optional(time('Started at or after')),
  to: Type.Optional(time('Started before; not earlier than `from`')),
  q: Type.Optional(SearchText),
});
export type ExecutionListQuery = Static<typeof ExecutionListQuery>;

export const FlowListQuery = Type.Object({
  includeDeleted: Type.Optional(Type.Boolean({ default: false, description: 'Also list hidden flows' })),
});

export const NodePageSize = Type.Integer({ minimum: 1, maximum: 1000, default: 500 });
/** Opaque to clients; the bound only keeps junk out of the store. */
export const Cursor = Type.String({
  minLength: 1,
  maxLength: 1024,
  description: 'The `nodesNext` of a record or the `next` of a page; omitted = from the first node',
});

export const NodePageQuery = Type.Object({
  cursor: Type.Optional(Cursor),
  limit: Type.Optional(NodePageSize),
});
export type NodePageQuery = Static<typeof NodePageQuery>;

export const DEFAULT_METRICS_BUCKET: MetricsBucketSize = '1h';
export const DEFAULT_METRICS_RANGE_MS = 24 * 60 * 60_000;
/** More buckets than a chart can show; the store also computes each one. */
export const MAX_METRICS_BUCKETS = 1000;

export const MetricsQuery = Type.Object({
  from: Type.Optional(time('Range start; default `to` minus 24 h')),
  to: Type.Optional(time('Range end; default now')),
  bucket: Type.Optional(
    Type.Union(MetricsBucketSize.anyOf, {
      default: DEFAULT_METRICS_BUCKET,
      description: `Bucket length; at most ${MAX_METRICS_BUCKETS} buckets in the range`,
    }),
  ),
});
export type MetricsQuery = Static<typeof MetricsQuery>;
