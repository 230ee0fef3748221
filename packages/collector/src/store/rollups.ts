import type { ExecutionStatus } from '../records/types.js';

/**
 * Time rollups every engine keeps on write: executions counted per flow, status and time
 * bucket, and finished executions' durations as log-scale histograms. They make totals, deep
 * pages and flow metrics cost the number of buckets, not the number of executions.
 */

export const MINUTE = 60_000;
export const HOUR = 3_600_000;
/** Grains kept: minutes for short metric buckets, hours for long ones and for paging. */
export const GRAINS = [MINUTE, HOUR] as const;

export const STATUS_CODE: Record<ExecutionStatus, number> = { pending: 0, fulfilled: 1, error: 2 };
export const STATUS_OF: readonly ExecutionStatus[] = ['pending', 'fulfilled', 'error'];

export function bucketOf(ms: number, grain: number): number {
  return Math.floor(ms / grain) * grain;
}

/**
 * Durations are counted in log-scale bins of (1 + µs), each 2 % wider than the one before. A
 * bin stands for every duration in it by its representative, the point 1/101 (0.99 %) away from
 * both of its edges, so a percentile or maximum read from the bins is within 1 % of the exact one
 * (the 1 µs offset adds at most 0.01 µs, which only counts below 0.1 ms).
 */
const RATIO = 1.02;
const GROWTH = Math.log(RATIO);
/** Where a bin's representative sits above its lower edge: the harmonic mean of its edges. */
const REPRESENTATIVE = (2 * RATIO) / (1 + RATIO);

/**
 * Schemas 2 to 5 kept bins 10 % wide, read at their middle: an old bin b's middle falls in the
 * 2 % bin floor((b + 0.5) · SCHEMA_5_BIN_SCALE). Fixed numbers: the migrations use them.
 */
export const SCHEMA_5_BIN_SCALE = Math.log(1.1) / Math.log(1.02);

export function durationBin(ms: number): number {
  return Math.max(0, Math.floor(Math.log1p(Math.max(0, ms) * 1000) / GROWTH));
}

/** The duration a bin stands for, in ms. */
export function representativeOf(bin: number): number {
  return (Math.exp(bin * GROWTH) * REPRESENTATIVE - 1) / 1000;
}

/** Six significant digits: rounding adds at most 0.0005 %, within the 1 % bound. */
function rounded(ms: number): number {
  return Number(ms.toPrecision(6));
}

export interface DurationSummary {
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  max: number;
}

/**
 * Nearest-rank percentiles (the ⌈p · n⌉-th shortest duration) and the longest one, each within
 * 1 % (see the bins above), or null with no duration counted.
 */
export function summarizeBins(bins: ReadonlyMap<number, number>): DurationSummary | null {
  const ordered = [...bins.entries()].filter(([, n]) => n > 0).sort((a, b) => a[0] - b[0]);
  const total = ordered.reduce((sum, [, n]) => sum + n, 0);
  if (total === 0) return null;
  const at = (p: number): number => {
    const rank = Math.ceil((p / 100) * total);
    let seen = 0;
    for (const [bin, n] of ordered) {
      seen += n;
      if (seen >= rank) return rounded(representativeOf(bin));
    }
    throw new Error('unreachable: the rank is at most the total');
  };
  return { p50: at(50), p90: at(90), p95: at(95), p99: at(99), max: at(100) };
}

/** What one execution contributes to the rollups. */
export interface RollupEntry {
  flowKey: number;
  startedAtMs: number;
  status: ExecutionStatus;
  durationMs?: number;
}

/** What a stored execution row contributes; nothing until its head made it listed. */
/** An execution's row as far as the rollups count it (all null while it is not listed). */
export interface RollupRow {
  flow: number | null;
  status: number | null;
  started_at: number | null;
  duration_ms: number | null;
}

export function rollupEntryOf(row: RollupRow): RollupEntry | undefined {
  if (row.flow === null || row.status === null || row.started_at === null) return undefined;
  const entry: RollupEntry = { flowKey: row.flow, startedAtMs: row.started_at, status: STATUS_OF[row.status]! };
  if (row.duration_ms !== null) entry.durationMs = row.duration_ms;
  return entry;
}

/**
 * The rollup changes of one transaction, summed per row, so each counter is written once per
 * transaction however many executions moved through it.
 */
export class RollupBatch {
  readonly counts = new Map<string, { flowKey: number; grain: number; bucket: number; status: number; n: number }>();
  readonly durations = new Map<string, { flowKey: number; grain: number; bucket: number; bin: number; n: number }>();
  /** Per flow and status: how many executions joined (positive) or left (negative). */
  readonly flows = new Map<string, { flowKey: number; status: ExecutionStatus; n: number }>();

  /** Takes the rollups from `before` to `after` for one execution (either may be absent). */
  move(before: RollupEntry | undefined, after: RollupEntry | undefined): void {
    if (
      before && after && before.flowKey === after.flowKey && before.startedAtMs === after.startedAtMs &&
      before.status === after.status && before.durationMs === after.durationMs
    ) {
      return;
    }
    if (before) this.add(before, -1);
    if (after) this.add(after, 1);
  }

  private add(entry: RollupEntry, n: number): void {
    for (const grain of GRAINS) {
      const bucket = bucketOf(entry.startedAtMs, grain);
      const status = STATUS_CODE[entry.status];
      bump(this.counts, `${entry.flowKey}/${grain}/${bucket}/${status}`, { flowKey: entry.flowKey, grain, bucket, status, n: 0 }, n);
      if (entry.durationMs !== undefined) {
        const bin = durationBin(entry.durationMs);
        bump(this.durations, `${entry.flowKey}/${grain}/${bucket}/${bin}`, { flowKey: entry.flowKey, grain, bucket, bin, n: 0 }, n);
      }
    }
    bump(this.flows, `${entry.flowKey}/${entry.status}`, { flowKey: entry.flowKey, status: entry.status, n: 0 }, n);
  }
}

function bump<T extends { n: number }>(map: Map<string, T>, key: string, fresh: T, n: number): void {
  const row = map.get(key) ?? fresh;
  row.n += n;
  map.set(key, row);
}

/** An hour the window [from, to) cuts: its rollup count covers more than the window, so it is counted exactly. */
export function hourIsCut(hour: number, from: number | undefined, to: number | undefined): boolean {
  return (from !== undefined && hour < from) || (to !== undefined && hour + HOUR > to);
}

/**
 * Where a deep page starts, from executions counted per hour (newest hour first): whole hours
 * are skipped by their counts, and the page is read from the end of the hour it starts in
 * (`before`), `offset` rows in. Undefined past the last execution.
 */
export function locatePage(
  hours: ReadonlyArray<readonly [number, number]>,
  offset: number,
  to: number | undefined,
): { before: number; offset: number } | undefined {
  let skipped = 0;
  for (const [hour, n] of hours) {
    if (skipped + n > offset) return { before: to === undefined ? hour + HOUR : Math.min(hour + HOUR, to), offset: offset - skipped };
    skipped += n;
  }
  return undefined;
}
