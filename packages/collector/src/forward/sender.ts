import type { Health } from '../contract/health.js';
import type { LeasedPayload, StorageEngine } from '../store/engine.js';
import { Backoff, verdictOf, type Verdict } from './retry.js';

export interface SenderOptions {
  engine: StorageEngine;
  /** The destination's OTLP traces URL: where payloads go, and their outbox key. */
  url: string;
  /** Sent with every payload. */
  headers: Readonly<Record<string, string>>;
  /** Bytes the destination's outbox may hold; past it the oldest payloads are dropped. */
  maxBytes: number;
  /** Time a destination has to answer one payload. */
  timeoutMs: number;
  /** First and longest back-off wait after failures in a row. */
  retry: { firstMs: number; maxMs: number };
  /** How often an idle sender looks for payloads queued by other collectors (a commit here wakes it). */
  pollMs: number;
  now: () => number;
  log: (message: string) => void;
}

/** GET /healthz: one destination's forwarding. */
export type DestinationHealth = Health['forward'][number];

/** Payloads leased at once: sent one after the other, each within `timeoutMs`, all within the lease. */
const BATCH = 8;
/** Beyond the batch's answer times, so a lease never runs out under a sender that is still trying. */
const LEASE_MARGIN_MS = 30_000;

/**
 * One destination's sender: leases the oldest payloads of its outbox, POSTs each as it was
 * queued, deletes it once the destination took it (2xx) or refused it for good (other 4xx),
 * and on 429/502/503/504 or no answer keeps it and backs off. A destination that is down delays
 * only its own payloads; ingest never waits for any.
 */
export class DestinationSender {
  private readonly stats = { sent: 0, refused: 0, dropped: 0, lastError: null as string | null };
  private size = { payloads: 0, bytes: 0 };
  private readonly backoff: Backoff;
  private readonly leaseMs: number;
  private readonly shown: string;
  private stopping = false;
  /** A commit queued payloads since the sender last looked. */
  private nudged = false;
  private sleeping: { wakeable: boolean; end: () => void } | undefined;
  private sending: AbortController | undefined;
  private lastRefusal: string | undefined;
  private readonly loop: Promise<void>;

  constructor(private readonly options: SenderOptions) {
    this.backoff = new Backoff(options.retry.firstMs, options.retry.maxMs);
    this.leaseMs = BATCH * options.timeoutMs + LEASE_MARGIN_MS;
    this.shown = shownUrl(options.url);
    this.loop = this.run();
  }

  /** A commit queued payloads: look now rather than at the next poll (a back-off is kept). */
  wake(): void {
    this.nudged = true;
    if (this.sleeping?.wakeable) this.sleeping.end();
  }

  health(): DestinationHealth {
    return { destination: this.shown, queued: this.size.payloads, queuedBytes: this.size.bytes, ...this.stats };
  }

