/** The wire contract, kept in `@flowtrace/semconv`; re-exported here for code written against this path. */
export * from '@flowtrace/semconv';
