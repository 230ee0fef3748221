import { diag } from '@opentelemetry/api';

/** Where in the tracer a failure happened; each kind is reported once per reporter. */
export type FailureKind = 'span start' | 'span end' | 'context lifecycle' | 'listener release' | 'tool span';

export type ReportFailure = (kind: FailureKind, error: unknown) => void;

/**
 * Reports a failure of the tracer's own work through OTel `diag`, where a host looks for
 * instrumentation problems; the user's flow never sees it. A broken tracer fails on every span,
 * so each kind goes out as an error once and as debug afterwards.
 */
export function failureReporter(): ReportFailure {
  const reported = new Set<FailureKind>();
  return (kind, error) => {
    if (reported.has(kind)) {
      diag.debug(`flowtrace: ${kind} failed again`, error);
      return;
    }
    reported.add(kind);
    diag.error(`flowtrace: ${kind} failed; the flow runs on without this part of its trace (reported once)`, error);
  };
}

const reportOnce = failureReporter();

/** Runs tracing work outside the hot path; a failure is reported through `diag`, never thrown. */
export function guard<T>(work: () => T, kind: FailureKind = 'tool span'): T | undefined {
  try {
    return work();
  } catch (error) {
    reportOnce(kind, error);
    return undefined;
  }
}
