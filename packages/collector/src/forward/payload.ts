import { ATTR_MARKER } from '@flowtrace/semconv';
import type { Encoding } from '../otlp/decoder.js';
import { cutJson } from './cut-json.js';
import { cutProtobuf } from './cut-protobuf.js';

/** A request as it arrived: its Content-Type header and its body after gzip inflation. */
export interface Received {
  encoding: Encoding;
  contentType: string;
  body: Buffer;
}

/** What is left of a request once flowtrace's markers are cut out, and how many spans that is. */
export interface Cut {
  payload: Buffer;
  spans: number;
}

const MARKER = Buffer.from(ATTR_MARKER, 'utf8');

/**
 * The bytes to forward for a request: the request as it came, minus flowtrace's marker spans
 * (they mean something to flowtrace only). Undefined when no span is left. `spans` is how many
 * the request held, decoded or refused: when the marker's name appears nowhere in the body, the
 * body is forwarded as it came without a walk.
 */
export function forwardPayload(received: Received, spans: number): Buffer | undefined {
  const { encoding, body } = received;
  // JSON can spell the key with \u escapes: without any, a body lacking its bytes lacks the key.
  const plain = body.indexOf(MARKER) < 0 && (encoding === 'protobuf' || body.indexOf('\\u') < 0);
  if (plain) return spans > 0 ? body : undefined;
  const cut = encoding === 'protobuf' ? cutProtobuf(body) : cutJson(body);
  return cut.spans > 0 ? cut.payload : undefined;
}
