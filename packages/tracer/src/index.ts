export { createTracingExtension } from './extension.js';
export { executionIdOf, type ExecutionHandle } from './execution-id.js';
export { timeoutTag } from './attributes.js';
export { captureJson, createRedactor, DEFAULT_REDACTED_KEYS, REDACTED, TRUNCATED, type RedactFn } from './data.js';
export type { FlowDefinition, TracingExtensionOptions } from './types.js';
export { TRACER_NAME, TRACER_VERSION } from './version.js';
