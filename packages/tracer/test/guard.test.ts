import { diag, DiagLogLevel, trace, type DiagLogger, type Span, type Tracer } from '@opentelemetry/api';
import { createScope, custom, flow } from '@pumped-fn/core-next';
import { afterEach, describe, expect, it } from 'vitest';
import { createTracingExtension } from '../src/index.js';
import { memoryTracing } from './support/memory-tracing.js';

const tracing = memoryTracing();
afterEach(() => {
  tracing.reset();
  diag.disable();
});

/** A `diag` logger that keeps what it is told, by level. */
function captureDiag() {
  const logged: { level: 'error' | 'warn' | 'debug'; message: string; args: unknown[] }[] = [];
  const keep = (level: 'error' | 'warn' | 'debug') => (message: string, ...args: unknown[]) => logged.push({ level, message, args });
  const logger: DiagLogger = { error: keep('error'), warn: keep('warn'), info: () => {}, debug: keep('debug'), verbose: () => {} };
  diag.setLogger(logger, { logLevel: DiagLogLevel.ALL, suppressOverrideMessage: true });
  return logged;
}

/** A real SDK tracer whose spans throw from `setAttributes` and `end`. */
function brokenSpans(): Tracer {
  const real = tracing.tracer;
  const broken = (span: Span): Span =>
    new Proxy(span, {
      get(target, key, receiver) {
        if (key === 'setAttributes' || key === 'end') return () => { throw new Error(`broken ${String(key)}`); };
        const value = Reflect.get(target, key, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  return {
    startSpan: (name, options, ctx) => broken(real.startSpan(name, options, ctx)),
    startActiveSpan: real.startActiveSpan.bind(real) as Tracer['startActiveSpan'],
  };
}

const steps = flow({ name: 'steps', input: custom<number>(), output: custom<number>() }, async (ctx, n) => {
  let total = n;
  for (let i = 0; i < 5; i++) total = await ctx.exec({ fn: (x: number) => x + 1, params: [total], key: `s${i}` });
  return total;
});

describe('failures of the tracer itself', () => {
  it('go to diag once per kind, and the flow runs as if untraced', async () => {
    const logged = captureDiag();
    const scope = createScope({ extensions: [createTracingExtension({ tracer: brokenSpans() })] });
    for (let i = 0; i < 3; i++) expect(await scope.exec({ flow: steps, input: i })).toBe(i + 5);
    const errors = logged.filter((l) => l.level === 'error');
    expect(errors.map((l) => l.message)).toEqual([expect.stringMatching(/^flowtrace: span end failed/)]);
    expect(errors[0]!.args[0]).toEqual(new Error('broken setAttributes'));
    // 3 executions × 6 spans: the rest are debug notes, not errors.
    expect(logged.filter((l) => l.level === 'debug' && l.message.includes('span end'))).toHaveLength(3 * 6 - 1);
  });

  it('reports a tracer that cannot start spans, and the flow still returns and throws as untraced', async () => {
    const logged = captureDiag();
    const throwing: Tracer = {
      startSpan: () => { throw new Error('no spans today'); },
      startActiveSpan: trace.getTracer('x').startActiveSpan.bind(trace.getTracer('x')) as Tracer['startActiveSpan'],
    };
    const scope = createScope({ extensions: [createTracingExtension({ tracer: throwing })] });
    expect(await scope.exec({ flow: steps, input: 1 })).toBe(6);
    const fails = flow({ name: 'fails', input: custom<void>(), output: custom<void>() }, () => {
      throw new RangeError('mine');
    });
    await expect(scope.exec({ flow: fails, input: undefined })).rejects.toThrow(new RangeError('mine'));
    const errors = logged.filter((l) => l.level === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toMatch(/^flowtrace: span start failed/);
    expect(errors[0]!.args[0]).toEqual(new Error('no spans today'));
  });
});
