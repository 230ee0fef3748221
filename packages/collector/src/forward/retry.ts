/** What became of one forwarded payload. */
export type Verdict =
  | { kind: 'sent' }
  /** Not taken now (overloaded, down, unreachable): kept and tried again after a back-off. */
  | { kind: 'retry'; error: string; retryAfterMs?: number }
  /** Refused for good (4xx): sending it again would be refused again, so it is dropped. */
  | { kind: 'refused'; error: string };

/** The statuses OTLP/HTTP says to retry; every other status but 2xx refuses the payload for good. */
const RETRYABLE = new Set([429, 502, 503, 504]);
/** A Retry-After beyond this is taken as this: a destination's typo must not stall forwarding for a day. */
const MAX_RETRY_AFTER_MS = 5 * 60_000;

export function verdictOf(status: number, statusText: string, retryAfter: string | null, now: number): Verdict {
  if (status >= 200 && status < 300) return { kind: 'sent' };
  const error = `HTTP ${status}${statusText ? ` ${statusText}` : ''}`;
  if (status >= 300 && status < 400) return { kind: 'refused', error: `${error}: redirects are not followed (the API key would go along); forward to the final URL` };
  if (!RETRYABLE.has(status)) return { kind: 'refused', error };
  const wait = retryAfterMs(retryAfter, now);
  return wait === undefined ? { kind: 'retry', error } : { kind: 'retry', error, retryAfterMs: wait };
}

/** Retry-After as seconds or an HTTP date, in ms from `now`. */
function retryAfterMs(value: string | null, now: number): number | undefined {
  if (value === null || !value.trim()) return undefined;
  const ms = /^\d+$/.test(value.trim()) ? Number(value.trim()) * 1000 : Date.parse(value) - now;
  return Number.isFinite(ms) ? Math.min(Math.max(ms, 0), MAX_RETRY_AFTER_MS) : undefined;
}

/** Exponential back-off: the first wait, doubled after each failure in a row, up to a ceiling. */
export class Backoff {
  private failures = 0;

  constructor(
    private readonly firstMs: number,
    private readonly maxMs: number,
  ) {}

  /** The wait after one more failure; a Retry-After the destination sent wins. */
  next(retryAfterMs?: number): number {
    const wait = Math.min(this.firstMs * 2 ** this.failures, this.maxMs);
    this.failures = Math.min(this.failures + 1, 30);
    return retryAfterMs ?? wait;
  }

  /** Whether the last attempt failed. */
  get failing(): boolean {
    return this.failures > 0;
  }

  reset(): void {
    this.failures = 0;
  }
}
