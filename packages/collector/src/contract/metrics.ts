import { Type, type Static } from '@sinclair/typebox';
import { Count, IsoTime } from './scalars.js';
import { ExecutionStatus, literals } from './status.js';

/** GET /api/flows/{flowId}/metrics: executions per time bucket, by status, with the error rate and duration percentiles. */

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

const percentile = (description: string) => Type.Number({ minimum: 0, description });

export const MetricsBucket = Type.Object(
  {
    start: IsoTime,
    // Keyed by the status vocabulary, so a new status appears here too.
    counts: Type.Record(ExecutionStatus, Count),
    errorRate: Type.Union([Type.Number({ minimum: 0, maximum: 1 }), Type.Null()], {
      description: 'error / (fulfilled + error), exact; null when none finished',
    }),
    durationMs: Type.Union(
      [
        Type.Object(
          {
            p50: percentile('Median: the ⌈0.5 · n⌉-th shortest duration'),
            p90: percentile('The ⌈0.9 · n⌉-th shortest duration'),
            p95: percentile('The ⌈0.95 · n⌉-th shortest duration'),
            p99: percentile('The ⌈0.99 · n⌉-th shortest duration'),
            max: percentile('The longest duration'),
          },
          { title: 'MetricsDurations' },
        ),
        Type.Null(),
      ],
      {
        description:
          'Durations of the finished executions, read from log-scale histograms with bins 2 % wide: each value is within 1 % of the exact one ' +
          '(plus at most 0.01 µs, which only counts below 0.1 ms). Durations a database held before its upgrade to schema 6 were ' +
          'kept in bins 10 % wide and stay within about 6 %. Null when none finished',
      },
    ),
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
