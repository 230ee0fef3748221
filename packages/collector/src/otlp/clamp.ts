import * as sc from '@flowtrace/semconv';
import { MAX_U64, nanosToMillis, type Span } from './span.js';

/**
 * Set by the collector on a span whose values it corrected: the rules that applied, in this
 * order, comma-separated — `end_before_start`, `start_in_future`, `timeout_ms`.
 */
export const ATTR_CLAMPED = 'flowtrace.collector.clamped';
export const CLAMPED_END_BEFORE_START = 'end_before_start';
export const CLAMPED_START_IN_FUTURE = 'start_in_future';
export const CLAMPED_TIMEOUT = 'timeout_ms';

/** A span starting further ahead of the collector's clock than this comes from a wrong clock. */
export const MAX_START_AHEAD_MS = 60 * 60 * 1000;

/** What a clamped span now says, for an encoding that stores the span's own bytes. */
export interface Clamp {
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  flag: string;
}

/**
 * Corrects, in place, times no span can have, before any rule sees them: an end before the start
 * becomes the start (no negative duration); a start more than an hour past `receivedAtMs` (the
 * collector's clock when the span arrived) becomes that moment, the end moving with it, so the
 * execution neither waits for year 2500 nor loses its duration. A declared budget outside the
 * range is only flagged here: the rules clamp it where they read it (timeoutBudget). Returns
 * undefined when nothing was wrong. The store keeps the first copy of a span it receives, so a
 * re-sent copy cannot undo a decision made when the span was first seen.
 */
export function clampSpan(span: Span, receivedAtMs: number): Clamp | undefined {
  const reasons: string[] = [];
  if (compareNanos(span.endTimeUnixNano, span.startTimeUnixNano) < 0) {
    span.endTimeUnixNano = span.startTimeUnixNano;
    reasons.push(CLAMPED_END_BEFORE_START);
  }
  if (nanosToMillis(span.startTimeUnixNano) > receivedAtMs + MAX_START_AHEAD_MS) {
    // Rare: BigInt is affordable here, and nanoseconds need it.
    const received = BigInt(Math.floor(receivedAtMs)) * 1_000_000n;
    const end = received + BigInt(span.endTimeUnixNano) - BigInt(span.startTimeUnixNano);
    span.endTimeUnixNano = String(end > MAX_U64 ? MAX_U64 : end);
    span.startTimeUnixNano = String(received);
    reasons.push(CLAMPED_START_IN_FUTURE);
  }
  const declared = span.attributes[sc.ATTR_TIMEOUT_MS];
  const budget = timeoutBudget(declared);
  if (budget !== undefined && budget !== declared) reasons.push(CLAMPED_TIMEOUT);
  if (reasons.length === 0) return undefined;
  const flag = reasons.join(',');
  span.attributes[ATTR_CLAMPED] = flag;
  return { startTimeUnixNano: span.startTimeUnixNano, endTimeUnixNano: span.endTimeUnixNano, flag };
}

/**
 * The budget an execution declared (`flowtrace.timeout_ms`), clamped into [1 ms, 7 days];
 * undefined when it declared none, or something that is not a number.
 */
export function timeoutBudget(declared: unknown): number | undefined {
  if (typeof declared !== 'number' || Number.isNaN(declared)) return undefined;
  return Math.min(Math.max(declared, sc.TIMEOUT_MS_MIN), sc.TIMEOUT_MS_MAX);
}

/** Orders two unsigned decimal strings without leading zeros (as both encodings give them). */
function compareNanos(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}
