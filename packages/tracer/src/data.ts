/**
 * Turns arbitrary runtime values (flow inputs, fn params, outputs, tool arguments) into JSON
 * text for span attributes: secrets redacted, size capped, and never throwing — whatever the
 * value holds (cycles, BigInt, functions, throwing getters).
 *
 * The writer walks the value itself instead of calling `JSON.stringify` so that it can stop at
 * the byte cap without serialising a 10 MB object to keep 8 KiB of it, hide secrets in the same
 * pass, and keep the cut text valid JSON: a cut string ends in `…[truncated]`, a cut array or
 * object ends with a `"[truncated]"` entry, and the caller learns that the value was cut.
 *
 * It runs on every step's input and output, so it is written for speed: one string built by
 * appending, byte counts kept as numbers (ASCII text is counted by its length, only text with
 * wider characters goes through `Buffer.byteLength`), key tokens and redaction decisions cached.
 */

export const REDACTED = '[REDACTED]';
export const TRUNCATED = '[truncated]';

/** Decides whether the value under `key` must be hidden. */
export type RedactFn = (key: string, value: unknown) => boolean;

/**
 * Keys hidden by default. A key matches when, lower-cased with `-`, `_` and `.` removed, it
 * equals or ends with one of these (so `accessToken`, `x-api-key` and `DB_PASSWORD` match, and
 * `maxTokens` does not).
 */
export const DEFAULT_REDACTED_KEYS: readonly string[] = [
  'password',
  'passwd',
  'passphrase',
  'secret',
  'token',
  'authorization',
  'apikey',
  'cookie',
  'credential',
  'credentials',
  'privatekey',
  'sessionid',
];

/**
 * Payment and identity keys hidden by default. These are short or common words, so a key
 * matches only when it ends with one at a word boundary (camelCase, `-`, `_`, `.` or a space):
 * `card`, `creditCard`, `card_number`, `CARD-NUMBER`, `creditCardNumber`, `PAN`, `bankIban`
 * match; `discard`, `postcard`, `span`, `company`, `cardType` do not.
 */
export const DEFAULT_REDACTED_WORD_KEYS: readonly string[] = [
  'card',
  'cardnumber',
  'pan',
  'cvv',
  'cvv2',
  'cvc',
  'cvc2',
  'iban',
  'ssn',
  'accountnumber',
];

/**
 * Builds the redaction predicate from the user's option: `false` turns redaction off, a list of
 * key names adds to the defaults, a function replaces them.
 */
export function createRedactor(option: readonly string[] | RedactFn | false | undefined): RedactFn {
  if (option === false) return () => false;
  if (typeof option === 'function') {
    // A predicate that throws fails closed: the value is hidden rather than leaked.
    return (key, value) => {
      try {
        return option(key, value);
      } catch {
        return true;
      }
    };
  }
  const suffixes = [...DEFAULT_REDACTED_KEYS, ...(option ?? []).map(normalizeKey)];
  const cache = new Map<string, boolean>();
  return (key) => {
    let hit = cache.get(key);
    if (hit === undefined) {
      const normal = normalizeKey(key);
      hit = suffixes.some((suffix) => normal.endsWith(suffix)) || endsWithWordKey(key, normal);
      // Keys repeat across executions; the bound keeps adversarial key sets from growing it.
      if (cache.size < 4096) cache.set(key, hit);
    }
    return hit;
  };
}

function normalizeKey(key: string): string {
  return key.toLowerCase().replace(/[-_.\s]/g, '');
}

/** Whether `normal` (the normalized `key`) ends with a word key that starts at a word boundary of `key`. */
function endsWithWordKey(key: string, normal: string): boolean {
  for (const word of DEFAULT_REDACTED_WORD_KEYS) {
    if (!normal.endsWith(word)) continue;
    const start = normal.length - word.length;
    if (start === 0 || wordStarts(key).has(start)) return true;
  }
  return false;
}

