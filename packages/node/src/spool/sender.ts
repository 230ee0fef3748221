import { context, diag } from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import type { SpoolReports } from './reports.js';
import type { SegmentEncoding } from './segment-format.js';
import { FULL, type SegmentQueue } from './segment-queue.js';

export type SendOutcome =
  | { kind: 'sent' }
  /** Down, overloaded or unreachable: the batch is sent again after a pause. */
  | { kind: 'retry'; error: unknown }
  /** The destination refused this batch for good (a 4xx such as 400 or 413): it is dropped. */
  | { kind: 'rejected'; error: unknown };

export type SendBatch = (payload: Uint8Array, spans: number, encoding: SegmentEncoding) => Promise<SendOutcome>;

// After a failed attempt (which already includes the OTLP exporter's own retries within its
// timeout), the next one waits 0.5 s, doubling up to 5 s, ±20 %: a destination that comes back is
// used again within about 5 s, and a dead one costs one connection attempt every 5 s.
const FIRST_PAUSE_MS = 500;
const MAX_PAUSE_MS = 5000;

/**
 * Sends one destination's spool in order, one batch at a time, in the background: a batch is
 * acked (and so never sent again) only once the destination accepted it. It runs beside the
 * user's flows and never waits for them, nor they for it.
 */
export class SpoolSender {
  private stopped = false;
  private wakeFromIdle: (() => void) | undefined;
  private settledWaiters: Array<() => void> = [];
  private cutPause: (() => void) | undefined;

  constructor(
    private readonly destination: string,
    private readonly queue: SegmentQueue,
    private readonly send: SendBatch,
    private readonly reports: SpoolReports,
  ) {
    // Its own HTTP requests must not be traced (as the SDK's batch processor ensures for exports).
    context.with(suppressTracing(context.active()), () =>
      this.run().catch((error: unknown) => reports.problem('spool read', `the spool sender for ${destination} stopped`, error)),
    );
  }

  /**
   * Resolves once everything spooled so far has been sent, or as soon as an attempt fails (what
   * is left stays spooled). A sender pausing after a failure tries again at once.
   */
  flush(): Promise<void> {
    if (this.stopped || !this.queue.pending()) return Promise.resolve();
    const settled = new Promise<void>((resolve) => this.settledWaiters.push(resolve));
    this.cutPause?.();
    return settled;
  }

  /** Sends nothing more; a batch in flight may still be acked when its answer comes. */
  stop(): void {
    this.stopped = true;
    this.cutPause?.();
    this.wakeFromIdle?.();
    this.settle();
  }

  private async run(): Promise<void> {
    let pause = FIRST_PAUSE_MS;
    while (!this.stopped) {
      const appends = this.queue.appendCount();
      let batch;
      try {
        batch = await this.queue.next();
      } catch (error) {
        this.reports.problem('spool read', `cannot read the spool for ${this.destination}; trying again`, error);
        this.settle();
        await this.pause(pause);
        pause = nextPause(pause);
        continue;
      }
      if (!batch) {
        this.settle();
        if (this.stopped) break;
        await Promise.race([this.queue.whenAppendedAfter(appends), new Promise<void>((resolve) => (this.wakeFromIdle = resolve))]);
        this.wakeFromIdle = undefined;
        continue;
      }
      const outcome = await this.send(batch.payload, batch.spans, batch.encoding);
      if (outcome.kind === 'retry') {
        this.queue.release(batch);
        // Dropped to make room while it was being sent: gone now, so counted.
        if (this.queue.wasDropped(batch)) {
          this.reports.dropped(this.destination, 'full', batch.spans, FULL);
          continue;
        }
        diag.debug(`flowtrace: spool for ${this.destination}: sending failed, next attempt in ~${pause} ms`, outcome.error);
        this.settle();
        await this.pause(pause);
        pause = nextPause(pause);
        continue;
      }
      pause = FIRST_PAUSE_MS;
      if (outcome.kind === 'rejected') {
        this.reports.dropped(this.destination, 'rejected', batch.spans, `the destination refused a batch for good (${String(outcome.error)})`);
      }
      try {
        await this.queue.ack(batch);
      } catch (error) {
        this.reports.problem('spool write', `cannot remove sent segments from the spool for ${this.destination}`, error);
      }
    }
  }

  private settle(): void {
    for (const resolve of this.settledWaiters.splice(0)) resolve();
  }

  /** Waits `ms` (±20 %), unless a flush or stop cuts it short; never keeps the process alive. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms * (0.8 + Math.random() * 0.4));
      timer.unref();
      const self = this;
      function done() {
        clearTimeout(timer);
        self.cutPause = undefined;
        resolve();
      }
      this.cutPause = done;
    });
  }
}

function nextPause(ms: number): number {
  return Math.min(ms * 2, MAX_PAUSE_MS);
}
