/**
 * Which execution a span belongs to when copies of it (same trace and span id) name different
 * executions — a tracer bug, a replayed or forged request. A span belongs to exactly one
 * execution, chosen by a total order on the claims, so every arrival order, every engine and
 * every collector of a cluster end with the same owner:
 *
 * - a claim to an execution beats a copy that names none;
 * - between two executions, the smaller id (UTF-16 code-unit order) wins.
 *
 * The order says nothing about which claim is true: the ids carry no such knowledge, and a
 * sender able to forge one copy can forge any. What it guarantees is one owner and the same one
 * everywhere; every conflict is reported (see {@link OwnershipConflict}), so an operator can
 * find the sender.
 */
export function claimWins(claimant: string, holder: string | undefined): boolean {
  return holder === undefined || claimant < holder;
}

/** Two copies of one span that name different executions, and the one that kept it. */
export interface OwnershipConflict {
  traceId: string;
  spanId: string;
  /** The execution the span belongs to now. */
  owner: string;
  /** The execution whose claim lost; undefined when the losing copy named none. */
  loser: string | undefined;
}

/**
 * Reports conflicts to a log: each one while few arrive, then, at the end of the interval, how
 * many more there were (a flood must not flood the log; /healthz counts them all).
 */
export function conflictLog(log: (message: string) => void, perInterval = 10, intervalMs = 60_000): (conflict: OwnershipConflict) => void {
  let windowStart = -Infinity;
  let inWindow = 0;
  let untold = 0;
  const tellUntold = () => {
    log(`${untold} more spans were claimed by two executions in the last ${intervalMs / 1000} s (see ingest.conflicts on /healthz)`);
    untold = 0;
  };
  return (conflict) => {
    const now = Date.now();
    if (now - windowStart >= intervalMs) {
      windowStart = now;
      inWindow = 0;
    }
    if (++inWindow > perInterval) {
      if (untold++ === 0) setTimeout(tellUntold, windowStart + intervalMs - now).unref();
      return;
    }
    const lost = conflict.loser === undefined ? 'a copy naming no execution' : `execution ${conflict.loser}`;
    log(`span ${conflict.spanId} of trace ${conflict.traceId} was sent for two executions: it stays with execution ${conflict.owner}, not ${lost}`);
  };
}
