import Long from 'long';
import { attributes, MAX_VALUE_DEPTH, normalizeRequest, type Leaves } from './normalize.js';
import { ExportTraceServiceRequest } from './schema.js';
import { InvalidSpanError, OtlpDecodeError, type AttributeValue, type DecodedRequest } from './span.js';

/** OTLP/HTTP binary protobuf: an encoded ExportTraceServiceRequest. */
export function decodeProtobuf(body: Buffer): DecodedRequest {
  let message: unknown;
  try {
    message = ExportTraceServiceRequest.decode(body);
  } catch (error) {
    throw new OtlpDecodeError(`the body is not a protobuf ExportTraceServiceRequest: ${(error as Error).message}`);
  }
  return normalizeRequest(message, protobufLeaves);
}

type Message = Record<string, unknown>;
const has = (message: Message, field: string) => Object.prototype.hasOwnProperty.call(message, field);

const protobufLeaves: Leaves = {
  id(value) {
    if (!(value instanceof Uint8Array) || value.length === 0) return undefined;
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex');
  },
  nanos(value) {
    if (value === undefined || value === null) return '0';
    return Long.isLong(value) ? (value as Long).toUnsigned().toString() : String(value);
  },
  int(value) {
    return typeof value === 'number' ? value : 0;
  },
  anyValue(value, depth): AttributeValue {
    if (depth > MAX_VALUE_DEPTH) throw new InvalidSpanError(`attribute values nest deeper than ${MAX_VALUE_DEPTH}`);
    const message = value as Message;
    if (has(message, 'stringValue')) return message.stringValue as string;
    if (has(message, 'boolValue')) return message.boolValue as boolean;
    if (has(message, 'intValue')) {
      const long = message.intValue as Long | number;
      if (typeof long === 'number') return long;
      const number = long.toNumber();
      return Number.isSafeInteger(number) ? number : long.toString();
    }
    if (has(message, 'doubleValue')) return message.doubleValue as number;
    if (has(message, 'arrayValue')) {
      const values = ((message.arrayValue as Message).values ?? []) as unknown[];
      return values.map((item) => protobufLeaves.anyValue(item, depth + 1));
    }
    if (has(message, 'kvlistValue')) return attributes((message.kvlistValue as Message).values, protobufLeaves, depth + 1);
    if (has(message, 'bytesValue')) return Buffer.from(message.bytesValue as Uint8Array).toString('base64');
    return null;
  },
};
