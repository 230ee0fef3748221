import { randomBytes } from 'node:crypto';
import type { Span } from '../otlp/span.js';
import type { OrderKey } from '../records/project.js';
import type { ExecutionSummary, InstanceStart, Outcome, SpanRole } from '../records/aggregate.js';
import type { ExecutionListItem, ExecutionStatus, FlowSummary } from '../records/types.js';

/**
 * The storage-engine interface: what a database must do for the collector, and nothing of the
 * collector's rules. The rules (src/ingest/) decide what each execution's summary, outcome and
 * list row are; an engine stores spans, stores those rows, keeps the indexes derived from them
 * (flow counts, time rollups, search) in step within the same transaction, and answers reads.
 * SQLite is one engine (sqlite/); any engine must pass test/support/engine-contract.ts.
 */
export interface StorageEngine {
  /**
   * Runs `work` in one write transaction: all of it is committed, or none; reads made meanwhile
   * see only committed data. An engine with concurrent writers may run `work` again after a
   * conflict (deadlock, serialization failure), so `work` must only depend on what it reads.
   */
  transaction<T>(work: (tx: WriteTx) => Promise<T>): Promise<T>;

  execution(id: string): Promise<StoredExecution | undefined>;
  /** The spans of an execution, decoded; `roles` narrows them (the head spans of a big one). */
  executionSpans(key: number, roles?: readonly SpanRole[]): Promise<Span[]>;
  /**
   * What orders an execution's steps, without decoding them. With `'step-marker'`, the same for
   * its steps' start markers instead (a marker's parent is the step it announces).
   */
  stepOrder(key: number, role?: 'step' | 'step-marker'): Promise<OrderKey[]>;
  /** Some of those steps, decoded, in the order asked. */
  stepSpans(key: number, steps: readonly OrderKey[]): Promise<Span[]>;
  listExecutions(query: ListQuery): Promise<{ executions: StoredExecution[]; total: number }>;
  listFlows(): Promise<FlowSummary[]>;
  /** Every stored span of a trace, flowtrace's or not. */
  trace(traceId: string): Promise<Span[]>;
  /** Changes after `seq`, oldest first, for resuming a live stream. */
  changesSince(seq: number, flowId: string | undefined, limit: number): Promise<StoredChange[]>;
  lastSeq(): Promise<number>;
  /**
   * Names this history: made with the database and kept in it, so the change numbers of another
   * database (one replaced or reset, whose numbers start again) are never taken for these.
   */
  historyId(): Promise<string>;
  /** What waits in a destination's forwarding outbox (leased payloads included). */
  outboxSize(destination: string): Promise<{ payloads: number; bytes: number }>;
  /** Counts by status and duration histograms per bucket, from rollups kept on write. */
  metrics(query: MetricsQuery): Promise<MetricsRollup[]>;
  /** History written by an older release, to be ingested again under the current rules. */
  legacy(): LegacyHistory | undefined;
  /**
   * For an engine that other collectors write too: calls `onCommit` with the change sequence
   * number each time another writer commits, and with undefined when some may have been missed
   * (after a reconnection). An engine with one writer has no such method.
   */
  watch?(onCommit: (seq: number | undefined) => void): void;
  close(): Promise<void>;
}

/**
 * The database cannot be reached (down, restarting, out of connections). Nothing of the
 * operation was committed: ingest answers 503 with Retry-After so exporters retry, reads 503.
 */
export class StorageUnavailableError extends Error {
  override name = 'StorageUnavailableError';
  readonly status = 503;
  readonly expose = true;
  readonly headers = { 'Retry-After': '1' };
}

/** A new history id: 16 hex digits, random. */
export function newHistoryId(): string {
  return randomBytes(8).toString('hex');
}

export interface LegacyHistory {
  /** Executions still to convert. */
  readonly total: number;
  /**
   * The spans of the next `executions` executions (then of no execution), with the outcomes the
   * older release had decided for those still unfinished; undefined when done.
   */
  next(executions: number): Promise<{ spans: Span[]; decided: Map<string, Outcome> } | undefined>;
  /** Removes the old layout once everything is converted; run inside a write transaction. */
  finish(): Promise<void>;
}

