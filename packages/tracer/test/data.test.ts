import { describe, expect, it } from 'vitest';
import { captureJson, createRedactor, REDACTED } from '../src/data.js';

const defaults = { maxBytes: 8192, redact: createRedactor(undefined) };
const capture = (value: unknown, options = defaults) => captureJson(value, options);

describe('captureJson', () => {
  it('writes the same JSON as JSON.stringify for plain data', () => {
    const value = { a: 1, b: 'two', c: [true, null, 3.5], d: { e: 'é ✓' }, f: [] , g: {} };
    expect(capture(value)).toEqual({ json: JSON.stringify(value), truncated: false });
  });

  it('gives undefined for undefined and follows JSON for undefined members', () => {
    expect(capture(undefined)).toBeUndefined();
    expect(capture({ a: undefined, b: 1 })!.json).toBe('{"b":1}');
    expect(capture([undefined, 1])!.json).toBe('[null,1]');
    expect(capture(Number.NaN)!.json).toBe('null');
  });

  it('handles cycles, shared references, BigInt, functions, symbols and throwing getters', () => {
    const shared = { x: 1 };
    const cyclic: Record<string, unknown> = { name: 'loop', shared, again: shared };
    cyclic.self = cyclic;
    const tricky = {
      big: 10n ** 20n,
      fn: function named() {},
      list: [() => 1],
      sym: Symbol('s'),
      get boom() {
        throw new Error('no');
      },
    };
    expect(JSON.parse(capture(cyclic)!.json)).toEqual({
      name: 'loop',
      shared: { x: 1 },
      again: { x: 1 },
      self: '[Circular]',
    });
    expect(JSON.parse(capture(tricky)!.json)).toEqual({
      big: '100000000000000000000',
      list: ['[Function anonymous]'],
      sym: 'Symbol(s)',
      boom: '[Unreadable]',
    });
  });

  it('writes Dates, Maps, Sets, Errors and binary data readably', () => {
    const when = new Date('2026-01-02T03:04:05.000Z');
    const value = {
      when,
      map: new Map<unknown, unknown>([['k', 1], [2, 'two']]),
      set: new Set([1, 2]),
      error: Object.assign(new TypeError('bad'), { code: 'E_BAD' }),
      bytes: new Uint8Array(3),
    };
    expect(JSON.parse(capture(value)!.json)).toEqual({
      when: '2026-01-02T03:04:05.000Z',
      map: { k: 1, '2': 'two' },
      set: [1, 2],
      error: { name: 'TypeError', message: 'bad', code: 'E_BAD' },
      bytes: '[Uint8Array 3 bytes]',
    });
  });

  it('redacts sensitive keys at any depth by default, and not look-alikes', () => {
    const value = {
      user: 'ann',
      password: 'p',
      nested: [{ accessToken: 't', 'x-api-key': 'k', DB_PASSWORD: 'd', Authorization: 'Bearer x' }],
      cookie: { deep: 'c' },
      maxTokens: 100,
    };
    expect(JSON.parse(capture(value)!.json)).toEqual({
      user: 'ann',
      password: REDACTED,
      nested: [{ accessToken: REDACTED, 'x-api-key': REDACTED, DB_PASSWORD: REDACTED, Authorization: REDACTED }],
      cookie: REDACTED,
      maxTokens: 100,
    });
  });

  it('adds listed keys to the defaults, takes a function instead of them, or turns off', () => {
    const value = { memberCode: '1', password: 'p', card: '4242' };
    const listed = captureJson(value, { maxBytes: 8192, redact: createRedactor(['member_code']) })!;
    expect(JSON.parse(listed.json)).toEqual({ memberCode: REDACTED, password: REDACTED, card: REDACTED });
    const custom = captureJson(value, { maxBytes: 8192, redact: createRedactor((key) => key === 'card') })!;
    expect(JSON.parse(custom.json)).toEqual({ memberCode: '1', password: 'p', card: REDACTED });
    const off = captureJson(value, { maxBytes: 8192, redact: createRedactor(false) })!;
    expect(JSON.parse(off.json)).toEqual(value);
  });

  it('cuts long values to the byte cap, keeps valid JSON and says it was cut', () => {
    const big = { id: 7, items: Array.from({ length: 5000 }, (_, i) => ({ i, label: `item-${i}` })) };
    const cut = captureJson(big, { maxBytes: 1024, redact: createRedactor(undefined) })!;
    expect(cut.truncated).toBe(true);
    expect(Buffer.byteLength(cut.json)).toBeLessThanOrEqual(1024);
    const parsed = JSON.parse(cut.json);
    expect(parsed.id).toBe(7);
    expect(parsed.items[0]).toEqual({ i: 0, label: 'item-0' });
    // The cut is marked where it happened: in the last item written, or as the list's last entry.
    expect(JSON.stringify(parsed.items.at(-1))).toContain('[truncated]');
    expect(parsed.items.length).toBeLessThan(100);
  });

  it('cuts a long string inside, never splitting a multi-byte character', () => {
    const text = '€'.repeat(10_000);
    for (const maxBytes of [64, 100, 101, 102, 500]) {
      const cut = captureJson({ text }, { maxBytes, redact: createRedactor(undefined) })!;
      expect(cut.truncated).toBe(true);
      expect(Buffer.byteLength(cut.json)).toBeLessThanOrEqual(maxBytes);
      const parsed = JSON.parse(cut.json);
      expect(parsed.text).toMatch(/^€+…\[truncated\]$/);
    }
  });

  it('stays within the cap for every cap on deeply nested data', () => {
    let nested: unknown = 'leaf'.repeat(50);
    for (let i = 0; i < 40; i++) nested = { level: i, child: nested, list: [i, `v${i}`] };
    for (let maxBytes = 64; maxBytes < 3000; maxBytes += 37) {
      const cut = captureJson(nested, { maxBytes, redact: createRedactor(undefined) })!;
      expect(Buffer.byteLength(cut.json)).toBeLessThanOrEqual(maxBytes);
      expect(() => JSON.parse(cut.json)).not.toThrow();
    }
  });
});
