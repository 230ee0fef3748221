export * from './attributes.js';
export { isMarker, spanRoleOf, type SpanRole } from './markers.js';
export { tracesUrl } from './otlp-url.js';
