import type { ExecutionContext } from '@pumped-fn/core-next';

type Ctx = ExecutionContext.Context;
type AddListener = AbortSignal['addEventListener'];
type Listener = Parameters<AddListener>[1];

/** What one `ctx.exec` call set up, as seen from inside it (the extension's `wrap` runs there). */
export interface ExecCall {
  /** The abort listener core-next added on the calling context's signal for this call. */
  listener: Listener | undefined;
  /** The call's `timeout` option, and when the call began (performance.now()). */
  timeout: number | undefined;
  startedAt: number;
}

/** The `ctx.exec` call in progress on one context; a nested call restores the outer one. */
export interface ExecCalls {
  current: ExecCall | undefined;
}

/**
 * Watches the `exec` calls of a context so that no abort listeners pile up on its signal.
 *
 * core-next 0.5.94's `ctx.exec` links each call's controller to the caller's signal with
 * `addEventListener('abort', …, { once: true })` and never removes it, so a flow of more than 10
 * steps makes Node print MaxListenersExceededWarning and keeps every step's controller alive
 * until the flow ends. The instance's `exec` is wrapped to note the first abort listener added
 * to the signal during the call (core-next adds it before anything else runs), and it is removed
 * when that call settles: a step still running keeps its link to the parent's abort. A flow step's
 * context keeps it only while the step runs, so work the step left running is not aborted by
 * the parent afterwards, as it would not be once its context closed.
 */
export function watchExecCalls(ctx: Ctx): ExecCalls {
  const calls: ExecCalls = { current: undefined };
  const signal = ctx.signal;
  const add = signal.addEventListener;
  Object.defineProperty(signal, 'addEventListener', {
    configurable: true,
    writable: true,
    value(this: AbortSignal, ...args: Parameters<AddListener>) {
      const call = calls.current;
      if (call && call.listener === undefined && args[0] === 'abort') call.listener = args[1];
      return add.apply(this, args);
    },
  });
  const exec = ctx.exec;
  Object.defineProperty(ctx, 'exec', {
    configurable: true,
    writable: true,
    value(this: Ctx, config: Parameters<Ctx['exec']>[0]) {
      const outer = calls.current;
      const timeout = (config as { timeout?: number } | undefined)?.timeout;
      const call: ExecCall = { listener: undefined, timeout, startedAt: timeout ? performance.now() : 0 };
      calls.current = call;
      let result: ReturnType<Ctx['exec']>;
      try {
        result = (exec as (config: unknown) => ReturnType<Ctx['exec']>).call(this, config);
      } catch (error) {
        release(signal, call.listener);
        throw error;
      } finally {
        calls.current = outer;
      }
      const listener = call.listener;
      if (listener) {
        const done = () => release(signal, listener);
        settled(result).then(done, done);
      }
      return result;
    },
  });
  return calls;
}

function release(signal: AbortSignal, listener: Listener | undefined): void {
  if (listener) signal.removeEventListener('abort', listener);
}

/** The plain promise under core-next's `Promised`, so settling costs no extra wrapper. */
function settled(result: unknown): Promise<unknown> {
  const promised = result as { toPromise?: () => Promise<unknown> };
  return typeof promised.toPromise === 'function' ? promised.toPromise() : Promise.resolve(result);
}
