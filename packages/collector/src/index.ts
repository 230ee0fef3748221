export { createCollector, type Collector, type CollectorOptions } from './app.js';
export { DEFAULT_MAX_BODY_BYTES, DEFAULT_TIMEOUT_MS } from './defaults.js';
export { SqliteStore, type SqliteStoreOptions } from './store/sqlite.js';
export type { ExecutionChange, ExecutionQuery, Store } from './store/store.js';
export { projectExecution, listItem, type Projection, type ProjectionContext } from './records/project.js';
export { decodeJson } from './otlp/json.js';
export { decodeProtobuf } from './otlp/protobuf.js';
export type { Span, DecodedRequest, AttributeValue } from './otlp/span.js';
export type * from './records/types.js';
