import type { ExecutionChange, Store } from './store/store.js';

/**
 * Runs the timeout rule now and then: pending executions past their budget become
 * `error`/`timeout` even when no span of theirs ever arrives again.
 */
export class Reconciler {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: Store,
    private readonly now: () => number,
    private readonly publish: (changes: ExecutionChange[]) => void,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** One pass; returns what changed. */
  run(): ExecutionChange[] {
    const changes = this.store.reconcile(this.now());
    this.publish(changes);
    return changes;
  }

  start(intervalMs: number): void {
    this.stop();
    this.timer = setInterval(() => {
      try {
        this.run();
      } catch (error) {
        this.onError(error);
      }
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