export interface WriteTx {
  /**
   * The dense keys of the executions with these ids, an empty execution made for each id never
   * seen (`firstSeen` as below). Nothing is locked: an engine that other collectors write too
   * commits the new rows at once, outside this transaction, so another writer naming one of them
   * does not wait for this commit (a key made for a transaction that then rolls back stays,
   * empty and unlisted, for the spans' next delivery). Called first, before this transaction
   * writes any execution.
   */
  keys(ids: readonly string[], firstSeen?: ReadonlyMap<string, number>): Promise<Map<string, number>>;
  /**
   * The executions with these ids, locked until commit where other writers could change them;
   * ids never seen get an empty one (and their dense key).
   * `firstSeen` gives, per id, the earliest start (ms) among the spans about to be appended: an
   * engine that places an execution by time places a new one by it.
   */
  executions(ids: readonly string[], firstSeen?: ReadonlyMap<string, number>): Promise<Map<string, StoredExecution>>;
  /**
   * Appends the spans not stored yet and says for each what became of it: stored now, stored
   * already for the same execution (re-delivery), or — for a span that names an execution — held
   * by another execution, or by none, under the same trace and span id: left as it is for the
   * rules to decide ({@link WriteTx.moveSpan}).
   */
  appendSpans(spans: readonly IncomingSpan[], keys: ReadonlyMap<string, number>): Promise<Appended[]>;
  /**
   * Replaces every stored copy of the span (same trace and span id) with `incoming`, stored for
   * the execution with key `to`.
   */
  moveSpan(incoming: IncomingSpan, to: number): Promise<void>;
  /** The spans stored for an execution, as this transaction sees them. */
  executionSpans(key: number): Promise<Span[]>;
  /**
   * Stores changed executions. Each listed one gets the next change sequence number, returned
   * in order; an unlisted one (steps before its head) keeps only its summary.
   */
  putExecutions(updates: readonly ExecutionUpdate[]): Promise<number[]>;
  /** Records a process start (once per instance id: a re-sent marker changes nothing). */
  addInstanceStart(start: InstanceStart & { serviceName: string }): Promise<void>;
  /** The service's process starts, each with its liveness when it promised heartbeats. */
  instanceStarts(serviceName: string): Promise<InstanceStart[]>;
  /**
   * A process that promised heartbeats every `heartbeatMs` was alive at `at`: its last-seen time
   * moves forward (never back), and a process taken as gone is alive again.
   */
  instanceSeen(seen: { serviceName: string; instanceId: string; heartbeatMs: number; at: number }): Promise<void>;
  /**
   * Processes that promised heartbeats, are not marked gone, and whose last one is older than
   * MISSED_HEARTBEATS of their intervals at `now` — the rules decide which of them are gone.
   */
  livenessOf(now: number): Promise<Array<InstanceStart & { serviceName: string }>>;
  /** Marks processes gone, so `livenessOf` stops returning them until they are seen again. */
  markGone(instances: ReadonlyArray<{ serviceName: string; instanceId: string }>, now: number): Promise<void>;
  pendingPastDeadline(now: number, limit: number): Promise<StoredExecution[]>;
  pendingOfService(serviceName: string): Promise<StoredExecution[]>;
  /** Hides a flow from the flow list; false for an unknown flow. */
  deleteFlow(flowId: string, now: number): Promise<boolean>;
  /**
   * Removes up to `limit` whole executions that started before `cutoff` (their spans, rows and
   * rollup counts), and spans of no execution whose trace keeps no execution. Returns how many.
   */
  removeStartedBefore(cutoff: number, limit: number): Promise<number>;

  // The forwarding outbox: payloads queued per destination in the transaction that stores their
  // spans, then leased, sent and deleted by the forwarder (src/forward/).

