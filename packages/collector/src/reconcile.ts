import type { ExecutionChange } from './store/engine.js';

/**
 * Runs the timeout rule now and then: pending executions past their budget become
 * `error`/`timeout` even when no span of theirs ever arrives again.
 */
export class Reconciler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<ExecutionChange[]> | undefined;
  /** What the passes did since start (also in GET /healthz). */
  readonly stats = { passes: 0, decided: 0, failed: 0 };

  constructor(
    private readonly pass: () => Promise<ExecutionChange[]>,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** One pass; returns what changed. Passes never overlap. */
  run(): Promise<ExecutionChange[]> {
    this.running ??= this.pass()
      .then(
        (changes) => {
          this.stats.passes++;
          this.stats.decided += changes.length;
          return changes;
        },
        (error: unknown) => {
          this.stats.failed++;
          throw error;
        },
      )
      .finally(() => (this.running = undefined));
    return this.running;
  }

  start(intervalMs: number): void {
    this.stop();
    this.timer = setInterval(() => {
      this.run().catch((error: unknown) => this.onError(error));
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
