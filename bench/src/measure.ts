/**
 * How every benchmark measures: variants run alternately, round after round after a warm-up,
 * so that the machine's drift (these are shared, noisy machines) hits all of them alike; each
 * result is a median, and figures are reported as ratios against an anchor from the same run.
 */

export interface Figure {
  /** What was measured, e.g. "traced / untraced". */
  name: string;
  value: number;
  unit: string;
  /** The same-run anchor this figure is compared with. */
  anchor?: { name: string; value: number };
  /** value / anchor.value */
  ratio?: number;
  /** A goal the ratio or value is read against, said in words. */
  goal?: string;
  /** Why the value is missing (NaN, printed "n/a"), or how to read it. */
  note?: string;
}

export interface BenchResult {
  bench: string;
  smoke: boolean;
  figures: Figure[];
  samples: Record<string, number[]>;
}

export interface BenchContext {
  /** Tiny sizes, for CI: the benchmark runs, the numbers mean little. */
  smoke: boolean;
  log(message: string): void;
}

export type Bench = (context: BenchContext) => Promise<BenchResult>;

/**
 * Runs each variant `rounds` times, alternating and rotating which goes first, after `warmup`
 * untimed rounds. A variant returns the measurement of one sample (ms per operation, say).
 */
export async function alternate(
  variants: Record<string, () => Promise<number>>,
  { rounds, warmup }: { rounds: number; warmup: number },
): Promise<Record<string, number[]>> {
  const names = Object.keys(variants);
  const samples: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let round = 0; round < warmup + rounds; round++) {
    const order = names.map((_, i) => names[(i + round) % names.length]!);
    for (const name of order) {
      const value = await variants[name]!();
      if (round >= warmup) samples[name]!.push(value);
    }
  }
  return samples;
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** Nearest-rank percentile. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function figure(name: string, value: number, unit: string, anchor?: { name: string; value: number }, goal?: string): Figure {
  const result: Figure = { name, value, unit };
  if (anchor) {
    result.anchor = anchor;
    result.ratio = value / anchor.value;
  }
  if (goal) result.goal = goal;
  return result;
}

/** A figure this collector cannot give yet (printed "n/a"), and why. */
export function unavailable(name: string, unit: string, note: string, goal?: string): Figure {
  const result: Figure = { name, value: Number.NaN, unit, note };
  if (goal) result.goal = goal;
  return result;
}

/** Milliseconds taken by `work`. */
export async function timed(work: () => Promise<unknown> | unknown): Promise<number> {
  const start = performance.now();
  await work();
  return performance.now() - start;
}

export function formatFigure(f: Figure): string {
  const value = Number.isNaN(f.value) ? 'n/a' : `${round(f.value)} ${f.unit}`;
  const ratio = f.ratio === undefined || Number.isNaN(f.ratio) ? '' : `  ×${round(f.ratio)} of ${f.anchor!.name} (${round(f.anchor!.value)} ${f.unit})`;
  const goal = f.goal ? `  [goal: ${f.goal}]` : '';
  const note = f.note ? `  (${f.note})` : '';
  return `  ${f.name.padEnd(44)} ${value.padStart(16)}${ratio}${goal}${note}`;
}

function round(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const abs = Math.abs(n);
  return abs >= 100 ? n.toFixed(0) : abs >= 10 ? n.toFixed(1) : abs >= 1 ? n.toFixed(2) : n.toFixed(3);
}
