/**
 * Reading the collector's HTTP API from a benchmark: timed GETs, and whether this collector
 * serves the API of the storage-engine rework (issue 13: `eventLoop` in /healthz, several
 * statuses in `status=`, paged nodes, `/metrics`). Before it, those routes answer 400/404: the
 * benches then print "n/a" for them instead of failing, so CI's smoke run stays green on either
 * side of the merge. Once /healthz has `eventLoop`, every issue-13 route must answer 200.
 */

export interface Answer {
  ms: number;
  status: number;
  body: unknown;
}

/** GET `url`, timed from the request to the whole body read and parsed. */
export async function timedGet(url: string): Promise<Answer> {
  const start = performance.now();
  const response = await fetch(url);
  const text = await response.text();
  const ms = performance.now() - start;
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON: kept as text for the error message.
  }
  return { ms, status: response.status, body };
}

export interface Health {
  /** Event-loop delay since the collector started (issue 13); absent before. */
  eventLoop?: { maxMs: number; p99Ms: number };
}

export async function health(base: string): Promise<Health> {
  const answer = await timedGet(`${base}/healthz`);
  if (answer.status !== 200) throw new Error(`/healthz answered ${answer.status}`);
  return answer.body as Health;
}

/** True when the collector serves the issue-13 API (it announces it with `eventLoop` in /healthz). */
export async function servesIssue13Api(base: string): Promise<boolean> {
  return (await health(base)).eventLoop !== undefined;
}

/**
 * Throws unless the answer is 200 — except that an issue-13 route may answer 400/404 from a
 * collector that predates it; then returns false (the caller prints "n/a").
 */
export function usable(answer: Answer, path: string, { issue13Route, issue13Api }: { issue13Route: boolean; issue13Api: boolean }): boolean {
  if (answer.status === 200) return true;
  if (issue13Route && !issue13Api && (answer.status === 400 || answer.status === 404)) return false;
  throw new Error(`${path} answered ${answer.status}: ${JSON.stringify(answer.body).slice(0, 300)}`);
}

export const BEFORE_ISSUE_13 = 'this collector predates the issue-13 API';
