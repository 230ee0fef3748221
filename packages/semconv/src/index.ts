export * from './attributes.js';
export { spanRoleOf, type SpanRole } from './markers.js';
export { tracesUrl } from './otlp-url.js';
