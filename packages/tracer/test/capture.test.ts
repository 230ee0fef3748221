import { createScope, custom, flow } from '@pumped-fn/core-next';
import { afterEach, describe, expect, it } from 'vitest';
import { CaptureCache, captureJson, createRedactor, type CaptureOptions } from '../src/data.js';
import { createTracingExtension } from '../src/index.js';
import * as attr from '@flowtrace/semconv';
import { byName, json, memoryTracing } from './support/memory-tracing.js';

const redact = createRedactor(undefined);

function order(n: number) {
  return {
    id: `ord-${n}`,
    customer: { name: 'Ann', email: 'ann@example.com', address: { city: 'Amsterdam', zip: '1011 AB' } },
    lines: Array.from({ length: 5 }, (_, i) => ({ sku: `SKU-${i}`, qty: i + 1, price: 2.5 * i, tags: ['tea', `batch-${i}`] })),
    notes: 'leave with the neighbour',
    password: 'hunter2',
  };
}

describe('serialization stops at the cap', () => {
  it('reads only what fits: a huge value costs about as much as the cap, not its size', () => {
    let reads = 0;
    const items = Array.from({ length: 100_000 }, (_, i) => ({
      get label() {
        reads++;
        return `item-${i}`;
      },
    }));
    const cut = captureJson({ items }, { maxBytes: 1024, redact })!;
    expect(cut.truncated).toBe(true);
    expect(Buffer.byteLength(cut.json)).toBeLessThanOrEqual(1024);
    expect(reads).toBeGreaterThan(10);
    expect(reads).toBeLessThan(100);
  });

  it('writes what JSON.stringify writes for plain data, and stays valid JSON under the cap for every cap', () => {
    const value = { ...order(1), text: 'é ✓ "quoted" \\ back\nslash', control: '\u0001', emoji: '😀 ok', big: 12345678901, neg: -0.5 };
    expect(captureJson(value, { maxBytes: 1 << 20, redact: createRedactor(false), cardNumbers: false })!.json).toBe(JSON.stringify(value));
    for (let maxBytes = 64; maxBytes < 900; maxBytes += 7) {
      const cut = captureJson(value, { maxBytes, redact })!;
      expect(Buffer.byteLength(cut.json)).toBeLessThanOrEqual(maxBytes);
      expect(() => JSON.parse(cut.json), cut.json).not.toThrow();
    }
  });
});

describe('scalars and short lists of scalars (most steps\' params and results)', () => {
  it('are written as JSON.stringify writes them', () => {
    const sparse = [1, , 3];
    const values: unknown[] = [0, -0, 1.5, -7, 1e21, 999_999_999_999, NaN, Infinity, true, false, null, '', 'abc', 'a "quoted" word', 'tab\there', 'é', '😀',
      [], [1, 'x', null, undefined, true], sparse, [1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 3, 4, 5, 6, 7, 8, 9], [[1], 2], [{ a: 1 }], [() => 1], [Symbol('s')], [10n]];
    for (const value of values) {
      const expected = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : typeof v === 'symbol' ? v.toString() : typeof v === 'function' ? '[Function anonymous]' : v));
      expect(captureJson(value, { maxBytes: 8192, redact }), expected).toEqual({ json: expected, truncated: false });
    }
  });

  it('still hide card numbers and stop at the cap', () => {
    const hidden = { json: '"[REDACTED]"', truncated: false };
    expect(captureJson('4242 4242 4242 4242', { maxBytes: 8192, redact })).toEqual(hidden);
    expect(captureJson(4242424242424242, { maxBytes: 8192, redact })).toEqual(hidden);
    expect(captureJson([4242424242424242, 'ok'], { maxBytes: 8192, redact })).toEqual({ json: '["[REDACTED]","ok"]', truncated: false });
    expect(captureJson(1_764_633_600_000, { maxBytes: 8192, redact })).toEqual({ json: '1764633600000', truncated: false });
    const cut = captureJson(['x'.repeat(100)], { maxBytes: 64, redact })!;
    expect(cut.truncated).toBe(true);
    expect(Buffer.byteLength(cut.json)).toBeLessThanOrEqual(64);
    expect(JSON.parse(cut.json)[0]).toMatch(/^x+…\[truncated\]$/);
  });
});

