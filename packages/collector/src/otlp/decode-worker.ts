import { parentPort } from 'node:worker_threads';
import { decodeJson } from './json.js';
import { decodeProtobuf } from './protobuf.js';
import { OtlpDecodeError } from './span.js';
import type { DecodeReply, DecodeRequest } from './decoder.js';

/** Decodes OTLP bodies off the main thread; a protobuf body's buffer goes back with the spans' own bytes in it. */
parentPort!.on('message', ({ id, encoding, body }: DecodeRequest) => {
  const bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  let reply: DecodeReply;
  try {
    reply = { id, decoded: encoding === 'json' ? decodeJson(bytes) : decodeProtobuf(bytes) };
  } catch (error) {
    reply = { id, error: { message: (error as Error).message, decode: error instanceof OtlpDecodeError } };
  }
  parentPort!.postMessage(reply, [body.buffer]);
});
