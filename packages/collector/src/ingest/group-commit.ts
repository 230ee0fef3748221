import type { IncomingSpan, OutboxEntry } from '../store/engine.js';
import { setImmediate as nextTurn } from 'node:timers/promises';

interface Waiting {
  spans: readonly IncomingSpan[];
  outbox: readonly OutboxEntry[];
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit: requests that arrive while a transaction is being written wait and are written
 * together in the next one, so concurrent exporters share a transaction and its fsync. Each
 * request's promise settles only with the commit that holds its spans.
 */
export class GroupCommit {
  private queue: Waiting[] = [];
  private queuedSpans = 0;
  private running = false;

  constructor(
    private readonly write: (spans: IncomingSpan[], outbox: OutboxEntry[]) => Promise<void>,
    /** A transaction holds at most about this many spans, so none blocks the event loop long. */
    private readonly maxSpans = 4096,
  ) {}

  /** Settles once the spans, and the request's forwarding `outbox` rows, are committed. */
  submit(spans: readonly IncomingSpan[], outbox: readonly OutboxEntry[] = []): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ spans, outbox, resolve, reject });
      this.queuedSpans += spans.length;
      if (!this.running) {
        this.running = true;
        setImmediate(() => void this.drain());
      }
    });
  }

  /** Spans waiting for a transaction: the back-pressure signal for ingest. */
  get waiting(): number {
    return this.queuedSpans;
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch: Waiting[] = [];
      let count = 0;
      while (this.queue.length > 0 && (batch.length === 0 || count + this.queue[0]!.spans.length <= this.maxSpans)) {
        const next = this.queue.shift()!;
        batch.push(next);
        count += next.spans.length;
      }
      this.queuedSpans -= count;
      try {
        await this.write(
          batch.flatMap((w) => w.spans),
          batch.flatMap((w) => w.outbox),
        );
        for (const w of batch) w.resolve();
      } catch (error) {
        for (const w of batch) w.reject(error);
      }
      // Let requests and reads in between transactions.
      if (this.queue.length > 0) await nextTurn();
    }
    this.running = false;
  }
}
