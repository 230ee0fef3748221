import { EventEmitter } from 'node:events';
import type { ExecutionChange, StorageEngine } from '../store/engine.js';
import type { ExecutionReader } from './executions.js';

export const CHANGE_EVENT = 'execution-change';
const CATCH_UP_BATCH = 1000;

/**
 * The changes live streams send, in change-sequence order with none skipped. This collector's
 * own commits go out at once when they follow the last change sent; when another collector
 * committed in between (the engine's `watch` says so, or the numbers jump), the changes are read
 * back from the database in order instead. Change numbers have no gaps: a jump is always
 * someone else's commit.
 *
 * Only while something listens: with several collectors nearly every commit is a jump, and
 * reading back every change of every collector doubled each one's CPU a span when no browser
 * was watching. Unfollowed, the feed only moves its mark past the jump; a stream that opens
 * starts from the database (its replay, or the last change there), so it misses nothing.
 */
export class ChangeFeed extends EventEmitter {
  /** The last change sequence number emitted; undefined until read at start. */
  private sent: number | undefined;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly engine: StorageEngine,
    private readonly reader: ExecutionReader,
    private readonly onError: (error: unknown) => void,
  ) {
    super();
    this.setMaxListeners(0);
    void this.run(async () => {
      this.sent = await engine.lastSeq();
    });
    engine.watch?.((seq) => {
      if (seq === undefined || this.sent === undefined || seq > this.sent) void this.run(() => this.catchUp(seq));
    });
  }

  /** Changes this collector committed, in order. */
  committed(changes: readonly ExecutionChange[]): void {
    if (changes.length === 0) return;
    void this.run(async () => {
      // Nothing was sent yet (the database was down at start): start from these.
      this.sent ??= changes[0]!.seq - 1;
      if (changes[0]!.seq !== this.sent + 1) return this.catchUp(changes[changes.length - 1]!.seq);
      for (const change of changes) this.send(change);
    });
  }

  /** Waits for changes already handed to the feed to be sent. */
  settled(): Promise<void> {
    return this.chain;
  }

  private run(step: () => Promise<void>): Promise<void> {
    this.chain = this.chain.then(step).catch((error: unknown) => {
      // A change missed now is read back with the next one: `sent` did not move past it.
      this.onError(error);
    });
    return this.chain;
  }

  /** Reads the changes after the last one sent, if anything listens; else moves past `committed`, a change known committed. */
  private async catchUp(committed?: number): Promise<void> {
    if (this.sent === undefined) {
      // Streams resume from their own Last-Event-ID; the feed starts from now.
      this.sent = await this.engine.lastSeq();
      return;
    }
    if (this.listenerCount(CHANGE_EVENT) === 0) {
      if (committed !== undefined && committed > this.sent) this.sent = committed;
      return;
    }
    for (;;) {
      const changes = await this.engine.changesSince(this.sent!, undefined, CATCH_UP_BATCH);
      for (const { seq, execution } of changes) this.send({ seq, item: this.reader.item(execution) });
      if (changes.length < CATCH_UP_BATCH) return;
    }
  }

  private send(change: ExecutionChange): void {
    if (this.sent !== undefined && change.seq <= this.sent) return;
    this.sent = change.seq;
    this.emit(CHANGE_EVENT, change);
  }
}
