import type { ExecutionContext } from '@pumped-fn/core-next';
import { plainPromise } from './promised.js';

type Ctx = ExecutionContext.Context;
type Listener = Parameters<AbortSignal['addEventListener']>[1];
type Exec = (this: Ctx, config: unknown) => ReturnType<Ctx['exec']>;

/** What one `ctx.exec` call set up, as seen from inside it (the extension's `wrap` runs there). */
export interface ExecCall {
  /** The signal of the context `exec` was called on. */
  signal: AbortSignal;
  /** The abort link core-next made on that signal for this call, held in the signal's links. */
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
 * until the flow ends. The instance's `exec` is replaced: during a call, the link core-next adds
 * to the context's signal is kept in the signal's {@link AbortLinks} instead of Node's listener
 * list, and dropped from there when the step settles. A step still running keeps its link to the
 * parent's abort; a flow step's context keeps it only while the step runs, so work the step left
 * running is not aborted by the parent afterwards, as it would not be once its context closed.
 * The replacement is one shared function assigned to each instance, not a closure per context:
 * this runs for every flow.
 */
export function watchExecCalls(ctx: Ctx): void {
  prototypeExec ??= (Object.getPrototypeOf(ctx) as { exec: Exec }).exec;
  // Already ours, or replaced by someone else: leave it.
  if ((ctx.exec as unknown) !== prototypeExec) return;
  (ctx as unknown as { exec: Exec }).exec = releasingExec;
}

let prototypeExec: Exec | undefined;

const LINKS = Symbol('flowtrace.abortLinks');
type LinkedSignal = AbortSignal & { [LINKS]?: AbortLinks };
const addListener = EventTarget.prototype.addEventListener;

/**
 * The abort links of one context's signal: one real `abort` listener runs them all, in the order
 * they were made. Adding to and deleting from a Set is a fraction of what Node's EventTarget
 * costs to add, list and remove a listener, and this happens on every step.
 */
export class AbortLinks {
  private readonly listeners = new Set<Listener>();

  constructor(signal: AbortSignal) {
    addListener.call(signal, 'abort', (event) => {
      const listeners = [...this.listeners];
      this.listeners.clear();
      for (const listener of listeners) (listener as (this: AbortSignal, event: Event) => void).call(signal, event);
    }, { once: true });
  }

  add(listener: Listener): void {
    this.listeners.add(listener);
  }

  delete(listener: Listener): void {
    this.listeners.delete(listener);
  }

  /** Links not released yet: those of steps still running. */
  get size(): number {
    return this.listeners.size;
  }
}

/** The links held for `signal`'s context (tests read how many are left). */
export function abortLinksOf(signal: AbortSignal): AbortLinks | undefined {
  return (signal as LinkedSignal)[LINKS];
}

/**
 * The signal's own `addEventListener` while its context is traced: the abort link core-next makes
 * in a watched `exec` call goes to the signal's links; anything else to Node's EventTarget.
 */
function linkingAddEventListener(this: LinkedSignal, type: string, listener: Listener, options?: Parameters<AbortSignal['addEventListener']>[2]): void {
  const call = current;
  if (call !== undefined && call.signal === this && call.listener === undefined && type === 'abort' && typeof listener === 'function') {
    call.listener = listener;
    this[LINKS]!.add(listener);
    return;
  }
  addListener.call(this, type, listener, options);
}

/** Gives `signal` its links, once: plain assignments, which V8 caches as one transition for all signals. */
function link(signal: LinkedSignal): void {
  if (signal[LINKS] !== undefined) return;
  signal[LINKS] = new AbortLinks(signal);
  (signal as { addEventListener: typeof linkingAddEventListener }).addEventListener = linkingAddEventListener;
}

function releasingExec(this: Ctx, config: unknown): ReturnType<Ctx['exec']> {
  const outer = current;
  const signal = this.signal;
  // On an aborted signal core-next links nothing (it aborts the step at once), and the links' one
  // listener never fires; not asked here, as `aborted` is slow to read on every step.
  link(signal);
  const timeout = (config as { timeout?: number } | undefined)?.timeout;
  const call: ExecCall = { signal, listener: undefined, timeout, startedAt: timeout ? performance.now() : 0, seen: undefined, claimed: false };
  current = call;
  let result: ReturnType<Ctx['exec']>;
  try {
    result = prototypeExec!.call(this, config);
  } catch (error) {
    // Thrown after linking the signal (an unknown flow, say): nothing will ever settle it.
    releaseListener(call);
    throw error;
  } finally {
    current = outer;
  }
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
  if (call.listener) abortLinksOf(call.signal)!.delete(call.listener);
}
