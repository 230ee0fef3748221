import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { decodeJson } from './json.js';
import { decodeProtobuf } from './protobuf.js';
import { OtlpDecodeError, type DecodedRequest } from './span.js';

export type Encoding = 'json' | 'protobuf';

export interface DecodeRequest {
  id: number;
  encoding: Encoding;
  body: Uint8Array<ArrayBuffer>;
  /** When the body arrived (ms), not when a worker got to it: the clock times are clamped against. */
  receivedAtMs: number;
}

export type DecodeReply = { id: number; decoded: DecodedRequest } | { id: number; error: { message: string; decode: boolean } };

/** Decodes request bodies: on worker threads when it has them, else in this thread. */
export interface Decoder {
  decode(encoding: Encoding, body: Buffer): Promise<DecodedRequest>;
  close(): Promise<void>;
}

const WORKER = fileURLToPath(new URL('./decode-worker.js', import.meta.url));

/**
 * `threads` worker threads that decode OTLP bodies, so decoding a large request neither stalls
 * the event loop nor competes with the store for it. Where the compiled worker is not there
 * (running from TypeScript sources) or `threads` is 0, bodies are decoded in this thread.
 */
export function createDecoder(threads: number): Decoder {
  if (threads <= 0 || !existsSync(WORKER)) {
    return {
      decode: async (encoding, body) => decodeBody(encoding, body, Date.now()),
      close: async () => {},
    };
  }
  const waiting = new Map<number, { resolve: (d: DecodedRequest) => void; reject: (e: Error) => void }>();
  const workers = Array.from({ length: threads }, () => {
    const worker = new Worker(WORKER);
    worker.unref();
    worker.on('message', (reply: DecodeReply) => {
      const pending = waiting.get(reply.id);
      if (!pending) return;
      waiting.delete(reply.id);
      if ('error' in reply) {
        pending.reject(reply.error.decode ? new OtlpDecodeError(reply.error.message) : new Error(reply.error.message));
      } else {
        // Structured cloning kept the spans of one scope sharing their resource and scope objects.
        const { decoded } = reply;
        pending.resolve(decoded);
      }
    });
    worker.on('error', (error) => {
      for (const [id, pending] of waiting) {
        waiting.delete(id);
        pending.reject(error);
      }
    });
    return worker;
  });
  let next = 0;
  let ids = 0;
  return {
    decode(encoding, body) {
      const id = ids++;
      // A copy the worker owns: the body may sit in Node's shared buffer pool.
      const copy = new Uint8Array(body);
      const worker = workers[next++ % workers.length]!;
      return new Promise((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        worker.postMessage({ id, encoding, body: copy, receivedAtMs: Date.now() } satisfies DecodeRequest, [copy.buffer]);
      });
    },
    async close() {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}

export function decodeBody(encoding: Encoding, body: Buffer, receivedAtMs: number): DecodedRequest {
  return encoding === 'json' ? decodeJson(body, receivedAtMs) : decodeProtobuf(body, receivedAtMs);
}
