/**
 * What an operation returns, as the plain promise under core-next's `Promised` when it is one.
 * Awaiting a `Promised` (a thenable) costs a resolve job and two more promises per operation,
 * each seen by the context manager's promise hooks; its plain promise costs none of that.
 */
export function plainPromise(value: unknown): unknown {
  const promised = value as { toPromise?: () => Promise<unknown> } | null | undefined;
  return typeof promised?.toPromise === 'function' ? promised.toPromise() : value;
}
