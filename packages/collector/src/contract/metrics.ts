import { Type, type Static } from '@sinclair/typebox';
import { Count, IsoTime, Millis } from './scalars.js';
import { ExecutionStatus, literals } from './status.js';

/** GET /api/flows/{flowId}/metrics: executions per time bucket, by status, with duration percentiles. */

export const MetricsBucketSize = Type.Union(
  [Type.Literal('1m'), Type.Literal('5m'), Type.Literal('15m'), Type.Literal('1h'), Type.Literal('6h'), Type.Literal('1d')],
  { title: 'MetricsBucketSize' },
);
export type MetricsBucketSize = Static<typeof MetricsBucketSize>;
export const METRICS_BUCKET_SIZES = literals(MetricsBucketSize);

const MINUTE = 60_000;
/** Length of each bucket size; `satisfies` makes a new size in the schema fail to compile until it has one. */
export const METRICS_BUCKET_MS = {
  '1m': MINUTE,
  '5m': 5 * MINUTE,
  '15m': 15 * MINUTE,
  '1h': 60 * MINUTE,
  '6h': 360 * MINUTE,
  '1d': 1440 * MINUTE,
} as const satisfies Record<MetricsBucketSize, number>;

export const MetricsBucket = Type.Object(
  {
    start: IsoTime,
    // Keyed by the status vocabulary, so a new status appears here too.
    counts: Type.Record(ExecutionStatus, Count),
    durationMs: Type.Union([Type.Object({ p50: Millis, p90: Millis, p99: Millis }), Type.Null()], {
      description: 'Percentiles of finished executions, from log-scale histograms (about ±5 %); null when none finished',
    }),
  },
  { title: 'MetricsBucket' },
);
export type MetricsBucket = Static<typeof MetricsBucket>;

export const FlowMetrics = Type.Object(
  {
    flowId: Type.String(),
    from: IsoTime,
    to: IsoTime,
    bucket: MetricsBucketSize,
    buckets: Type.Array(MetricsBucket, { description: 'Every bucket of the range, oldest first; empty ones have zero counts' }),
  },
  { title: 'FlowMetrics' },
);
export type FlowMetrics = Static<typeof FlowMetrics>;