/** Offsets, in the normalized key, where a word of `key` starts. */
function wordStarts(key: string): Set<number> {
  const starts = new Set<number>();
  let offset = 0;
  let previous = '';
  for (let i = 0; i < key.length; i++) {
    const char = key[i]!;
    if (/[-_.\s]/.test(char)) {
      previous = '';
      starts.add(offset);
      continue;
    }
    const next = key[i + 1] ?? '';
    const upper = char !== char.toLowerCase();
    // cardNumber: a capital after a lower-case letter; IBANNumber: the last capital before a lower-case one.
    if (upper && previous !== '' && (previous === previous.toLowerCase() || (next !== '' && next !== next.toUpperCase()))) starts.add(offset);
    previous = char;
    offset++;
  }
  return starts;
}

/**
 * Replaces card-like numbers in `text` with `[REDACTED]`: 13 to 19 digits, single spaces or
 * dashes allowed between them, starting with a card issuer's digit (2–6) and passing the Luhn
 * check. Order ids, timestamps (epoch milliseconds to nanoseconds start with 1 until 2286) and
 * other numbers that fail either, or are shorter, stay readable.
 */
export function redactCardNumbers(text: string): string {
  return text.length < 13 || longestDigitRun(text, 0) < 13 ? text : text.replace(DIGIT_RUN, redactRun);
}

/**
 * The most digits in one run of `text` from `from` on (single spaces or dashes between digits
 * do not end a run). A cheap pre-check: ids, dates and timestamps rarely reach 13, and the
 * regex never runs for them.
 */
function longestDigitRun(text: string, from: number): number {
  let longest = 0;
  let run = 0;
  let separated = false;
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      run++;
      separated = false;
      if (run > longest) longest = run;
    } else if ((c === 32 || c === 45) && run > 0 && !separated) {
      separated = true;
    } else {
      run = 0;
      separated = false;
    }
  }
  return longest;
}

/** Maximal runs of digits with single spaces or dashes between them. */
const DIGIT_RUN = /\d(?:[ -]?\d){12,}/g;

function redactRun(run: string): string {
  const digits = run.replace(/[ -]/g, '');
  if (digits.length <= 19 && cardLike(digits)) return REDACTED;
  // The run may hold a card number next to other groups ("order 12 4242 4242 4242 4242"):
  // try each span of whole groups with 13 to 19 digits, first match first.
  const groups = [...run.matchAll(/\d+/g)];
  for (let first = 0; first < groups.length; first++) {
    let joined = '';
    for (let last = first; last < groups.length; last++) {
      joined += groups[last]![0];
      if (joined.length > 19) break;
      if (joined.length >= 13 && cardLike(joined)) {
        const end = groups[last]!.index + groups[last]![0].length;
        return run.slice(0, groups[first]!.index) + REDACTED + run.slice(end).replace(DIGIT_RUN, redactRun);
      }
    }
  }
  return run;
}

/** Issuers' numbers start with 2 (Mastercard) to 6 (Discover, UnionPay): 1 is never a card's. */
function cardLike(digits: string): boolean {
  const first = digits.charCodeAt(0);
  return first >= 50 && first <= 54 && luhn(digits);
}