  /**
   * Stops: a payload being sent gets `graceMs` to be answered (so one the destination took is
   * not sent again after a restart), then is given up; unsent leases are released.
   */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    this.sleeping?.end();
    const timer = setTimeout(() => this.sending?.abort(new Error('the collector is stopping')), graceMs);
    await this.loop;
    clearTimeout(timer);
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      let wait: number;
      try {
        wait = await this.round();
      } catch (error) {
        // The database is unreachable: nothing was lost, try again later.
        this.failed(`the outbox could not be read: ${(error as Error).message}`);
        wait = this.backoff.next();
      }
      if (wait > 0 && !this.stopping) await this.sleep(wait, wait === this.options.pollMs);
    }
  }

  /** Sends one leased batch; returns how long to wait before the next (0: at once). */
  private async round(): Promise<number> {
    const { engine, url, now } = this.options;
    this.nudged = false;
    await this.measure();
    const at = now();
    const batch = await engine.transaction((tx) => tx.leaseOutbox(url, BATCH, at + this.leaseMs, at));
    if (batch.length === 0) return this.options.pollMs;
    const done: LeasedPayload[] = [];
    let wait = 0;
    for (const payload of batch) {
      if (this.stopping) break;
      const verdict = await this.send(payload);
      if (verdict.kind === 'retry') {
        this.failed(verdict.error);
        wait = this.backoff.next(verdict.retryAfterMs);
        break;
      }
      done.push(payload);
      if (verdict.kind === 'sent') this.sent();
      else this.refused(verdict.error);
    }
    const rest = batch.slice(done.length).map((p) => p.id);
    await engine.transaction(async (tx) => {
      if (done.length > 0) await tx.deleteOutbox(done.map((p) => p.id));
      if (rest.length > 0) await tx.releaseOutbox(rest);
    });
    this.size.payloads -= done.length;
    this.size.bytes -= done.reduce((sum, p) => sum + p.payload.byteLength, 0);
    return wait;
  }

  /** Reads the outbox's size, first dropping its oldest payloads past the byte cap. */
  private async measure(): Promise<void> {
    const { engine, url, maxBytes } = this.options;
    this.size = await engine.outboxSize(url);
    if (this.size.bytes <= maxBytes) return;
    const dropped = await engine.transaction((tx) => tx.trimOutbox(url, maxBytes));
    this.stats.dropped += dropped;
    this.options.log(`forwarding to ${this.shown}: ${dropped} oldest payload(s) dropped, the outbox was over its ${maxBytes} bytes (the destination is down or too slow)`);
    this.size = await engine.outboxSize(url);
  }

  private async send(payload: LeasedPayload): Promise<Verdict> {
    const controller = new AbortController();
    this.sending = controller;
    const timer = setTimeout(() => controller.abort(new Error(`no answer within ${this.options.timeoutMs} ms`)), this.options.timeoutMs);
    try {
      const response = await fetch(this.options.url, {
        method: 'POST',
        headers: { ...this.options.headers, 'content-type': payload.contentType },
        body: payload.payload,
        redirect: 'manual',
        signal: controller.signal,
      });
      await response.body?.cancel().catch(() => {});
      return verdictOf(response.status, response.statusText, response.headers.get('retry-after'), this.options.now());
    } catch (error) {
      return { kind: 'retry', error: describe(error, controller.signal) };
    } finally {
      clearTimeout(timer);
      this.sending = undefined;
    }
  }

  private sent(): void {
    this.stats.sent++;
    if (this.backoff.failing) this.options.log(`forwarding to ${this.shown} works again`);
    this.backoff.reset();
    this.lastRefusal = undefined;
  }

  /** Logged when the destination starts failing, not at every retry. */
  private failed(error: string): void {
    this.stats.lastError = error;
    if (!this.backoff.failing) this.options.log(`forwarding to ${this.shown} failed (${error}): payloads stay queued and are retried with back-off`);
  }

  /** Logged once per run of the same refusal: a destination refusing everything says so once. */
  private refused(error: string): void {
    this.stats.refused++;
    this.stats.lastError = error;
    if (this.lastRefusal !== error) {
      this.options.log(`forwarding to ${this.shown}: the destination refused a payload (${error}); it is dropped, as it would be refused again`);
    }
    this.lastRefusal = error;
  }

  private sleep(ms: number, wakeable: boolean): Promise<void> {
    if (wakeable && this.nudged) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => end(), ms);
      const end = () => {
        clearTimeout(timer);
        this.sleeping = undefined;
        resolve();
      };
      this.sleeping = { wakeable, end };
    });
  }
}

/** A URL fit for logs and /healthz: no user, password, query or fragment (they may hold keys). */
export function shownUrl(url: string): string {
  const parsed = new URL(url);
  return `${parsed.origin}${parsed.pathname}`;
}

/** Why fetch failed, from its cause (undici says only "fetch failed"): no header is part of it. */
function describe(error: unknown, signal: AbortSignal): string {
  if (signal.aborted) return (signal.reason as Error).message;
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.message ?? (error as Error).message;
}
