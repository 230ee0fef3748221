import type { ExecutionListItem, ExecutionStatus } from './types.js';

export const STATUSES: readonly ExecutionStatus[] = ['pending', 'fulfilled', 'error'];

/** Date-range presets: a window ending now, counted again at each read so the list keeps up. */
export const RANGES = {
  '15m': { label: 'Last 15 minutes', ms: 15 * 60_000 },
  '1h': { label: 'Last hour', ms: 60 * 60_000 },
  '24h': { label: 'Last 24 hours', ms: 24 * 60 * 60_000 },
  '7d': { label: 'Last 7 days', ms: 7 * 24 * 60 * 60_000 },
} as const;

export type RangePreset = keyof typeof RANGES;

/** The search index matches 3-character sequences: the collector refuses shorter text. */
export const MIN_SEARCH = 3;

/**
 * What the reader filters the list by. `range` is a preset, `custom` (then `from` and `to`, ISO
 * times, either may be missing) or '' for any time; no status means every status.
 */
export interface Filters {
  status: ExecutionStatus[];
  range: RangePreset | 'custom' | '';
  from?: string;
  to?: string;
  q: string;
}

export const NO_FILTERS: Filters = { status: [], range: '', q: '' };

/** Whether the collector can search for this text (it counts code points, not UTF-16 units). */
export function searchable(q: string): boolean {
  return [...q].length >= MIN_SEARCH;
}

/** How many filters narrow the list, for the "2 filters" count. */
export function activeFilters(filters: Filters): number {
  const range = filters.range === 'custom' ? Boolean(filters.from || filters.to) : filters.range !== '';
  return (filters.status.length > 0 ? 1 : 0) + (range ? 1 : 0) + (searchable(filters.q) ? 1 : 0);
}

/** The collector's `status`, `from`, `to` and `q` for these filters, a preset counted back from `now`. */
export function filterQuery(filters: Filters, now: number): { status?: ExecutionStatus[]; from?: string; to?: string; q?: string } {
  const query: { status?: ExecutionStatus[]; from?: string; to?: string; q?: string } = {};
  if (filters.status.length > 0) query.status = filters.status;
  if (filters.range === 'custom') {
    if (filters.from) query.from = filters.from;
    if (filters.to) query.to = filters.to;
  } else if (filters.range) {
    query.from = new Date(now - RANGES[filters.range].ms).toISOString();
  }
  if (searchable(filters.q)) query.q = filters.q;
  return query;
}

/**
 * Whether a row the live stream sent belongs in the filtered list: `true` or `false` when the
 * filters can be checked here, `undefined` when only the collector knows (a search).
 */
export function matchesFilters(item: ExecutionListItem, filters: Filters, now: number): boolean | undefined {
  const query = filterQuery(filters, now);
  if (query.status && !query.status.includes(item.status)) return false;
  const started = Date.parse(item.startedAt);
  if (query.from && started < Date.parse(query.from)) return false;
  if (query.to && started >= Date.parse(query.to)) return false;
  return query.q ? undefined : true;
}
