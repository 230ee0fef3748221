import type { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { PassThrough } from 'node:stream';
import { DEFAULT_MAX_STREAMS, DEFAULT_STREAM_BUFFER_BYTES } from '../defaults.js';
import { CHANGE_EVENT } from '../read/change-feed.js';
import type { ExecutionChange } from '../store/engine.js';
import { executionEvent, KEEP_ALIVE, resetEvent } from './stream-events.js';

const KEEP_ALIVE_MS = 15_000;
/**
 * A client dropped for falling behind finds its `reset` event behind everything it has not read:
 * its connection is cut once it has read nothing for this long, so it cannot hold a descriptor.
 */
const DROPPED_IDLE_MS = 5_000;
/** Replayed changes written at a time, each slice after the client took the one before. */
const REPLAY_SLICE = 100;
export const FELL_BEHIND = 'this client fell behind';

export interface StreamLimits {
  /** Streams served at once (a dropped one counts until its connection closes). */
  maxStreams?: number;
  /** Bytes a stream may have waiting for its client when more is to be sent; past it the client is dropped. */
  bufferBytes?: number;
}

/** GET /healthz `streams`. */
export interface StreamHealth {
  open: number;
  dropped: number;
  refused: number;
  queuedBytes: number;
}

interface Encoded {
  seq: number;
  text: Buffer;
}

/** One open stream. */
export interface StreamClient {
  readonly stream: PassThrough;
  readonly res: ServerResponse;
  readonly flowId: string | undefined;
  /** The last change written to it (or passed over by its flow filter). */
  sent: number;
  /** Changes broadcast while it is being caught up, sent once it is; undefined after. */
  held: Encoded[] | undefined;
  heldBytes: number;
  /** It was sent its last event, or it went away: nothing more is written. */
  done: boolean;
}

/**
 * The live streams' fan-out. Changes that arrive in one turn of the event loop are turned into
 * their event text once and written to each client as one buffer, the same buffer for every
 * client of the same flow filter. A client whose unsent bytes are past the bound when more is to
 * be sent gets a last `reset` event and is disconnected: what a stream holds stays bounded
 * however slowly its client reads. Past `maxStreams` new streams are refused.
 */
export class LiveStreams {
  readonly maxStreams: number;
  private readonly bufferBytes: number;
  private readonly clients = new Set<StreamClient>();
  private history = '';
  private batch: ExecutionChange[] = [];
  /** The last change seen: where a dropped client follows on from after reading everything again. */
  private latest = 0;
  private keepAlive: NodeJS.Timeout | undefined;
  private dropped = 0;
  private refused = 0;
  /** Listens to the changes only while a stream is open: the feed reads other collectors' changes back only for a listener. */
  private readonly onChange = (change: ExecutionChange) => {
    this.latest = change.seq;
    if (this.batch.push(change) === 1) setImmediate(() => this.flush());
  };

  constructor(
    private readonly changes: EventEmitter,
    limits: StreamLimits = {},
  ) {
    this.maxStreams = limits.maxStreams ?? DEFAULT_MAX_STREAMS;
    this.bufferBytes = limits.bufferBytes ?? DEFAULT_STREAM_BUFFER_BYTES;
  }

  /** Whether one more stream may open; a refusal is counted. */
  admit(): boolean {
    if (this.clients.size < this.maxStreams) return true;
    this.refused++;
    return false;
  }

  /**
   * Starts feeding `stream`, the body of `res`. Changes are held until {@link follow} or
   * {@link catchUp} says where the client is, so none committed meanwhile is missed.
   */
  add(stream: PassThrough, res: ServerResponse, flowId: string | undefined, history: string): StreamClient {
    this.history = history;
    const client: StreamClient = { stream, res, flowId, sent: 0, held: [], heldBytes: 0, done: false };
    if (this.clients.size === 0) this.changes.on(CHANGE_EVENT, this.onChange);
    this.clients.add(client);
    res.on('close', () => this.remove(client));
    stream.on('error', () => this.remove(client));
    // Gone while its request was read: no 'close' is to come.
    if (res.socket?.destroyed !== false) this.remove(client);
    this.keepAlive ??= setInterval(() => {
      for (const each of this.clients) if (!each.done) this.send(each, KEEP_ALIVE);
    }, KEEP_ALIVE_MS).unref();
    return client;
  }

  /** Sends `replay` (changes after `from`, oldest first) as the client takes it, then follows on. */
  async catchUp(client: StreamClient, from: number, replay: readonly ExecutionChange[]): Promise<void> {
    let sent = from;
    for (let i = 0; i < replay.length && !client.done; i += REPLAY_SLICE) {
      const slice = replay.slice(i, i + REPLAY_SLICE);
      sent = slice[slice.length - 1]!.seq;
      if (!client.stream.write(slice.map((change) => executionEvent(this.history, change)).join(''))) await drained(client.stream);
    }
    this.follow(client, sent);
  }

  /** The client has every change up to `sent`: it gets those held after it, then each as it comes. */
  follow(client: StreamClient, sent: number): void {
    if (client.done) return;
    const fresh = client.held!.filter((e) => e.seq > sent);
    client.held = undefined;
    client.heldBytes = 0;
    client.sent = fresh.length > 0 ? fresh[fresh.length - 1]!.seq : sent;
    if (fresh.length > 0) this.send(client, joined(fresh));
  }

  health(): StreamHealth {
    let queuedBytes = 0;
    for (const client of this.clients) queuedBytes += queued(client);
    return { open: this.clients.size, dropped: this.dropped, refused: this.refused, queuedBytes };
  }

  private flush(): void {
    const batch = this.batch;
    this.batch = [];
    const events = batch.map((change) => ({ seq: change.seq, flowId: change.item.flowId, text: Buffer.from(executionEvent(this.history, change)) }));
    const first = events[0]!.seq;
    // One buffer per flow filter, for the clients that had none of these changes yet (all but
    // one just caught up).
    const shared = new Map<string | undefined, Encoded | undefined>();
    for (const client of this.clients) {
      if (client.done) continue;
      if (client.held) {
        for (const e of events) if (client.flowId === undefined || e.flowId === client.flowId) this.hold(client, e);
        continue;
      }
      const whole = client.sent < first;
      let chunk: Encoded | undefined;
      if (whole && shared.has(client.flowId)) chunk = shared.get(client.flowId);
      else {
        const fresh = events.filter((e) => e.seq > client.sent && (client.flowId === undefined || e.flowId === client.flowId));
        chunk = fresh.length > 0 ? { seq: fresh[fresh.length - 1]!.seq, text: joined(fresh) } : undefined;
        if (whole) shared.set(client.flowId, chunk);
      }
      if (!chunk) continue;
      client.sent = chunk.seq;
      this.send(client, chunk.text);
    }
  }

  private send(client: StreamClient, text: Buffer): void {
    if (queued(client) > this.bufferBytes) this.drop(client);
    else client.stream.write(text);
  }

  private hold(client: StreamClient, event: Encoded): void {
    if (client.done) return;
    if (queued(client) > this.bufferBytes) return this.drop(client);
    client.held!.push(event);
    client.heldBytes += event.text.length;
  }

  /** Its last event says to read everything again (the viewer does, and reconnects); then it is closed. */
  private drop(client: StreamClient): void {
    this.dropped++;
    client.done = true;
    client.held = undefined;
    client.heldBytes = 0;
    client.stream.end(resetEvent(this.history, Math.max(this.latest, client.sent), FELL_BEHIND));
    const socket = client.res.socket;
    socket?.setTimeout(DROPPED_IDLE_MS, () => socket.destroy());
  }

  private remove(client: StreamClient): void {
    if (!this.clients.delete(client)) return;
    client.done = true;
    client.held = undefined;
    client.stream.destroy();
    if (this.clients.size === 0) {
      this.changes.off(CHANGE_EVENT, this.onChange);
      clearInterval(this.keepAlive);
      this.keepAlive = undefined;
    }
  }
}

/** Bytes written for the client and not yet handed to the kernel, plus those held for it. */
function queued(client: StreamClient): number {
  return client.stream.writableLength + client.stream.readableLength + client.res.writableLength + client.heldBytes;
}

function joined(events: readonly Encoded[]): Buffer {
  return events.length === 1 ? events[0]!.text : Buffer.concat(events.map((e) => e.text));
}

/** Resolves when the stream can take more, or is gone. */
function drained(stream: PassThrough): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}
