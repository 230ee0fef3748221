/**
 * Turns arbitrary runtime values (flow inputs, fn params, outputs, tool arguments) into JSON
 * text for span attributes: secrets redacted, size capped, and never throwing — whatever the
 * value holds (cycles, BigInt, functions, throwing getters).
 *
 * The writer walks the value itself instead of calling `JSON.stringify` so that it can stop at
 * the byte cap without serialising a 10 MB object to keep 8 KiB of it, and so that the cut text
 * is still valid JSON: a cut string ends in `…[truncated]`, a cut array or object ends with a
 * `"[truncated]"` entry, and the caller learns that the value was cut.
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
      hit = suffixes.some((suffix) => normal.endsWith(suffix));
      // Keys repeat across executions; the bound keeps adversarial key sets from growing it.
      if (cache.size < 4096) cache.set(key, hit);
    }
    return hit;
  };
}

function normalizeKey(key: string): string {
  return key.toLowerCase().replace(/[-_.\s]/g, '');
}

export interface CaptureOptions {
  /** Upper bound of the JSON text, in UTF-8 bytes. */
  maxBytes: number;
  redact: RedactFn;
}

export interface Captured {
  json: string;
  truncated: boolean;
}

const MAX_DEPTH = 32;
/** Room kept for the truncation marker and separators: `,"[truncated]":true`. */
const MARKER_RESERVE = 20;
/** Below this the cap could not hold a marker; smaller settings are raised to it. */
export const MIN_MAX_BYTES = 64;

/** Serialises `value` as capped, redacted JSON. `undefined` at the top gives `undefined`. */
export function captureJson(value: unknown, options: CaptureOptions): Captured | undefined {
  if (value === undefined) return undefined;
  const writer = new CappedJsonWriter(Math.max(options.maxBytes, MIN_MAX_BYTES), options.redact);
  writer.value(value, 0);
  return { json: writer.text, truncated: writer.truncated };
}

class CappedJsonWriter {
  text = '';
  truncated = false;
  private bytes = 0;
  /** Set once a truncation mark (cut string or marker entry) is in the text. */
  private markerWritten = false;
  /** Containers being written; each still owes one closing byte. */
  private open = 0;
  private readonly ancestors: object[] = [];

  constructor(
    private readonly maxBytes: number,
    private readonly redact: RedactFn,
  ) {}

  /** Writes one value; returns false once the cap is reached (the caller stops too). */
  value(value: unknown, depth: number): boolean {
    switch (typeof value) {
      case 'string':
        return this.string(value);
      case 'number':
        return this.raw(Number.isFinite(value) ? String(value) : 'null');
      case 'boolean':
        return this.raw(value ? 'true' : 'false');
      case 'bigint':
        return this.string(value.toString());
      case 'undefined':
        return this.raw('null');
      case 'symbol':
        return this.string(value.toString());
      case 'function':
        return this.string(`[Function ${value.name || 'anonymous'}]`);
      default:
        return value === null ? this.raw('null') : this.object(value as object, depth);
    }
  }

  private object(value: object, depth: number): boolean {
    if (this.ancestors.includes(value)) return this.string('[Circular]');
    if (depth >= MAX_DEPTH) return this.string('[MaxDepth]');
    const replaced = replacement(value);
    if (replaced !== value) return this.value(replaced, depth);
    this.ancestors.push(value);
    try {
      return Array.isArray(value) || value instanceof Set
        ? this.array(value, depth)
        : this.record(value instanceof Map ? mapEntries(value) : ownEntries(value), depth);
    } finally {
      this.ancestors.pop();
    }
  }

  private array(items: Iterable<unknown>, depth: number): boolean {
    if (!this.raw('[')) return false;
    this.open++;
    let first = true;
    for (const item of items) {
      if (!this.entry(first, '', () => this.value(item, depth + 1))) return this.close(']', first, false);
      first = false;
    }
    return this.close(']', first, true);
  }

  private record(entries: Iterable<[string, unknown]>, depth: number): boolean {
    if (!this.raw('{')) return false;
    this.open++;
    let first = true;
    for (const [key, item] of entries) {
      if (item === undefined || typeof item === 'function') continue;
      const write = this.redact(key, item) ? () => this.string(REDACTED) : () => this.value(item, depth + 1);
      if (!this.entry(first, `${JSON.stringify(key)}:`, write)) return this.close('}', first, false);
      first = false;
    }
    return this.close('}', first, true);
  }

  /**
   * Writes one array item or object member. When its value could not start at all, the
   * separator and key are taken back so the text stays valid JSON.
   */
  private entry(first: boolean, prefix: string, write: () => boolean): boolean {
    const textMark = this.text.length;
    const bytesMark = this.bytes;
    if (!this.raw((first ? '' : ',') + prefix)) return false;
    const valueMark = this.text.length;
    if (write()) return true;
    if (this.text.length === valueMark) {
      this.text = this.text.slice(0, textMark);
      this.bytes = bytesMark;
    }
    return false;
  }

  /** Closes a container; when it was cut, first adds the marker entry unless one was written. */
  private close(closer: ']' | '}', empty: boolean, complete: boolean): boolean {
    this.open--;
    if (!complete && !this.markerWritten) {
      this.markerWritten = true;
      const sep = empty || this.text.endsWith('[') || this.text.endsWith('{') ? '' : ',';
      this.append(closer === ']' ? `${sep}"${TRUNCATED}"` : `${sep}"${TRUNCATED}":true`);
    }
    this.append(closer);
    return complete;
  }

  private string(value: string): boolean {
    const token = JSON.stringify(value);
    if (this.fits(token)) return this.raw(token);
    // Cut the string itself so the reader still sees its beginning.
    const suffix = `…${TRUNCATED}`;
    const room = this.maxBytes - this.bytes - this.open - MARKER_RESERVE - 2 - byteLength(suffix);
    this.truncated = true;
    if (room <= 0) return false;
    const cut = JSON.stringify(sliceBytes(value, room) + suffix);
    this.append(cut);
    this.markerWritten = true;
    return false;
  }

  private raw(token: string): boolean {
    if (!this.fits(token)) {
      this.truncated = true;
      return false;
    }
    this.append(token);
    return true;
  }

  private fits(token: string): boolean {
    return this.bytes + byteLength(token) + this.open + MARKER_RESERVE <= this.maxBytes;
  }

  private append(token: string): void {
    this.text += token;
    this.bytes += byteLength(token);
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
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') {
    try {
      return toJSON.call(value) ?? null;
    } catch {
      return '[Unserializable]';
    }
  }
  return value;
}

function* ownEntries(value: object): Iterable<[string, unknown]> {
  for (const key of Object.keys(value)) {
    let item: unknown;
    try {
      item = (value as Record<string, unknown>)[key];
    } catch {
      item = '[Unreadable]';
    }
    yield [key, item];
  }
}

function* mapEntries(map: Map<unknown, unknown>): Iterable<[string, unknown]> {
  for (const [key, item] of map) yield [typeof key === 'string' ? key : String(key), item];
}

function byteLength(text: string): number {
  // Most JSON is ASCII: skip the UTF-8 count when no code unit needs more than one byte.
  return /[^\x00-\x7f]/.test(text) ? Buffer.byteLength(text) : text.length;
}

/** The longest prefix of `text` whose JSON-escaped UTF-8 form fits in `bytes`, never splitting a character. */
function sliceBytes(text: string, bytes: number): string {
  let used = 0;
  let end = 0;
  for (const char of text) {
    const size = byteLength(JSON.stringify(char)) - 2;
    if (used + size > bytes) break;
    used += size;
    end += char.length;
  }
  return text.slice(0, end);
}
