/** Instrumentation scope of every span the tracer creates. Kept equal to package.json by a test. */
export const TRACER_NAME = '@flowtrace/tracer';
export const TRACER_VERSION = '0.1.0';
