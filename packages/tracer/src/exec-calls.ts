import { getEventListeners } from 'node:events';
import type { ExecutionContext } from '@pumped-fn/core-next';
import { plainPromise } from './promised.js';

type Ctx = ExecutionContext.Context;
type Listener = Parameters<AbortSignal['addEventListener']>[1];
type Exec = (this: Ctx, config: unknown) => ReturnType<Ctx['exec']>;

/** What one `ctx.exec` call set up, as seen from inside it (the extension's `wrap` runs there). */
export interface ExecCall {
  /** The signal of the context `exec` was called on. */
  signal: AbortSignal;
  /** The abort listener core-next added on that signal for this call. */
  listener: Listener | undefined;
  /** The call's `timeout` option, and when the call began (performance.now()). */
  timeout: number | undefined;
  startedAt: number;
  /**
   * For a call with a `timeout`: what the caller awaits. core-next races the operation against
   * the call's timer, so this rejects at the deadline while the operation may still be running.
   */
  seen: Promise<unknown> | undefined;
  /** Taken by the operation the call started, which releases the listener when it settles. */
  claimed: boolean;
}

/**
 * The `ctx.exec` call running now, on any context. Calls are synchronous until they return a
 * promise, so one slot serves all contexts; a nested call restores the outer one.
 */
let current: ExecCall | undefined;

/**
 * The `ctx.exec` call running now on the context whose signal is `signal`, for the operation
 * it started (its `wrap` runs inside the call), which must then call {@link releaseListener}
 * when it settles.
 */
export function claimExecCall(signal: AbortSignal): ExecCall | undefined {
  const call = current;
  if (call === undefined || call.signal !== signal || call.claimed) return undefined;
  call.claimed = true;
  return call;
}

/**
 * Watches the `exec` calls of a context so that no abort listeners pile up on its signal.
 *
 * core-next 0.5.94's `ctx.exec` links each call's controller to the caller's signal with
 * `addEventListener('abort', …, { once: true })` and never removes it, so a flow of more than 10
 * steps makes Node print MaxListenersExceededWarning and keeps every step's controller alive
 * until the flow ends. The instance's `exec` is replaced to note the first abort listener added
 * to the signal during the call (core-next adds it before anything else runs; Node's
 * `getEventListeners` lists them in order, without touching the signal), and it is removed
 * when the step settles: a step still running keeps its link to the parent's abort. A flow step's
 * context keeps it only while the step runs, so work the step left running is not aborted by
 * the parent afterwards, as it would not be once its context closed. The replacement is one
 * shared function assigned to each instance, not a closure per context: this runs for every flow.
 */
export function watchExecCalls(ctx: Ctx): void {
  prototypeExec ??= (Object.getPrototypeOf(ctx) as { exec: Exec }).exec;
  // Already ours, or replaced by someone else: leave it.
  if ((ctx.exec as unknown) !== prototypeExec) return;
  (ctx as unknown as { exec: Exec }).exec = releasingExec;
}

let prototypeExec: Exec | undefined;

function releasingExec(this: Ctx, config: unknown): ReturnType<Ctx['exec']> {
  const outer = current;
  const signal = this.signal;
  const timeout = (config as { timeout?: number } | undefined)?.timeout;
  const call: ExecCall = { signal, listener: undefined, timeout, startedAt: timeout ? performance.now() : 0, seen: undefined, claimed: false };
  // core-next adds its listener first thing in the call: the first one past those there before.
  const before = getEventListeners(signal, 'abort').length;
  current = call;
  let result: ReturnType<Ctx['exec']>;
  try {
    result = prototypeExec!.call(this, config);
  } catch (error) {
    // Thrown after linking the signal (an unknown flow, say): nothing will ever settle it.
    call.listener = getEventListeners(signal, 'abort')[before] as Listener | undefined;
    releaseListener(call);
    throw error;
  } finally {
    current = outer;
  }
  call.listener = getEventListeners(signal, 'abort')[before] as Listener | undefined;
  // Read by the operation after its first microtask (it starts deferred), so set in time.
  if (timeout) call.seen = plainPromise(result) as Promise<unknown>;
  if (call.listener && !call.claimed) {
    // No traced operation took the call (another extension deferred it, say): release it here.
    const done = () => releaseListener(call);
    Promise.resolve(plainPromise(result)).then(done, done);
  }
  return result;
}

export function releaseListener(call: ExecCall): void {
  if (call.listener) call.signal.removeEventListener('abort', call.listener);
}
