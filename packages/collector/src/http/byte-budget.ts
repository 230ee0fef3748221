/**
 * Bytes that requests may hold at once, shared by all of them: many slow readers together can
 * hold no more memory than this, however many connections they open.
 */
export class ByteBudget {
  private held = 0;

  constructor(readonly limit: number) {}

  /** Takes `bytes` if they fit; false (and nothing taken) if they do not. */
  take(bytes: number): boolean {
    if (this.held + bytes > this.limit) return false;
    this.held += bytes;
    return true;
  }

  give(bytes: number): void {
    this.held -= bytes;
  }

  /** Bytes held now. */
  get used(): number {
    return this.held;
  }
}
