import type { Context } from 'koa';
import type { ExecutionStatus } from '../records/types.js';

/** Query-parameter readers that answer 400 with a plain message instead of guessing. */

const STATUSES: readonly ExecutionStatus[] = ['pending', 'fulfilled', 'error'];

export function single(ctx: Context, name: string): string | undefined {
  const value = ctx.query[name];
  if (Array.isArray(value)) ctx.throw(400, `"${name}" may be given only once`);
  return value === undefined || value === '' ? undefined : value;
}

export function integer(ctx: Context, name: string, fallback: number, min: number, max: number): number {
  const raw = single(ctx, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    ctx.throw(400, `"${name}" must be a whole number from ${min} to ${max} (got "${clip(raw)}")`);
  }
  return Number(raw);
}

/** One status or several, comma-separated: `status=error,pending`. */
export function statuses(ctx: Context): ExecutionStatus[] | undefined {
  const raw = single(ctx, 'status');
  if (raw === undefined) return undefined;
  const list = [...new Set(raw.split(','))];
  for (const value of list) {
    if (!STATUSES.includes(value as ExecutionStatus)) {
      ctx.throw(400, `"status" must be one or more of ${STATUSES.join(', ')}, comma-separated (got "${clip(raw)}")`);
    }
  }
  return list as ExecutionStatus[];
}

/** Shortest `q` the trigram index can match. */
export const MIN_SEARCH_LENGTH = 3;

export function searchText(ctx: Context): string | undefined {
  const q = text(ctx, 'q', 200);
  if (q !== undefined && [...q].length < MIN_SEARCH_LENGTH) {
    ctx.throw(400, `"q" must be at least ${MIN_SEARCH_LENGTH} characters: the search index matches ${MIN_SEARCH_LENGTH}-character sequences`);
  }
  return q;
}

const BUCKETS: Record<string, number> = { '1m': 60_000, '5m': 300_000, '15m': 900_000, '1h': 3_600_000, '6h': 21_600_000, '1d': 86_400_000 };

/** A metrics bucket size: 1m, 5m, 15m, 1h, 6h or 1d (default 1h). */
export function bucket(ctx: Context): number {
  const raw = single(ctx, 'bucket') ?? '1h';
  const ms = BUCKETS[raw];
  if (ms === undefined) ctx.throw(400, `"bucket" must be one of ${Object.keys(BUCKETS).join(', ')} (got "${clip(raw)}")`);
  return ms;
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

export function text(ctx: Context, name: string, maxLength: number): string | undefined {
  const raw = single(ctx, name);
  if (raw !== undefined && raw.length > maxLength) ctx.throw(400, `"${name}" must be at most ${maxLength} characters`);
  return raw;
}

function clip(value: string): string {
  return value.length > 40 ? `${value.slice(0, 40)}…` : value;
}
