import { diag, metrics } from '@opentelemetry/api';

/** Why spooled spans were given up: no room left under `maxBytes`, or the destination refused them. */
export type DropReason = 'full' | 'rejected';
/** Spool trouble that loses no acknowledged span by itself, or only damaged bytes. */
export type ProblemKind = 'damaged record' | 'not a segment' | 'spool write' | 'spool read' | 'adoption';

export const DROPPED_METRIC = 'flowtrace.spool.dropped_spans';
const METER = '@flowtrace/node';

/**
 * What the spool tells the host about itself, through OTel `diag` and the global MeterProvider.
 * An outage or a broken disk repeats the same trouble for every batch, so each kind goes out at
 * its level once and as debug afterwards; every dropped span is counted on the metric.
 */
export class SpoolReports {
  private readonly reported = new Set<string>();

  dropped(destination: string, reason: DropReason, spans: number, detail: string): void {
    // Looked up per call: a MeterProvider registered after startTracing still counts.
    metrics
      .getMeter(METER)
      .createCounter(DROPPED_METRIC, { unit: '{span}', description: 'Spans the flowtrace spool gave up before their destination acknowledged them' })
      .add(spans, { 'flowtrace.spool.destination': destination, 'flowtrace.spool.reason': reason });
    this.once(`dropped ${reason}`, 'warn', `flowtrace: spool for ${destination} dropped ${spans} span(s): ${detail}`);
  }

  problem(kind: ProblemKind, message: string, error?: unknown): void {
    this.once(kind, 'error', `flowtrace: ${message}`, error);
  }

  private once(kind: string, level: 'warn' | 'error', message: string, error?: unknown): void {
    const args = error === undefined ? [] : [error];
    if (this.reported.has(kind)) return diag.debug(message, ...args);
    this.reported.add(kind);
    diag[level](`${message} (further ones at debug level)`, ...args);
  }
}