describe('CaptureCache: a value written once, reused while unchanged', () => {
  const options = (cache: CaptureCache): CaptureOptions => ({ maxBytes: 8192, redact, cache });
  const fresh = (value: unknown) => captureJson(value, { maxBytes: 8192, redact })!.json;

  it('gives the same JSON from the cache as a fresh capture, as a value and as an item of a params list', () => {
    const cache = new CaptureCache();
    const output = order(1);
    const first = captureJson(output, options(cache))!.json;
    expect(first).toBe(fresh(output));
    expect(JSON.parse(first).password).toBe('[REDACTED]');
    expect(captureJson([output, 3], options(cache))!.json).toBe(fresh([output, 3]));
    expect(captureJson(output, options(cache))!.json).toBe(first);
  });

  it('notices every kind of change made between two captures, at any depth', () => {
    const changes: Array<(o: ReturnType<typeof order>) => void> = [
      (o) => (o.notes = 'ring twice'),
      (o) => (o.customer.address.city = 'Utrecht'),
      (o) => (o.lines[2]!.qty = 99),
      (o) => o.lines[4]!.tags.push('late'),
      (o) => o.lines.pop(),
      (o) => ((o as Record<string, unknown>).extra = true),
      (o) => delete (o as Partial<typeof o>).notes,
      (o) => (o.customer = { ...o.customer }), // same content, another object: rewritten, same text
      (o) => (o.lines[0] = { ...o.lines[0]!, sku: 'SKU-X' }),
      (o) => (o.password = 'changed'), // hidden either way
    ];
    for (const change of changes) {
      const cache = new CaptureCache();
      const value = order(2);
      const before = captureJson([value], options(cache))!.json;
      change(value);
      const after = captureJson([value], options(cache))!.json;
      expect(after, change.toString()).toBe(fresh([value]));
      expect(JSON.parse(before)[0]).toEqual(JSON.parse(fresh([order(2)]))[0]);
    }
  });

  it('reuses a list output (rows) as the next params, and notices a changed row', () => {
    const cache = new CaptureCache();
    const rows = [order(1), order(2), order(3)];
    expect(captureJson(rows, options(cache))!.json).toBe(fresh(rows));
    expect(captureJson([rows, 'mode'], options(cache))!.json).toBe(fresh([rows, 'mode']));
    rows[1]!.lines[0]!.qty = 42;
    expect(captureJson([rows, 'mode'], options(cache))!.json).toBe(fresh([rows, 'mode']));
    expect(captureJson([rows[2]], options(cache))!.json).toBe(fresh([rows[2]]));
  });

  it('reuses the parts a step passes on unchanged ({ ...input, status }), and notices a change in them', () => {
    const cache = new CaptureCache();
    let current = order(1);
    captureJson(current, options(cache));
    for (let step = 0; step < 6; step++) {
      const next = { ...current, notes: `step ${step}` };
      if (step === 3) next.lines[1]!.qty = 7;
      if (step === 4) next.customer.address.zip = '3511 AA';
      expect(captureJson(next, options(cache))!.json).toBe(fresh(next));
      expect(captureJson([next, step], options(cache))!.json).toBe(fresh([next, step]));
      current = next;
    }
    // The shared part was kept as a part of its own.
    expect(cache.get(current.lines)).toBeDefined();
  });

  it('does not reuse a part where its depth would pass the nesting limit', () => {
    const cache = new CaptureCache();
    // 30 levels of objects, the innermost padded past the size worth keeping.
    let chain: Record<string, unknown> = { pad: 'p'.repeat(300) };
    for (let i = 0; i < 29; i++) chain = { chain };
    captureJson({ chain }, options(cache));
    expect(cache.get(chain)).toBeDefined();
    const deeper = { a: { b: { chain } } };
    expect(fresh(deeper)).toContain('[MaxDepth]');
    expect(captureJson(deeper, options(cache))!.json).toBe(fresh(deeper));
  });

  it('keeps each entry for at least the next `generation` entries, and at most twice as many; one used again stays', () => {
    // One entry per capture: a value with no part big enough to be kept on its own. A look-up
    // keeps what it finds, so each window is probed on a cache of its own.
    const value = (i: number) => ({ id: i, text: 'x'.repeat(300) });
    const run = (later: number) => {
      const cache = new CaptureCache(8);
      const first = value(0);
      const used = value(-1);
      captureJson(used, options(cache));
      const usedEntry = cache.get(used);
      captureJson(first, options(cache));
      for (let i = 1; i <= later; i++) {
        captureJson(value(i), options(cache));
        captureJson([used, i], options(cache));
      }
      return { first: cache.get(first), used: cache.get(used), usedEntry };
    };
    expect(run(8).first).toBeDefined();
    const after16 = run(16);
    expect(after16.first).toBeUndefined();
    // Still the entry written first: reused each time, never written again.
    expect(after16.used).toBe(after16.usedEntry);
  });

  it('does not keep values with special objects, cycles or cuts, and stays correct for them', () => {
    const cache = new CaptureCache();
    const withDate = { at: new Date(0), n: 1 };
    captureJson(withDate, options(cache));
    withDate.at.setTime(86_400_000);
    expect(captureJson(withDate, options(cache))!.json).toBe('{"at":"1970-01-02T00:00:00.000Z","n":1}');

    const big = { list: Array.from({ length: 2000 }, (_, i) => i) };
    const cut = captureJson(big, { maxBytes: 256, redact, cache })!;
    expect(cut.truncated).toBe(true);
    big.list.length = 3;
    expect(captureJson(big, { maxBytes: 256, redact, cache })).toEqual({ json: '{"list":[0,1,2]}', truncated: false });
  });
});