function luhn(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

export interface CaptureOptions {
  /** Upper bound of the JSON text, in UTF-8 bytes. */
  maxBytes: number;
  redact: RedactFn;
  /**
   * JSON already written for objects seen before (a step's output that is the next step's
   * input), reused when the object has not changed since. Only for one `maxBytes` and `redact`.
   */
  cache?: CaptureCache;
  /** Hide card-like numbers in strings and numbers (see {@link redactCardNumbers}). Default `true`. */
  cardNumbers?: boolean;
}

export interface Captured {
  json: string;
  truncated: boolean;
}

const MAX_DEPTH = 32;
/** JSON shorter than this is written again rather than kept in a {@link CaptureCache}. */
const MIN_CACHED_BYTES = 256;
/**
 * Containers this near the top are looked up in the cache: a value, a params list's items, and
 * the parts of either that a step passes on unchanged. Deeper ones are only written.
 */
const CACHED_DEPTH = 3;
/** Room kept for the truncation marker and separators: `,"[truncated]":true`. */
const MARKER_RESERVE = 20;
/** Below this the cap could not hold a marker; smaller settings are raised to it. */
export const MIN_MAX_BYTES = 64;

/** Serialises `value` as capped, redacted JSON. `undefined` at the top gives `undefined`. */
export function captureJson(value: unknown, options: CaptureOptions): Captured | undefined {
  if (value === undefined) return undefined;
  const maxBytes = Math.max(options.maxBytes, MIN_MAX_BYTES);
  const cards = options.cardNumbers ?? true;
  const small = smallJson(value, cards);
  // The walker would write the same text: it fits, and nothing in it is redacted or cut.
  if (small !== undefined && small.length <= maxBytes - MARKER_RESERVE) return { json: small, truncated: false };
  const writer = new CappedJsonWriter(maxBytes, options.redact, options.cache, cards);
  writer.value(value, 0);
  return { json: writer.text(), truncated: writer.truncated };
}

/** Up to this many items, a list of scalars (a typical params list) is written without the walker. */
const SMALL_LIST = 8;

/**
 * The JSON of a scalar or a short plain list of scalars, when it needs none of the walker's
 * care (no escaping, wide characters, card-like digits, keys to redact); `undefined` otherwise.
 * Most steps take and return such values, and writing them directly saves the walker's setup.
 */
function smallJson(value: unknown, cards: boolean): string | undefined {
  if (typeof value !== 'object' || value === null) return scalarJson(value, cards);
  if (!Array.isArray(value) || value.length > SMALL_LIST || Object.getPrototypeOf(value) !== Array.prototype) return undefined;
  try {
    let json = '[';
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      const text = item === undefined ? 'null' : typeof item === 'object' && item !== null ? undefined : scalarJson(item, cards);
      if (text === undefined) return undefined;
      json += i === 0 ? text : ',' + text;
    }
    return json + ']';
  } catch {
    // An item that throws when read: the walker writes it as unreadable.
    return undefined;
  }
}

function scalarJson(value: unknown, cards: boolean): string | undefined {
  switch (typeof value) {
    case 'number':
      if (!Number.isFinite(value)) return 'null';
      // Numbers as long as a card's are left to the walker, which hides card-like ones.
      return cards && Math.abs(value) >= 1e12 ? undefined : String(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'string': {
      const digits = scanText(value);
      return digits < 0 || (cards && digits >= 13) ? undefined : '"' + value + '"';
    }
    default:
      return value === null ? 'null' : undefined;
  }
}

/**
 * One pass over `text`: how many digits it holds (a card check needs 13), or `-1 - digits` when
 * it is not plain ASCII JSON (it needs escaping, or holds characters wider than a byte).
 */
function scanText(text: string): number {
  let plain = true;
  let digits = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) digits++;
    else if (c < 32 || c === 34 || c === 92 || c > 127) plain = false;
  }
  return plain ? digits : -1 - digits;
}

/** What an object's JSON was written from, so a later capture can tell whether it changed. */
interface CacheEntry {
  json: string;
  bytes: number;
  /** How many container levels it holds below itself: where it may be reused under {@link MAX_DEPTH}. */
  height: number;
  /**
   * The walk, flattened: each container, its size, each key and each leaf, in order; a part
   * taken from another entry is that entry's shape, after {@link PART}.
   */
  shape: unknown[];
}

/** Marks a member whose value was redacted: only its identity is kept, not its contents. */
const HIDDEN = Symbol('hidden');
/** Marks a part written from another entry: its shape follows, referenced rather than copied. */
const PART = Symbol('part');

/**
 * JSON of plain objects and arrays captured before, keyed by identity. A step's output is very
 * often the next step's input, and a step that returns `{ ...input, status }` shares most of
 * its parts with the input: each is written once.
 *
 * An object can change between the two captures (the flow mutates a step's output before
 * passing it on), so an entry is reused only when the object still has the same shape: each
 * nested container the same object with the same size, each key the same, each leaf `===` the
 * same. Checking that is a walk with no text, no escaping and no redaction — several times
 * cheaper than writing — and it never shows a stale value. Only whole (uncut) values of plain
 * objects, arrays and primitives are kept; anything else (Dates, Maps, class instances, cycles)
 * is written afresh each time.
 *
 * Entries are weak and live for two generations of `generation` entries, and an entry used again
 * moves to the young one: the reuse it serves comes a step later, and every entry (its text, and
 * its shape holding the whole value) that lives longer survives the young generation's
 * collections, is copied there and promoted. With 512 entries kept, the realistic tracer flow
 * (spans discarded, `--trace-gc`) spent 316 ms in scavenges over 360 executions; with two
 * generations of 8, 124 ms.
 */
