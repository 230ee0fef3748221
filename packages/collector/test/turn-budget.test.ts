import { describe, expect, it } from 'vitest';
import { TurnBudget } from '../src/turn-budget.js';

/**
 * Long reads and large transactions look at a turn budget between small pieces of work. What
 * other clients rely on: once the budget is spent, a pause lets the event loop run what waits
 * (here an immediate queued before the work began); while it lasts, work goes on in the same
 * turn. No wall-clock thresholds: the budgets are zero or far beyond the test's length.
 */
describe('TurnBudget', () => {
  it('yields to the event loop at every pause once its budget is spent', async () => {
    const budget = new TurnBudget(0);
    let ran = 0;
    for (let piece = 0; piece < 3; piece++) {
      const other = new Promise<void>((resolve) => setImmediate(() => (ran++, resolve())));
      await budget.pause();
      await other;
    }
    expect(ran).toBe(3);
  });

  it('keeps the turn while its budget lasts', async () => {
    const budget = new TurnBudget(60_000);
    let waiting = false;
    setImmediate(() => (waiting = true));
    for (let piece = 0; piece < 100; piece++) await budget.pause();
    // Still the same turn: the immediate queued first has not run.
    expect(waiting).toBe(false);
    const spent = new TurnBudget(0);
    await spent.pause();
    expect(waiting).toBe(true);
  });
});
