import type { TInteger } from '@sinclair/typebox';
import type { Context } from 'koa';
import {
  Cursor,
  DEFAULT_METRICS_BUCKET,
  DEFAULT_METRICS_RANGE_MS,
  EXECUTION_STATUSES,
  MAX_METRICS_BUCKETS,
  METRICS_BUCKET_MS,
  METRICS_BUCKET_SIZES,
  SearchText,
  type ExecutionStatus,
  type MetricsBucketSize,
} from '../contract/index.js';

/**
 * Query-parameter readers that answer 400 with a plain message instead of guessing. Bounds,
 * defaults and allowed values come from the schemas in ../contract, which the OpenAPI document
 * shows, so the document and the checks agree.
 */

export function single(ctx: Context, name: string): string | undefined {
  const value = ctx.query[name];
  if (Array.isArray(value)) ctx.throw(400, `"${name}" may be given only once`);
  return value === undefined || value === '' ? undefined : value;
}

/** A whole number within the schema's minimum and maximum; its default when absent. */
export function integer(ctx: Context, name: string, schema: TInteger): number {
  const { minimum: min, maximum: max, default: fallback } = schema;
  if (min === undefined || max === undefined || typeof fallback !== 'number') {
    throw new Error(`the schema of "${name}" needs a minimum, a maximum and a default`);
  }
  const raw = single(ctx, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    ctx.throw(400, `"${name}" must be a whole number from ${min} to ${max} (got "${clip(raw)}")`);
  }
  return Number(raw);
}

/** `status=error` or `status=error,pending`: the statuses asked for, each once, in the order given. */
export function statuses(ctx: Context): ExecutionStatus[] | undefined {
  const raw = single(ctx, 'status');
  if (raw === undefined) return undefined;
  const wanted = raw.split(',').map((s) => s.trim());
  const unknown = wanted.find((s) => !isStatus(s));
  if (unknown !== undefined) {
    ctx.throw(400, `"status" must be one or more of ${EXECUTION_STATUSES.join(', ')}, separated by commas (got "${clip(unknown)}")`);
  }
  return [...new Set(wanted as ExecutionStatus[])];
}

/** A time as an ISO 8601 date or milliseconds since the epoch. */
export function time(ctx: Context, name: string): number | undefined {
  const raw = single(ctx, name);
  if (raw === undefined) return undefined;
  const ms = /^\d+$/.test(raw) ? Number(raw) : /^\d{4}-\d{2}-\d{2}/.test(raw) ? Date.parse(raw) : Number.NaN;
  if (!Number.isFinite(ms)) {
    ctx.throw(400, `"${name}" must be an ISO 8601 time (2026-01-31T12:00:00Z) or milliseconds since 1970 (got "${clip(raw)}")`);
  }
  return ms;
}

/** `from` and `to`, each optional, with `from` not after `to`. */
export function timeRange(ctx: Context): { from: number | undefined; to: number | undefined } {
  const from = time(ctx, 'from');
  const to = time(ctx, 'to');
  if (from !== undefined && to !== undefined && from > to) ctx.throw(400, '"from" must not be after "to"');
  return { from, to };
}

/** `q`: the search index matches 3-character sequences, so shorter text cannot be looked up. */
export function searchText(ctx: Context): string | undefined {
  const raw = single(ctx, 'q');
  if (raw === undefined) return undefined;
  // Characters as the index counts them: code points, not UTF-16 units.
  const length = [...raw].length;
  const { minLength = 0, maxLength = Infinity } = SearchText;
  if (length < minLength) {
    ctx.throw(400, `"q" must be at least ${minLength} characters: the search index matches ${minLength}-character sequences`);
  }
  if (length > maxLength) ctx.throw(400, `"q" must be at most ${maxLength} characters`);
  return raw;
}

/** `cursor`: opaque, from a record's `nodesNext` or a node page's `next`; undefined = from the start. */
export function cursor(ctx: Context): string | undefined {
  const raw = single(ctx, 'cursor');
  if (raw !== undefined && raw.length > (Cursor.maxLength ?? Infinity)) badCursor(ctx, raw);
  return raw;
}

/** The 400 for a cursor this collector did not give out; the store's decoder uses it too. */
export function badCursor(ctx: Context, raw: string): never {
  ctx.throw(400, `"cursor" must be the "nodesNext" of a record or the "next" of a node page, unchanged (got "${clip(raw)}")`);
}

export function bucket(ctx: Context): MetricsBucketSize {
  const raw = single(ctx, 'bucket');
  if (raw === undefined) return DEFAULT_METRICS_BUCKET;
  if (!(METRICS_BUCKET_SIZES as readonly string[]).includes(raw)) {
    ctx.throw(400, `"bucket" must be one of ${METRICS_BUCKET_SIZES.join(', ')} (got "${clip(raw)}")`);
  }
  return raw as MetricsBucketSize;
}

/**
 * `from`, `to` and `bucket` of the metrics route: by default the 24 hours up to `now`; at most
 * MAX_METRICS_BUCKETS buckets. Buckets are counted aligned to the epoch, which is never fewer than
 * the range divided by the bucket length, so the bound holds however the store aligns them.
 */
export function metricsWindow(ctx: Context, now: number): { from: number; to: number; bucket: MetricsBucketSize } {
  const range = timeRange(ctx);
  const size = bucket(ctx);
  const to = range.to ?? Math.max(now, range.from ?? now);
  const from = range.from ?? to - DEFAULT_METRICS_RANGE_MS;
  const ms = METRICS_BUCKET_MS[size];
  const count = Math.max(1, Math.ceil(to / ms) - Math.floor(from / ms));
  if (count > MAX_METRICS_BUCKETS) {
    ctx.throw(
      400,
      `the range holds ${count} buckets of ${size}; at most ${MAX_METRICS_BUCKETS}: choose a larger "bucket" or a shorter range`,
    );
  }
  return { from, to, bucket: size };
}

function isStatus(value: string): value is ExecutionStatus {
  return (EXECUTION_STATUSES as readonly string[]).includes(value);
}

function clip(value: string): string {
  return value.length > 40 ? `${value.slice(0, 40)}…` : value;
}
