/**
 * What aborted a traced context, noted by watching its controller's `abort` method.
 *
 * Every abort of a pumped-fn context goes through its controller's `abort`: pumped-fn's timers,
 * the link from the parent's signal, `close({ mode: 'abort' })`, and the user's
 * `execution.abort.abort()`. Watching the method (an own property on the controller, not a
 * listener) tells the tracer when and why without touching the signal on every span: an
 * `AbortSignal` is a slow object to read (~1 µs per `aborted`).
 *
 * The kind comes from the reason's type and from which controller fired, never from its words:
 * a reason named `TimeoutError` (what `AbortSignal.timeout()` aborts with) is a timeout; so is an
 * abort of the controller that pumped-fn's own `timeout` option times out (of `scope.exec`, or of
 * `ctx.exec` of a flow), when it fired at or past that deadline. pumped-fn's own timeout reason
 * is a plain `Error`.
 */
export interface AbortWatch {
  /** performance.now() when the controller aborted; undefined while it has not. */
  firedAt: number | undefined;
  reason: unknown;
  /** When pumped-fn's timer for this controller is due, if it has one. */
  deadline: number | undefined;
  /** The watch of the context this one inherits aborts from. */
  parent: AbortWatch | undefined;
}

/** Pumped-fn's timers run on the event loop's millisecond clock, so may fire ~1 ms early. */
const TIMER_SLACK_MS = 1;

export function watchAbort(controller: AbortController, parent: AbortWatch | undefined, deadline: number | undefined): AbortWatch {
  const watch: AbortWatch = { firedAt: undefined, reason: undefined, deadline, parent };
  const abort = controller.abort;
  controller.abort = function (this: AbortController, reason?: unknown) {
    const first = watch.firedAt === undefined;
    if (first) watch.firedAt = performance.now();
    abort.call(this, reason);
    if (first) watch.reason = this.signal.reason;
  };
  return watch;
}

/** The deadline of a timer started at `startedAt` (performance.now()) for `ms`. */
export function deadlineOf(startedAt: number, ms: number | undefined): number | undefined {
  return ms ? startedAt + ms - TIMER_SLACK_MS : undefined;
}

/** `timeout` or `abort`, for a watch that fired. */
export function abortKind(watch: AbortWatch): 'timeout' | 'abort' {
  const reason = watch.reason;
  if (isTimeoutError(reason)) return 'timeout';
  // A parent's abort reaches a child context with the same reason object: the controller that
  // fired is the topmost one holding that reason.
  let origin = watch;
  while (origin.parent?.firedAt !== undefined && origin.parent.reason === reason) origin = origin.parent;
  return origin.deadline !== undefined && origin.firedAt! >= origin.deadline ? 'timeout' : 'abort';
}

function isTimeoutError(reason: unknown): boolean {
  return typeof reason === 'object' && reason !== null && (reason as { name?: unknown }).name === 'TimeoutError';
}
