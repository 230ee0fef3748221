export { createTracingExtension } from './extension.js';
export { timeoutTag } from './attributes.js';
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
export { captureJson, createRedactor, DEFAULT_REDACTED_KEYS, REDACTED, TRUNCATED, type RedactFn } from './data.js';
export type { FlowDefinition, TracingExtensionOptions } from './types.js';
export { TRACER_NAME, TRACER_VERSION } from './version.js';
