/** The collector's HTTP contract: schemas, the types derived from them, and their vocabularies. */
export * from './health.js';
export * from './metrics.js';
export * from './problem.js';
export * from './queries.js';
export * from './records.js';
export * from './scalars.js';
export * from './status.js';
export * from './trace.js';
