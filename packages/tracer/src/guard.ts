/** Runs tracing work; a failure in it is swallowed so the user's code is never affected. */
export function guard<T>(work: () => T): T | undefined {
  try {
    return work();
  } catch {
    return undefined;
  }
}
