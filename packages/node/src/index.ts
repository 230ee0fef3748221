export { StartMarkerSpanProcessor, startMarker, dropEndedStartMarkers } from './markers.js';
export { startTracing, type BatchOptions, type StartTracingOptions, type TracingHandle } from './setup.js';
export { createExporter, type ExporterOptions, type OtlpProtocol } from './exporters.js';
export { tracesUrl } from '@flowtrace/semconv';
export { DROPPED_METRIC } from './spool/reports.js';
export type { SpoolOptions } from './spool/settings.js';
