import { tracesUrl } from '@flowtrace/semconv';
import type { OutboxEntry, StorageEngine } from '../store/engine.js';
import { forwardPayload, type Received } from './payload.js';
import { DestinationSender, type DestinationHealth } from './sender.js';

export interface ForwardOptions {
  /** OTLP/HTTP endpoints (a base URL gets /v1/traces). */
  urls: readonly string[];
  /** Sent with every forwarded request. */
  headers?: Readonly<Record<string, string>>;
  /** Bytes each destination's outbox may hold before its oldest payloads are dropped. Default 1 GiB. */
  maxBytes?: number;
  /** Time a destination has to answer one request. Default 10 s. */
  timeoutMs?: number;
  /** Back-off after failures in a row: first wait and longest. Default 1 s doubling to 60 s. */
  retry?: { firstMs: number; maxMs: number };
  /** How often idle senders look for payloads other collectors queued. Default 5 s. */
  pollMs?: number;
}

export const DEFAULT_FORWARD_MAX_BYTES = 1024 ** 3;
const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_RETRY = { firstMs: 1000, maxMs: 60_000 };
const DEFAULT_POLL_MS = 5000;
/** Time a payload being sent at close gets to be answered. */
const STOP_GRACE_MS = 2000;

/**
 * Forwarding through a transactional outbox: ingest queues what each request should forward
 * (markers cut out) in the transaction that stores its spans, one row per destination, and a
 * sender per destination drains its rows. An acknowledged request is therefore forwarded even
 * if the destination is down for hours or the collector restarts, within the outbox's bounds
 * (a byte cap per destination, and --retain-days).
 */
export class Forwarder {
  private readonly senders: Map<string, DestinationSender>;

  constructor(engine: StorageEngine, options: ForwardOptions, now: () => number, log: (message: string) => void) {
    const urls = [...new Set(options.urls.map(tracesUrl))];
    this.senders = new Map(
      urls.map((url) => [
        url,
        new DestinationSender({
          engine,
          url,
          headers: options.headers ?? {},
          maxBytes: options.maxBytes ?? DEFAULT_FORWARD_MAX_BYTES,
          timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
          retry: options.retry ?? DEFAULT_RETRY,
          pollMs: options.pollMs ?? DEFAULT_POLL_MS,
          now,
          log,
        }),
      ]),
    );
  }

  get enabled(): boolean {
    return this.senders.size > 0;
  }

  /** The outbox rows for a request that held `spans` spans: none when nothing is to be forwarded. */
  outbox(received: Received, spans: number): OutboxEntry[] {
    if (!this.enabled) return [];
    const payload = forwardPayload(received, spans);
    if (!payload) return [];
    return [...this.senders.keys()].map((destination) => ({ destination, contentType: received.contentType, payload }));
  }

  /** A transaction queued payloads: the senders look at once. */
  committed(): void {
    for (const sender of this.senders.values()) sender.wake();
  }

  health(): DestinationHealth[] {
    return [...this.senders.values()].map((sender) => sender.health());
  }

  /** Stops the senders; what they did not send stays queued for the next start. Never rejects. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.senders.values()].map((sender) => sender.stop(STOP_GRACE_MS)));
  }
}