  /** Queues payloads, each for its destination, at `now`. */
  enqueueOutbox(entries: readonly OutboxEntry[], now: number): Promise<void>;
  /**
   * The oldest `limit` payloads of a destination that nobody holds a lease on at `now`, oldest
   * first, each now leased until `until`. Another writer's leases are skipped, not waited for.
   */
  leaseOutbox(destination: string, limit: number, until: number, now: number): Promise<LeasedPayload[]>;
  /** Gives leases up: the payloads can be leased again at once. */
  releaseOutbox(ids: readonly number[]): Promise<void>;
  /** Deletes payloads (sent, or refused for good). */
  deleteOutbox(ids: readonly number[]): Promise<void>;
  /** Deletes a destination's oldest payloads until what is left holds at most `maxBytes`; returns how many. */
  trimOutbox(destination: string, maxBytes: number): Promise<number>;
  /** Deletes payloads of any destination queued before `cutoff`; returns how many. */
  removeOutboxBefore(cutoff: number): Promise<number>;
}

/** A payload to forward: a request's bytes, markers cut out, and the Content-Type it came with. */
export interface OutboxEntry {
  destination: string;
  contentType: string;
  payload: Uint8Array;
}

export interface LeasedPayload {
  id: number;
  contentType: string;
  payload: Buffer;
}

/** What {@link WriteTx.appendSpans} did with one span. */
export type Appended = 'new' | 'again' | { heldBy: SpanHolder };

/** The execution a stored copy of a span belongs to; no id for a copy of no execution. */
export interface SpanHolder {
  key: number;
  id?: string;
}

/** A span as ingest hands it to the engine. */
export interface IncomingSpan {
  span: Span;
  role: SpanRole;
  executionId: string | undefined;
  /** The span's own protobuf encoding, when it arrived as protobuf: stored as it came. */
  wire?: Uint8Array;
}

export interface StoredExecution {
  /** Dense integer key, in order of first arrival. */
  key: number;
  id: string;
  summary: ExecutionSummary;
  /** Absent until the execution's head arrived (its steps can come first). */
  outcome?: Outcome;
}

/** A stored execution with the sequence number of its last change. */
export interface StoredChange {
  seq: number;
  execution: StoredExecution;
}

export interface ExecutionUpdate {
  key: number;
  id: string;
  summary: ExecutionSummary;
  /** Absent while the execution's head has not arrived: it is not listed yet. */
  listed?: ListedExecution;
  /**
   * The execution was listed and has lost its head (to another execution's claim): it leaves
   * the list, the flow counts, the rollups and the search index until a head arrives again.
   */
  unlisted?: true;
}

export interface ListedExecution {
  outcome: Outcome;
  flowId: string;
  flowName: string;
  /** Set once the execution ended: the duration rollups count it. */
  durationMs?: number;
  /** Exact start (ms, with fraction): the list order. */
  startedAtMs: number;
  /** When a pending execution's budget runs out. */
  deadline: number;
  serviceName: string;
  /** Set when the parameters the `q` search matches became known or changed. */
  searchText?: string;
  /** The execution was searchable by other parameters before (its start marker's, say). */
  replacesSearch?: boolean;
}

/** A change as the live stream sends it: the list row, with its sequence number. */
export interface ExecutionChange {
  seq: number;
  item: ExecutionListItem;
}

export interface ListQuery {
  flowId: string;
  offset: number;
  limit: number;
  statuses?: readonly ExecutionStatus[];
  /** Started at or after (ms since the epoch). */
  from?: number;
  /** Started before (ms since the epoch). */
  to?: number;
  /** Text searched in the initial parameters (at least 3 characters). */
  q?: string;
}

export interface MetricsQuery {
  flowId: string;
  from: number;
  to: number;
  bucketMs: number;
}

export interface MetricsRollup {
  start: number;
  counts: Record<ExecutionStatus, number>;
  /** Durations of finished executions as histogram bins (see rollups.ts: 2 % wide, read within 1 %). */
  durationBins: Map<number, number>;
}
