import { encodeSpan } from './encode-span.js';
import { attributes, isObject, MAX_VALUE_DEPTH, normalizeRequest, type Leaves } from './normalize.js';
import { checkNanos, InvalidSpanError, OtlpDecodeError, type AttributeValue, type DecodedRequest } from './span.js';

/**
 * OTLP/JSON (the OTLP/HTTP JSON encoding): lowerCamelCase field names, ids as hex in any case,
 * 64-bit integers as numbers or strings, enums as integers, bytes as base64, unknown fields
 * ignored. `receivedAtMs` is the collector's clock when the body arrived. Each kept span comes
 * with the protobuf bytes the store keeps for it (encode-span.ts).
 */
export function decodeJson(body: Buffer, receivedAtMs = Date.now()): DecodedRequest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new OtlpDecodeError(`the body is not valid JSON: ${(error as Error).message}`);
  }
  return normalizeRequest(parsed, jsonLeaves, receivedAtMs);
}

const jsonLeaves: Leaves = {
  // Stored as protobuf: about a quarter smaller than the JSON text, and read back as this same span.
  wire: (_raw, _clamp, normalized) => encodeSpan(normalized),
  id(value) {
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string') throw new InvalidSpanError('ids must be hex strings');
    return value;
  },
  nanos: checkNanos,
  int(value, field) {
    if (value === undefined || value === null) return 0;
    const number = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
    if (typeof number !== 'number' || !Number.isSafeInteger(number)) throw new InvalidSpanError(`${field} must be an integer`);
    return number;
  },
  anyValue(value, depth): AttributeValue {
    if (depth > MAX_VALUE_DEPTH) throw new InvalidSpanError(`attribute values nest deeper than ${MAX_VALUE_DEPTH}`);
    if (!isObject(value)) throw new InvalidSpanError('an attribute value must be an AnyValue object');
    if ('stringValue' in value) return typed(value.stringValue, 'string', 'stringValue');
    if ('boolValue' in value) return typed(value.boolValue, 'boolean', 'boolValue');
    if ('intValue' in value) return integer(value.intValue);
    if ('doubleValue' in value) return double(value.doubleValue);
    if ('arrayValue' in value) {
      const array = isObject(value.arrayValue) ? value.arrayValue.values : undefined;
      if (array !== undefined && !Array.isArray(array)) throw new InvalidSpanError('arrayValue.values must be an array');
      return (array ?? []).map((item) => jsonLeaves.anyValue(item, depth + 1));
    }
    if ('kvlistValue' in value) {
      const values = isObject(value.kvlistValue) ? value.kvlistValue.values : undefined;
      return attributes(values, jsonLeaves, depth + 1);
    }
    if ('bytesValue' in value) return typed(value.bytesValue, 'string', 'bytesValue');
    return null;
  },
};

function typed<T extends 'string' | 'boolean'>(value: unknown, type: T, field: string): AttributeValue {
  if (typeof value !== type) throw new InvalidSpanError(`${field} must be a ${type}`);
  return value as AttributeValue;
}

/** int64: a number, or a decimal string; kept as a number when exact, else as the string. */
function integer(value: unknown): AttributeValue {
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string' && /^-?\d{1,20}$/.test(value)) {
    const number = Number(value);
    return Number.isSafeInteger(number) ? number : value;
  }
  throw new InvalidSpanError('intValue must be an integer');
}

function double(value: unknown): AttributeValue {
  if (typeof value === 'number') return value;
  // JSON has no NaN or Infinity; OTLP/JSON writes them as strings.
  if (value === 'NaN' || value === 'Infinity' || value === '-Infinity') return value;
  throw new InvalidSpanError('doubleValue must be a number');
}
