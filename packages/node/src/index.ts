export { StartMarkerSpanProcessor, startMarker } from './markers.js';
export { startTracing, type BatchOptions, type StartTracingOptions, type TracingHandle } from './setup.js';
export { createExporter, tracesUrl, type ExporterOptions, type OtlpProtocol } from './exporters.js';
export { DROPPED_METRIC } from './spool/reports.js';
export type { SpoolOptions } from './spool/settings.js';
