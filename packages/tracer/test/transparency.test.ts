import type { Tracer } from '@opentelemetry/api';
import { createScope, custom, flow, type Extension } from '@pumped-fn/core-next';
import { describe, expect, it } from 'vitest';
import { createTracingExtension } from '../src/index.js';
import { memoryTracing } from './support/memory-tracing.js';

const tracing = memoryTracing();

class PaymentDeclined extends Error {
  constructor(readonly code: string) {
    super(`declined: ${code}`);
  }
}

const thrown = new PaymentDeclined('insufficient_funds');
const shared = { id: 'same-object' };
// Serialising this throws: tracing must cope without the flow noticing.
const hostile = {
  get explode(): never {
    throw new Error('getter blew up');
  },
};

const charge = flow({ name: 'charge', input: custom<{ amount: number }>(), output: custom<unknown>() }, async (ctx, input) => {
  if (input.amount > 100) {
    await ctx.exec({ fn: () => Promise.reject(thrown), key: 'gateway' });
  }
  const parts = await ctx.parallel([ctx.exec({ fn: () => shared }), ctx.exec({ fn: () => hostile })]);
  return { parts: parts.results, amount: input.amount, big: 2n ** 70n };
});

async function outcome(extensions: Extension.Extension[], amount: number) {
  const scope = createScope({ extensions });
  try {
    return { value: await scope.exec({ flow: charge, input: { amount } }) };
  } catch (error) {
    return { error };
  }
}

const throwingTracer = {
  startSpan() {
    throw new Error('tracer is broken');
  },
  startActiveSpan() {
    throw new Error('tracer is broken');
  },
} as unknown as Tracer;

const variants: Array<[string, () => Extension.Extension[]]> = [
  ['default options', () => [createTracingExtension({ tracer: tracing.tracer })]],
  ['throwing callbacks', () => [
    createTracingExtension({
      tracer: tracing.tracer,
      flowId: () => {
        throw new Error('bad flowId');
      },
      tags: () => {
        throw new Error('bad filter');
      },
      redact: () => {
        throw new Error('bad redact');
      },
    }),
  ]],
  ['a tracer that throws', () => [createTracingExtension({ tracer: throwingTracer })]],
];

describe('transparency: the extension never changes what a flow returns or throws', () => {
  for (const [label, extensions] of variants) {
    it(`returns the same values with ${label}`, async () => {
      const plain = await outcome([], 10);
      const traced = await outcome(extensions(), 10);
      const [a, b] = [plain, traced].map((o) => o.value as { parts: unknown[]; amount: number; big: bigint });
      expect(b!.parts).toHaveLength(2);
      expect(b!.parts[0]).toBe(shared);
      expect(b!.parts[1]).toBe(hostile);
      expect([b!.amount, b!.big]).toEqual([a!.amount, a!.big]);
      expect(Object.keys(b!)).toEqual(Object.keys(a!));
    });

    it(`throws the same error instance with ${label}`, async () => {
      const plain = await outcome([], 500);
      const traced = await outcome(extensions(), 500);
      expect(plain.error).toBe(thrown);
      expect(traced.error).toBe(thrown);
    });
  }

  it('still records spans when user callbacks throw', async () => {
    tracing.reset();
    await outcome(variants[1]![1](), 10);
    const root = tracing.spans().find((s) => s.name === 'flow charge');
    expect(root?.attributes['flowtrace.flow.id']).toBe('charge');
    // A redact predicate that throws hides every value rather than leak one.
    expect(JSON.parse(String(root?.attributes['flowtrace.output']))).toEqual({
      parts: '[REDACTED]',
      amount: '[REDACTED]',
      big: '[REDACTED]',
    });
  });

  it('captures the rest of a value whose getter throws', async () => {
    tracing.reset();
    await outcome(variants[0]![1](), 10);
    const root = tracing.spans().find((s) => s.name === 'flow charge');
    expect(JSON.parse(String(root?.attributes['flowtrace.output']))).toEqual({
      parts: [{ id: 'same-object' }, { explode: '[Unreadable]' }],
      amount: 10,
      big: '1180591620717411303424',
    });
  });
});
