import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { serializeSpans } from './otlp-batches.js';
import type { SpoolReports } from './reports.js';
import type { SegmentEncoding } from './segment-format.js';
import type { SegmentQueue } from './segment-queue.js';
import type { SendBatch, SpoolSender } from './sender.js';

export interface SpoolPipe {
  queue: SegmentQueue;
  sender: SpoolSender;
}

/**
 * The exporter a destination's `BatchSpanProcessor` calls when the spool is on. `export` is
 * write-ahead: the batch is serialized to the OTLP request and appended to the spool, and only
 * then answered with success; the sender delivers it from there. So while the destination is down
 * the processor keeps emptying its in-memory queue into the spool instead of dropping spans.
 *
 * When the spool cannot be written (disk full, no permission), batches are sent directly, as
 * without a spool, and the trouble is reported once.
 */
export class SpoolingExporter implements SpanExporter {
  private closed: Promise<void> | undefined;

  constructor(
    private readonly destination: string,
    private readonly encoding: SegmentEncoding,
    private readonly pipe: Promise<SpoolPipe>,
    private readonly direct: SendBatch,
    private readonly reports: SpoolReports,
  ) {}

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    let payload: Uint8Array;
    try {
      payload = serializeSpans(this.encoding, spans);
    } catch (error) {
      resultCallback({ code: ExportResultCode.FAILED, error: error as Error });
      return;
    }
    this.pipe
      .then(({ queue }) => queue.append(payload, spans.length))
      .then(
        () => resultCallback({ code: ExportResultCode.SUCCESS }),
        async (error: unknown) => {
          this.reports.problem('spool write', `cannot write to the spool for ${this.destination}; batches are sent without it meanwhile`, error);
          const outcome = await this.direct(payload, spans.length, this.encoding);
          resultCallback(outcome.kind === 'sent' ? { code: ExportResultCode.SUCCESS } : { code: ExportResultCode.FAILED, error: outcome.error as Error });
        },
      );
  }

  /** Sends what is spooled; resolves when all of it was sent or an attempt failed (the rest stays spooled). */
  async forceFlush(): Promise<void> {
    const pipe = await this.pipe.catch(() => undefined);
    await pipe?.sender.flush();
  }

  /** Tries to send what is spooled (until an attempt fails), then stops; the rest waits for the next start. */
  async shutdown(): Promise<void> {
    await this.forceFlush();
    await this.close();
  }

  /** Stops sending and closes the spool files at once, whatever is still in flight. */
  close(): Promise<void> {
    this.closed ??= this.pipe.then(
      async ({ queue, sender }) => {
        sender.stop();
        await queue.close();
      },
      () => undefined,
    );
    return this.closed;
  }
}
