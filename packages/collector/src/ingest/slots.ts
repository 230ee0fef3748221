/**
 * The slots for decoding and storing request bodies, with a short wait for one.
 *
 * Turning a whole body away the instant every slot is taken makes exporters that collided once
 * collide again: they all retry after the same `Retry-After`, and a burst of a few senders against
 * a busy store can use up an exporter's retries and lose its batch. A body that has arrived waits
 * its turn instead (first come, first served) for at most `maxWaitMs`; only past that is it
 * answered 503. The caller keeps waiting bodies' bytes in the reading budget, so waiting costs no
 * more memory than reading does.
 */
export class IngestSlots {
  private taken = 0;
  private readonly waiting: Array<(granted: boolean) => void> = [];

  constructor(
    private readonly capacity: number,
    private readonly maxWaitMs: number,
  ) {}

  /** True at once when a slot is free (never while bodies wait: a freed slot goes to them). */
  tryTake(): boolean {
    if (this.taken >= this.capacity) return false;
    this.taken++;
    return true;
  }

  /** Waits for a slot; false when none came free within `maxWaitMs`. */
  wait(): Promise<boolean> {
    return new Promise((resolve) => {
      const grant = (granted: boolean) => {
        clearTimeout(timer);
        resolve(granted);
      };
      const timer = setTimeout(() => {
        const at = this.waiting.indexOf(grant);
        if (at >= 0) this.waiting.splice(at, 1);
        resolve(false);
      }, this.maxWaitMs);
      this.waiting.push(grant);
    });
  }

  /** Gives a slot back, straight to the longest-waiting body if there is one. */
  give(): void {
    const next = this.waiting.shift();
    if (next) next(true);
    else this.taken--;
  }

  /** Bodies waiting for a slot now. */
  get queued(): number {
    return this.waiting.length;
  }
}