export class CaptureCache {
  private young = new WeakMap<object, CacheEntry>();
  private old = new WeakMap<object, CacheEntry>();
  private size = 0;

  constructor(private readonly generation = 8) {}

  /** The entry for `value` if it is unchanged since it was written. */
  get(value: object): CacheEntry | undefined {
    const young = this.young.get(value);
    const entry = young ?? this.old.get(value);
    if (entry === undefined || sameShape(value, entry.shape, 0) !== entry.shape.length) return undefined;
    // A part every step passes on unchanged (an order's lines) stays while it is used.
    if (young === undefined) this.set(value, entry);
    return entry;
  }

  set(value: object, entry: CacheEntry): void {
    if (++this.size > this.generation) {
      this.old = this.young;
      this.young = new WeakMap();
      this.size = 1;
    }
    this.young.set(value, entry);
  }
}

/** {@link sameShape} of a nested container, which may be another entry's {@link PART}. */
function sameNested(value: object, shape: unknown[], at: number): number {
  if (shape[at] !== PART) return sameShape(value, shape, at);
  const part = shape[at + 1] as unknown[];
  return sameShape(value, part, 0) === part.length ? at + 2 : -1;
}

/** Walks `value` along `shape` from `at`; the index after it when they agree, -1 when not. */
function sameShape(value: object, shape: unknown[], at: number): number {
  let i = at;
  if (shape[i++] !== value) return -1;
  if (Array.isArray(value)) {
    if (shape[i++] !== value.length) return -1;
    for (let k = 0; k < value.length; k++) {
      const item: unknown = value[k];
      if (typeof item === 'object' && item !== null) {
        i = sameNested(item, shape, i);
        if (i < 0) return -1;
      } else if (shape[i++] !== item) return -1;
    }
    return i;
  }
  // for…in walks the same own keys in the same order as Object.keys without building an array
  // (only cached objects get here: plain ones, whose prototype adds no enumerable keys).
  const count = shape[i++] as number;
  let seen = 0;
  for (const key in value) {
    if (++seen > count || shape[i++] !== key) return -1;
    const item: unknown = (value as Record<string, unknown>)[key];
    if (shape[i] === HIDDEN) {
      if (shape[i + 1] !== item) return -1;
      i += 2;
    } else if (typeof item === 'object' && item !== null) {
      i = sameNested(item, shape, i);
      if (i < 0) return -1;
    } else if (shape[i++] !== item) return -1;
  }
  if (seen !== count) return -1;
  return i;
}

/** `"key":` of an object key and its UTF-8 size; keys repeat from value to value. */
interface KeyToken {
  first: string;
  next: string;
  bytes: number;
}
const keyTokens = new Map<string, KeyToken>();

function keyToken(key: string): KeyToken {
  let token = keyTokens.get(key);
  if (token === undefined) {
    const first = JSON.stringify(key) + ':';
    token = { first, next: ',' + first, bytes: tokenBytes(first) };
    if (keyTokens.size < 4096) keyTokens.set(key, token);
  }
  return token;
}

/** Up to this many pieces, a text is appended together rather than joined (see {@link CappedJsonWriter.text}). */
const SMALL_TEXT_PARTS = 16;

