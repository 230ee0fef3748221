import { SCHEMA_5_BIN_SCALE } from '../../src/store/rollups.js';

/**
 * Durations as a schema 5 collector counted them (bin = ⌊ln(1 + µs) / ln 1.1⌋), for upgrade
 * tests, with the bins the schema 6 migration must move them to: each old bin's middle's 2 % bin.
 */
export function schema5Histogram(durations: readonly number[]): { old: Map<number, number>; moved: Array<[number, number]> } {
  const old = new Map<number, number>();
  for (const ms of durations) {
    const bin = Math.floor(Math.log1p(ms * 1000) / Math.log(1.1));
    old.set(bin, (old.get(bin) ?? 0) + 1);
  }
  const moved = [...old].map(([bin, n]): [number, number] => [Math.floor((bin + 0.5) * SCHEMA_5_BIN_SCALE), n]).sort((a, b) => a[0] - b[0]);
  return { old, moved };
}

/** 200 durations from 2 ms to about 5 s, 4 % apart: old bins hold two or three each. */
export const SPREAD_DURATIONS = Array.from({ length: 200 }, (_, i) => Math.round(2000 * 1.04 ** i) / 1000);
