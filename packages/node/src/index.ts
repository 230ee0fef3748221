export { StartMarkerSpanProcessor, startMarker } from './markers.js';
export {
  startTracing,
  createExporter,
  tracesUrl,
  type BatchOptions,
  type ExporterOptions,
  type OtlpProtocol,
  type StartTracingOptions,
  type TracingHandle,
} from './setup.js';
