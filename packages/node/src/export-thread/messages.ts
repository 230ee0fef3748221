import type { ExportResult } from '@opentelemetry/core';
import type { Destination } from '../exporters.js';
import type { ResourceSnapshot, SpanSnapshot } from './span-snapshot.js';

/** What the export thread is started with: the destinations it owns an exporter for, in order. */
export interface ExportThreadData {
  destinations: Destination[];
}

/** From the application's thread: work for the exporter of one destination. */
export type Request =
  | { kind: 'export'; id: number; destination: number; resources: ResourceSnapshot[]; spans: SpanSnapshot[] }
  | { kind: 'forceFlush' | 'shutdown'; id: number; destination: number };

/** From the export thread: it is ready, a request's outcome, or a diagnostic for the application's OTel `diag`. */
export type Reply =
  | { kind: 'ready' }
  | { kind: 'done'; id: number; code: ExportResult['code']; error: string | undefined }
  | { kind: 'diag'; level: DiagLevel; message: string };

export type DiagLevel = 'error' | 'warn' | 'info' | 'debug' | 'verbose';