/** Matches what JSON escapes and what UTF-8 writes in more than one byte. */
const NOT_PLAIN = /[\u0000-\u001f"\\\u0080-\uffff]/;
const WIDE = /[\u0080-\uffff]/;

function tokenBytes(token: string): number {
  return WIDE.test(token) ? Buffer.byteLength(token) : token.length;
}

class CappedJsonWriter {
  /**
   * The JSON so far, in pieces joined once at the end. Appending to one string builds a rope of
   * hundreds of small pieces, and flattening it (which the exporter or a postMessage does later)
   * cost more than writing it; a join writes one flat string at once.
   */
  private readonly parts: string[] = [];
  truncated = false;
  private bytes = 0;
  /** Bytes the text may use before the room kept for closers and the marker. */
  private readonly limit: number;
  /** Set once a truncation mark (cut string or marker entry) is in the text. */
  private markerWritten = false;
  /** Containers being written; each still owes one closing byte. */
  private open = 0;
  private readonly ancestors: object[] = [];
  /** The walk so far, recorded for the cache (see {@link CaptureCache}); unset without a cache. */
  private shape: unknown[] | undefined;
  /** Counts what the cache cannot check (special objects, cycles, cuts) since the capture began. */
  private unshaped = 0;
  private topIsArray = false;
  /** The deepest container written so far: how high a cache entry's value is. */
  private deepest = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly redact: RedactFn,
    private readonly cache: CaptureCache | undefined,
    private readonly cards: boolean,
  ) {
    this.limit = maxBytes - MARKER_RESERVE;
    if (cache) this.shape = [];
  }

  text(): string {
    const parts = this.parts;
    if (parts.length > SMALL_TEXT_PARTS) return parts.join('');
    // A few pieces: appending is cheaper than a join, and such a rope is cheap to flatten.
    let text = '';
    for (let i = 0; i < parts.length; i++) text += parts[i];
    return text;
  }

  /** Writes one value; returns false once the cap is reached (the caller stops too). */
  value(value: unknown, depth: number): boolean {
    switch (typeof value) {
      case 'string':
        return this.string(value);
      case 'number':
        return this.number(value);
      case 'boolean':
        return this.raw(value ? 'true' : 'false', value ? 4 : 5);
      case 'bigint':
        return this.string(value.toString());
      case 'undefined':
        return this.raw('null', 4);
      case 'symbol':
        return this.string(value.toString());
      case 'function':
        return this.string(`[Function ${value.name || 'anonymous'}]`);
      default:
        return value === null ? this.raw('null', 4) : this.object(value as object, depth);
    }
  }

  private number(value: number): boolean {
    if (!Number.isFinite(value)) return this.raw('null', 4);
    const text = String(value);
    // A card number stored as a number is still a card number.
    if (this.cards && value >= 1e12 && value < 1e19 && Number.isInteger(value) && cardLike(text)) return this.string(REDACTED);
    return this.raw(text, text.length);
  }

  private object(value: object, depth: number): boolean {
    if (this.ancestors.includes(value)) return this.unshapedString('[Circular]');
    if (depth >= MAX_DEPTH) return this.unshapedString('[MaxDepth]');
    // Plain objects and arrays, by far the most common, skip the checks for special types.
    const proto = Object.getPrototypeOf(value);
    const isArray = proto === Array.prototype;
    if (isArray || ((proto === Object.prototype || proto === null) && typeof (value as { toJSON?: unknown }).toJSON !== 'function')) {
      if (depth > this.deepest) this.deepest = depth;
      return this.cache && depth <= CACHED_DEPTH ? this.cached(value, isArray, depth) : this.plain(value, isArray, depth);
    }
    this.unshaped++;
    const replaced = replacement(value);
    if (replaced !== value) return this.value(replaced, depth);
    this.ancestors.push(value);
    let ok: boolean;
    if (Array.isArray(value)) ok = this.array(value, depth);
    else if (value instanceof Set) ok = this.array([...value], depth);
    else if (value instanceof Map) ok = this.map(value, depth);
    else ok = this.record(value, depth);
    this.ancestors.pop();
    return ok;
  }

  private plain(value: object, isArray: boolean, depth: number): boolean {
    this.ancestors.push(value);
    const ok = isArray ? this.array(value as unknown[], depth) : this.record(value, depth);
    this.ancestors.pop();
    return ok;
  }

  /**
   * A plain container near the top: its JSON comes from the cache when it is unchanged since it
   * was last written (and its levels still fit under {@link MAX_DEPTH} here), and goes into it
   * when written whole — the value itself, its parts one level down, and a params list's items
   * and their parts.
   */
  private cached(value: object, isArray: boolean, depth: number): boolean {
    const hit = this.cache!.get(value);
    if (hit && depth + hit.height < MAX_DEPTH && this.bytes + hit.bytes + this.open <= this.limit) {
      this.parts.push(hit.json);
      this.bytes += hit.bytes;
      if (depth + hit.height > this.deepest) this.deepest = depth + hit.height;
      // A list holding an earlier value is most likely a fresh params list, captured once: it
      // is not kept.
      if (depth === 1 && this.topIsArray) this.unshaped++;
      else this.shape!.push(PART, hit.shape);
      return true;
    }
    if (depth === 0) this.topIsArray = isArray;
    const textMark = this.parts.length;
    const bytesMark = this.bytes;
    const shapeMark = this.shape!.length;
    const unshaped = this.unshaped;
    const deepest = this.deepest;
    this.deepest = depth;
    const ok = this.plain(value, isArray, depth);
    const height = this.deepest - depth;
    if (deepest > this.deepest) this.deepest = deepest;
    // Kept: the value, its parts one level down, a params list's items and their parts; not
    // small ones, which cost less to write again than to keep and check.
    const kept = depth <= 1 || (depth === 2 && this.topIsArray);
    if (ok && kept && this.unshaped === unshaped && this.bytes - bytesMark >= MIN_CACHED_BYTES) {
      // Its pieces become one string, which the cache keeps and the rest of this text reuses.
      const json = this.parts.splice(textMark).join('');
      this.parts.push(json);
      this.cache!.set(value, { json, bytes: this.bytes - bytesMark, height, shape: this.shape!.slice(shapeMark) });
    }
    return ok;
  }

  private unshapedString(text: string): boolean {
    this.unshaped++;
    return this.string(text);
  }

  private array(items: readonly unknown[], depth: number): boolean {
    if (!this.raw('[', 1)) return false;
    this.open++;
    this.shape?.push(items, items.length);
    for (let i = 0; i < items.length; i++) {
      const mark = this.parts.length;
      const bytesMark = this.bytes;
      if (i > 0 && !this.raw(',', 1)) return this.close(']', false);
      let item: unknown;
      try {
        item = items[i];
      } catch {
        item = '[Unreadable]';
      }
      if (this.shape && (typeof item !== 'object' || item === null)) this.shape.push(item);
      if (!this.value(item, depth + 1)) return this.cut(']', mark, bytesMark);
    }
    return this.close(']', true);
  }

  private record(value: object, depth: number): boolean {
    if (!this.raw('{', 1)) return false;
    this.open++;
    const keys = Object.keys(value);
    this.shape?.push(value, keys.length);
    let first = true;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      let item: unknown;
      try {
        item = (value as Record<string, unknown>)[key];
      } catch {
        item = '[Unreadable]';
      }
      // Skipped, as JSON does; still part of the shape the cache compares.
      if (item === undefined || typeof item === 'function') this.shape?.push(key, item);
      else if (!this.member(first, key, item, depth)) return this.close('}', false);
      else first = false;
    }
    return this.close('}', true);
  }

  private map(value: Map<unknown, unknown>, depth: number): boolean {
    if (!this.raw('{', 1)) return false;
    this.open++;
    let first = true;
    for (const [key, item] of value) {
      if (item === undefined || typeof item === 'function') continue;
      if (!this.member(first, typeof key === 'string' ? key : String(key), item, depth)) return this.close('}', false);
      first = false;
    }
    return this.close('}', true);
  }

  /** Writes `"key":value`; false once the cap is reached. */
  private member(first: boolean, key: string, item: unknown, depth: number): boolean {
    const shape = this.shape;
    const mark = this.parts.length;
    const bytesMark = this.bytes;
    const key_ = keyToken(key);
    const token = first ? key_.first : key_.next;
    if (!this.raw(token, first ? key_.bytes : key_.bytes + 1)) {
      this.truncated = true;
      return false;
    }
    let ok: boolean;
    if (this.redact(key, item)) {
      shape?.push(key, HIDDEN, item);
      ok = this.string(REDACTED);
    } else {
      if (shape) {
        shape.push(key);
        if (typeof item !== 'object' || item === null) shape.push(item);
      }
      ok = this.value(item, depth + 1);
    }
    if (!ok && this.parts.length === mark + 1) {
      // The value could not start at all: take the key back so the text stays valid JSON.
      this.parts.length = mark;
      this.bytes = bytesMark;
    }
    return ok;
  }

  /** An array item did not fit: take back its separator when nothing of it was written, then close. */
  private cut(closer: ']', mark: number, bytesMark: number): boolean {
    if (this.parts.length === mark + 1 && this.parts[mark] === ',') {
      this.parts.length = mark;
      this.bytes = bytesMark;
    }
    return this.close(closer, false);
  }

  /** Closes a container; when it was cut, first adds the marker entry unless one was written. */
  private close(closer: ']' | '}', complete: boolean): boolean {
    this.open--;
    if (!complete) this.unshaped++;
    if (!complete && !this.markerWritten) {
      this.markerWritten = true;
      const piece = this.parts[this.parts.length - 1]!;
      const last = piece.charCodeAt(piece.length - 1);
      const sep = last === 91 /* [ */ || last === 123 /* { */ || last === 44 /* , */ ? '' : ',';
      const marker = closer === ']' ? `${sep}"${TRUNCATED}"` : `${sep}"${TRUNCATED}":true`;
      this.parts.push(marker);
      this.bytes += marker.length;
    }
    this.parts.push(closer);
    this.bytes += 1;
    return complete;
  }

  private string(raw: string): boolean {
    const scan = scanText(raw);
    let plain = scan >= 0;
    const digits = plain ? scan : -1 - scan;
    let value = raw;
    if (digits >= 13 && this.cards) {
      value = redactCardNumbers(raw);
      if (value !== raw) plain = !NOT_PLAIN.test(value);
    }
    let token: string;
    let bytes: number;
    if (!plain) {
      token = JSON.stringify(value);
      bytes = tokenBytes(token);
    } else {
      token = '"' + value + '"';
      bytes = token.length;
    }
    if (this.bytes + bytes + this.open <= this.limit) {
      this.parts.push(token);
      this.bytes += bytes;
      return true;
    }
    // Cut the string itself so the reader still sees its beginning.
    const suffix = `…${TRUNCATED}`;
    const room = this.limit - this.bytes - this.open - 2 - 14; /* UTF-8 bytes of the suffix */
    this.truncated = true;
    if (room <= 0) return false;
    const cut = JSON.stringify(sliceBytes(value, room) + suffix);
    this.parts.push(cut);
    this.bytes += tokenBytes(cut);
    this.markerWritten = true;
    return false;
  }

  private raw(token: string, bytes: number): boolean {
    if (this.bytes + bytes + this.open > this.limit) {
      this.truncated = true;
      return false;
    }
    this.parts.push(token);
    this.bytes += bytes;
    return true;
  }
}

