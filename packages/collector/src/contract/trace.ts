import { Type, type Static } from '@sinclair/typebox';

export const TraceId = Type.String({ pattern: '^[0-9a-fA-F]{32}$' });

/** GET /api/traces/{traceId}: stored spans as decoded, flowtrace's or not, so no shape is promised. */
export const Trace = Type.Object(
  { traceId: Type.String(), spans: Type.Array(Type.Record(Type.String(), Type.Unknown())) },
  { title: 'Trace' },
);
export type Trace = Static<typeof Trace>;
