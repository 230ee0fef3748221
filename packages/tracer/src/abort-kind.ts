import type { ExecutionContext } from '@pumped-fn/core-next';

/**
 * Tells a timeout from a cancellation without reading the abort reason's words.
 *
 * A reason named `TimeoutError` (what `AbortSignal.timeout()` aborts with) is a timeout. core-next
 * 0.5.94 times out with a plain `Error`, so for its own timers the tracer notes, when an
 * execution is given a `timeout`, the deadline of the controller that timer will abort, and the
 * moment that controller does abort: fired at or past its deadline, it was the timer.
 */
interface Deadline {
  at: number;
  firedAt?: number;
}

const deadlines = new WeakMap<AbortSignal, Deadline>();

/** Pumped-fn's timers run on the millisecond clock of the event loop, so may fire ~1 ms early. */
const TIMER_SLACK_MS = 1;

/** Notes that `controller` is aborted by a pumped-fn timer `ms` after `startedAt` (performance.now()). */
export function watchDeadline(controller: AbortController, startedAt: number, ms: number): void {
  if (deadlines.has(controller.signal)) return;
  const deadline: Deadline = { at: startedAt + ms - TIMER_SLACK_MS };
  deadlines.set(controller.signal, deadline);
  // The instance's own method, not a listener: the moment is taken before any listener runs.
  const abort = controller.abort;
  Object.defineProperty(controller, 'abort', {
    configurable: true,
    writable: true,
    value(this: AbortController, reason?: unknown) {
      if (!this.signal.aborted) deadline.firedAt = performance.now();
      return abort.call(this, reason);
    },
  });
}

/** `timeout` or `abort`, for the aborted signal of `ctx`. */
export function abortKind(ctx: ExecutionContext.Context): 'timeout' | 'abort' {
  const reason: unknown = ctx.signal.reason;
  if (isTimeoutError(reason)) return 'timeout';
  // A parent's abort reaches a child context with the same reason object: the controller that
  // fired is the topmost one holding that reason.
  let origin = ctx;
  while (origin.parent?.signal.aborted && origin.parent.signal.reason === reason) origin = origin.parent;
  const deadline = deadlines.get(origin.signal);
  return deadline?.firedAt !== undefined && deadline.firedAt >= deadline.at ? 'timeout' : 'abort';
}

function isTimeoutError(reason: unknown): boolean {
  return typeof reason === 'object' && reason !== null && (reason as { name?: unknown }).name === 'TimeoutError';
}