/** Values with a JSON form of their own, or that must not be walked. */
function replacement(value: object): unknown {
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return code === undefined
      ? { name: value.name, message: value.message }
      : { name: value.name, message: value.message, code };
  }
  if (ArrayBuffer.isView(value)) return `[${value.constructor.name} ${value.byteLength} bytes]`;
  if (value instanceof ArrayBuffer) return `[ArrayBuffer ${value.byteLength} bytes]`;
  if (value instanceof Promise) return '[Promise]';
  if (value instanceof WeakMap || value instanceof WeakSet) return `[${value.constructor.name}]`;
  let toJSON: unknown;
  try {
    toJSON = (value as { toJSON?: unknown }).toJSON;
  } catch {
    return '[Unserializable]';
  }
  if (typeof toJSON === 'function') {
    try {
      return toJSON.call(value) ?? null;
    } catch {
      return '[Unserializable]';
    }
  }
  return value;
}

/** The longest prefix of `text` whose JSON-escaped UTF-8 form fits in `bytes`, never splitting a character. */
function sliceBytes(text: string, bytes: number): string {
  // Plain ASCII: one byte per code unit.
  if (!NOT_PLAIN.test(text.length > bytes ? text.slice(0, bytes) : text)) return text.slice(0, bytes);
  let used = 0;
  let end = 0;
  for (const char of text) {
    const size = tokenBytes(JSON.stringify(char)) - 2;
    if (used + size > bytes) break;
    used += size;
    end += char.length;
  }
  return text.slice(0, end);
}
