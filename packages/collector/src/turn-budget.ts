import { setImmediate as nextTurn } from 'node:timers/promises';

/** What one turn of the event loop may spend on a long read before other clients get theirs. */
export const TURN_MS = 4;

/**
 * Long work split by time rather than by count: a count that suits warm code on a fast machine
 * holds the loop several times longer on a slow one, or on code not yet optimised (a collector's
 * first read of a large execution). Call `pause()` between small pieces of work: it yields to
 * the event loop once the current turn has run for `ms`.
 */
export class TurnBudget {
  private until: number;

  constructor(private readonly ms = TURN_MS) {
    this.until = performance.now() + ms;
  }

  async pause(): Promise<void> {
    if (performance.now() < this.until) return;
    await nextTurn();
    this.until = performance.now() + this.ms;
  }
}
