import { ATTR_MARKER } from '@flowtrace/semconv';
import type { Cut } from './payload.js';

/** A value's place in the body's text: [start, end). */
interface Range {
  start: number;
  end: number;
}

/**
 * Cuts flowtrace's marker spans out of an OTLP/JSON request by their place in the text, so
 * everything else is sent exactly as written: numbers too large for a double (a nanosecond time
 * sent as a number) and fields this collector does not know included. Only the arrays that lost
 * an element are written again. A scopeSpans entry the cut left without spans is dropped, then a
 * resourceSpans entry left without scopeSpans. The body was parsed whole at ingest.
 */
export function cutJson(body: Buffer): Cut {
  const text = body.toString('utf8');
  let spans = 0;
  const cutSpan = (span: Range): string | undefined => {
    const written = text.slice(span.start, span.end);
    if (isMarker(written)) return undefined;
    spans++;
    return written;
  };
  const cutScope = (scope: Range) => nested(text, scope, 'spans', cutSpan);
  const cutResource = (resource: Range) => nested(text, resource, 'scopeSpans', cutScope);
  const cut = nested(text, { start: skipSpace(text, 0), end: text.length }, 'resourceSpans', cutResource);
  return { payload: cut === undefined ? Buffer.alloc(0) : Buffer.from(cut, 'utf8'), spans };
}

/**
 * The object at `range` with its array member `key` holding what `cut` makes of each element
 * (undefined drops one); undefined when none is left.
 */
function nested(text: string, range: Range, key: string, cut: (element: Range) => string | undefined): string | undefined {
  const list = member(text, range, key);
  if (!list) return undefined;
  const kept = elements(text, list).flatMap((element) => cut(element) ?? []);
  if (kept.length === 0) return undefined;
  return `${text.slice(range.start, list.start)}[${kept.join(',')}]${text.slice(list.end, range.end)}`;
}

function isMarker(span: string): boolean {
  if (!span.includes('flowtrace') && !span.includes('\\u')) return false;
  const attributes = (JSON.parse(span) as { attributes?: unknown }).attributes;
  return Array.isArray(attributes) && attributes.some((kv) => (kv as { key?: unknown } | null)?.key === ATTR_MARKER);
}

/** The value of an object's member `key` when it is an array (the last one, as JSON.parse reads duplicates). */
function member(text: string, object: Range, key: string): Range | undefined {
  let found: Range | undefined;
  let i = skipSpace(text, object.start);
  if (text[i] !== '{') return undefined;
  i = skipSpace(text, i + 1);
  while (text[i] !== '}') {
    const keyEnd = skipString(text, i);
    const name = JSON.parse(text.slice(i, keyEnd)) as string;
    const start = skipSpace(text, skipSpace(text, keyEnd) + 1);
    const end = skipValue(text, start);
    if (name === key) found = text[start] === '[' ? { start, end } : undefined;
    i = skipSpace(text, end);
    if (text[i] === ',') i = skipSpace(text, i + 1);
  }
  return found;
}

function elements(text: string, array: Range): Range[] {
  const found: Range[] = [];
  let i = skipSpace(text, array.start + 1);
  while (text[i] !== ']') {
    const end = skipValue(text, i);
    found.push({ start: i, end });
    i = skipSpace(text, end);
    if (text[i] === ',') i = skipSpace(text, i + 1);
  }
  return found;
}

function skipSpace(text: string, i: number): number {
  while (i < text.length && (text[i] === ' ' || text[i] === '\n' || text[i] === '\r' || text[i] === '\t')) i++;
  return i;
}

function skipString(text: string, i: number): number {
  for (let j = i + 1; j < text.length; j++) {
    if (text[j] === '\\') j++;
    else if (text[j] === '"') return j + 1;
  }
  return text.length;
}

/** The end of the value starting at `i` (valid JSON). */
function skipValue(text: string, i: number): number {
  const first = text[i];
  if (first === '"') return skipString(text, i);
  if (first !== '{' && first !== '[') {
    let j = i;
    while (j < text.length && !',}] \n\r\t'.includes(text[j]!)) j++;
    return j;
  }
  let depth = 0;
  for (let j = i; j < text.length; j++) {
    const c = text[j];
    if (c === '"') j = skipString(text, j) - 1;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) return j + 1;
    }
  }
  return text.length;
}