describe('through the extension: each step records its value as it was when the step ended', () => {
  const tracing = memoryTracing();
  afterEach(() => tracing.reset());

  it("keeps step 1's recorded output when step 2 mutates it, and records step 2's input as step 2 got it", async () => {
    const notes = 'n'.repeat(300);
    const pipeline = flow({ name: 'pipeline', input: custom<number>(), output: custom<unknown>() }, async (ctx, n) => {
      // Big enough (notes) to be kept in the capture cache: the check of its shape is what is tested.
      const made = await ctx.exec({ key: 'make', fn: (k: number) => ({ n: k, items: [{ sku: 'a', qty: 1 }], status: 'new', notes }), params: [n] });
      const changed = await ctx.exec({
        key: 'mutate',
        fn: (o: typeof made) => {
          o.items[0]!.qty = 5;
          o.items.push({ sku: 'b', qty: 2 });
          o.status = 'changed';
          return o;
        },
        params: [made],
      });
      // The flow changes it again between steps: the next step's input shows that change.
      changed.items[1]!.sku = 'c';
      return ctx.exec({ key: 'read', fn: (o: typeof made) => o.items.length, params: [changed] });
    });
    await createScope({ extensions: [createTracingExtension({ tracer: tracing.tracer })] }).exec({ flow: pipeline, input: 7 });
    const spans = tracing.spans();
    const make = byName(spans, 'step make');
    const mutate = byName(spans, 'step mutate');
    const read = byName(spans, 'step read');
    expect(json(make.attributes[attr.ATTR_OUTPUT])).toEqual({ n: 7, items: [{ sku: 'a', qty: 1 }], status: 'new', notes });
    expect(json(mutate.attributes[attr.ATTR_INPUT])).toEqual([{ n: 7, items: [{ sku: 'a', qty: 1 }], status: 'new', notes }]);
    expect(json(mutate.attributes[attr.ATTR_OUTPUT])).toEqual({ n: 7, items: [{ sku: 'a', qty: 5 }, { sku: 'b', qty: 2 }], status: 'changed', notes });
    expect(json(read.attributes[attr.ATTR_INPUT])).toEqual([{ n: 7, items: [{ sku: 'a', qty: 5 }, { sku: 'c', qty: 2 }], status: 'changed', notes }]);
  });
});
