import { context, propagation, type Context } from '@opentelemetry/api';

/**
 * Trace context crosses the MCP boundary in `params._meta` (`traceparent`, `tracestate`,
 * `baggage`), as the MCP semantic conventions describe: the JSON-RPC message is the carrier.
 */
export type Meta = Record<string, unknown>;

/** `params` with the active trace context added to its `_meta`; other `_meta` keys are kept. */
export function injectIntoParams<P extends { _meta?: Meta } | undefined>(params: P): P {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  if (Object.keys(carrier).length === 0) return params;
  return { ...(params ?? {}), _meta: { ...(params?._meta ?? {}), ...carrier } } as P;
}

/** The context a request's `_meta` carries, on top of `base`. */
export function extractFromMeta(meta: Meta | undefined, base: Context = context.active()): Context {
  if (!meta) return base;
  return propagation.extract(base, meta, {
    keys: (carrier) => Object.keys(carrier),
    get: (carrier, key) => {
      const value = (carrier as Meta)[key];
      return typeof value === 'string' ? value : undefined;
    },
  });
}
