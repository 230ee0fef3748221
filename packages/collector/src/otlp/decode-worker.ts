import { parentPort } from 'node:worker_threads';
import { OtlpDecodeError } from './span.js';
import { decodeBody, type DecodeReply, type DecodeRequest } from './decoder.js';

/**
 * Decodes OTLP bodies off the main thread. The body's buffer is handed back; the spans' stored
 * bodies (stored-body.ts) are in a buffer of their own, copied with the reply.
 */
parentPort!.on('message', ({ id, encoding, body, receivedAtMs }: DecodeRequest) => {
  const bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  let reply: DecodeReply;
  try {
    reply = { id, decoded: decodeBody(encoding, bytes, receivedAtMs) };
  } catch (error) {
    reply = { id, error: { message: (error as Error).message, decode: error instanceof OtlpDecodeError } };
  }
  parentPort!.postMessage(reply, [body.buffer]);
});
