import { diag } from '@opentelemetry/api';
import type { SpoolSettings } from './spool.js';

/** The persistent export queue (see the README's "Spool" section). */
export interface SpoolOptions {
  /** Root folder, shared by the replicas of a machine or volume. Default `FLOWTRACE_SPOOL_DIR`. */
  dir?: string;
  /**
   * Bound on each destination's spooled bytes; when full, the oldest are dropped (and counted).
   * Default `FLOWTRACE_SPOOL_MAX_BYTES`, else 256 MiB. At least 64 KiB.
   */
  maxBytes?: number;
  /**
   * fsync every appended batch before the batch processor hears it was stored, so a power cut
   * loses no stored batch. Default `true`; `false` leaves writing back to the OS (a process crash
   * still loses nothing, a power cut up to the OS's writeback delay).
   */
  fsync?: boolean;
}

export const DEFAULT_SPOOL_MAX_BYTES = 256 * 2 ** 20;
const MIN_SPOOL_MAX_BYTES = 64 * 1024;

/**
 * The spool's settings, options winning over `FLOWTRACE_SPOOL_*`; `undefined` (no spool) unless a
 * folder is given. A bad option throws; a bad variable is reported and the default used.
 */
export function spoolSettings(option: SpoolOptions | false | undefined): SpoolSettings | undefined {
  if (option === false) return undefined;
  const dir = option?.dir ?? process.env.FLOWTRACE_SPOOL_DIR;
  if (!dir) return undefined;
  return { dir, maxBytes: maxBytes(option?.maxBytes), fsync: option?.fsync ?? true };
}

function maxBytes(option: number | undefined): number {
  if (option !== undefined) {
    if (!Number.isSafeInteger(option) || option < MIN_SPOOL_MAX_BYTES) {
      throw new RangeError(`spool.maxBytes must be a whole number of bytes, at least ${MIN_SPOOL_MAX_BYTES}; got ${option}`);
    }
    return option;
  }
  const env = process.env.FLOWTRACE_SPOOL_MAX_BYTES;
  if (env === undefined || env.trim() === '') return DEFAULT_SPOOL_MAX_BYTES;
  const value = Number(env);
  if (Number.isSafeInteger(value) && value >= MIN_SPOOL_MAX_BYTES) return value;
  diag.warn(`flowtrace: FLOWTRACE_SPOOL_MAX_BYTES="${env}" is not a whole number of bytes of at least ${MIN_SPOOL_MAX_BYTES}; using ${DEFAULT_SPOOL_MAX_BYTES}`);
  return DEFAULT_SPOOL_MAX_BYTES;
}
