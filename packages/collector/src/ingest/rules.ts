import * as sc from '@flowtrace/semconv';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { nanosToMillis } from '../otlp/span.js';
import {
  emptySummary,
  foldSpan,
  goneAt,
  instanceIdOf,
  listItemOf,
  runOf,
  outcomeOf,
  searchTextOf,
  timeoutOf,
  type InstanceStart,
  type Outcome,
  type RuleContext,
} from '../records/aggregate.js';
import type { ExecutionListItem } from '../records/types.js';
import { TurnBudget } from '../turn-budget.js';
import { claimWins, type OwnershipConflict } from './ownership.js';
import type { Appended, ExecutionChange, ExecutionUpdate, IncomingSpan, ListedExecution, OutboxEntry, StorageEngine, StoredExecution, WriteTx } from '../store/engine.js';

/** Spans appended between two looks at the turn's budget, so a large transaction never stalls the event loop long. */
const APPEND_STRETCH = 32;
/** Pending executions past their budget re-evaluated per reconcile transaction. */
const RECONCILE_BATCH = 5_000;

/**
 * The collector's rules, above any storage engine: route each span to its execution, fold it
 * into that execution's summary, decide the outcome (timeout, restart), and write the rows
 * that changed. One call is one transaction of the engine.
 */
export class ExecutionRules {
  constructor(
    private readonly engine: StorageEngine,
    private readonly defaultTimeoutMs: number,
    /** Told, after each commit, of every span two executions claimed (see ownership.ts). */
    private readonly onConflict?: (conflict: OwnershipConflict) => void,
  ) {}

  /**
   * Stores the spans of one or more requests and updates the executions they touch. `decided`
   * carries outcomes decided elsewhere (by an older release) for executions still unfinished.
   * `outbox` is queued for forwarding in the same transaction: a committed request is forwarded.
   */
  async ingest(
    spans: readonly IncomingSpan[],
    now: number,
    decided?: ReadonlyMap<string, Outcome>,
    outbox: readonly OutboxEntry[] = [],
  ): Promise<ExecutionChange[]> {
    let conflicts: OwnershipConflict[] = [];
    const changes = await this.engine.transaction(async (tx) => {
      // Reported once committed: an engine may run this again after a conflict between writers.
      conflicts = [];
      if (outbox.length > 0) await tx.enqueueOutbox(outbox, now);
      const touched = new Map<string, StoredExecution>();
      for (const { span, role } of spans) {
        if (role !== 'instance-start' && role !== 'heartbeat') continue;
        const service = span.resource[sc.ATTR_SERVICE_NAME];
        const instance = instanceIdOf(span.resource);
        if (typeof service !== 'string' || instance === undefined) continue;
        const at = nanosToMillis(span.startTimeUnixNano);
        const promised = span.attributes[sc.ATTR_HEARTBEAT_INTERVAL_MS];
        const heartbeatMs = typeof promised === 'number' && promised > 0 ? promised : undefined;
        if (role === 'heartbeat') {
          if (heartbeatMs !== undefined) await tx.instanceSeen({ serviceName: service, instanceId: instance, heartbeatMs, at });
          continue;
        }
        const start: InstanceStart & { serviceName: string } = { serviceName: service, instanceId: instance, startedAt: at };
        const replica = span.resource[sc.ATTR_REPLICA_ID];
        if (typeof replica === 'string' && replica) start.replicaId = replica;
        await tx.addInstanceStart(start);
        if (heartbeatMs !== undefined) await tx.instanceSeen({ serviceName: service, instanceId: instance, heartbeatMs, at });
        // The restart rule: the service's pending executions may now be interrupted.
        for (const execution of await tx.pendingOfService(service)) touched.set(execution.id, execution);
      }
      // A heartbeat has done its work once the process's last-seen time moved: it is not kept.
      const kept = spans.filter(({ role }) => role !== 'heartbeat');
      const firstSeen = new Map<string, number>();
      for (const { span, executionId } of kept) {
        if (executionId === undefined) continue;
        const start = nanosToMillis(span.startTimeUnixNano);
        const earliest = firstSeen.get(executionId);
        if (earliest === undefined || start < earliest) firstSeen.set(executionId, start);
      }
      const ids = [...firstSeen.keys()];
      const keys = await tx.keys(ids, firstSeen);
      const appended: Appended[] = [];
      // The first spans go in a turn of their own: the turn this one started in may already
      // have spent several ms taking the decoded request from the decode thread. Other requests
      // and /healthz go on between turns; reads wait for the commit.
      await nextTurn();
      const budget = new TurnBudget();
      for (let start = 0; start < kept.length; start += APPEND_STRETCH) {
        if (start > 0) await budget.pause();
        appended.push(...(await tx.appendSpans(kept.slice(start, start + APPEND_STRETCH), keys)));
      }
      // Read (and, where collectors share a database, locked) only now: another collector
      // writing one of these executions holds it from here to its commit, not for all of its
      // transaction, so two collectors store their spans at the same time.
      const executions = await tx.executions(ids);
      const { fresh, losers } = await this.settleClaims(tx, kept, appended, executions, conflicts);
      const searchTexts = new Map<string, { text: string; replaces: boolean }>();
      kept.forEach(({ span, role, executionId }, i) => {
        if (!fresh[i] || executionId === undefined) return;
        const execution = executions.get(executionId)!;
        const before = execution.summary.head;
        if (!foldSpan(execution.summary, span, role)) return;
        touched.set(executionId, execution);
        const after = execution.summary.head;
        if (after && after.spanId === span.spanId && after.paramsHash !== before?.paramsHash) {
          // Replaces a search entry only when one was written by an earlier transaction.
          const replaces = searchTexts.get(executionId)?.replaces ?? before !== undefined;
          searchTexts.set(executionId, { text: searchTextOf(span), replaces });
        }
      });
      await this.refold(tx, losers, executions, touched, searchTexts);
      if (decided) for (const [id, outcome] of decided) if (touched.has(id)) touched.get(id)!.outcome = outcome;
      return this.decide(tx, [...touched.values()], now, searchTexts, true);
    });
    for (const conflict of conflicts) this.onConflict?.(conflict);
    return changes;
  }

  /**
   * Decides the spans that another execution (or none) held already, by the ownership rule: a
   * winning claim takes the span over. Returns which spans are new to the execution they name,
   * and the executions (key → id) that lost a span.
   */
  private async settleClaims(
    tx: WriteTx,
    spans: readonly IncomingSpan[],
    appended: readonly Appended[],
    executions: ReadonlyMap<string, StoredExecution>,
    conflicts: OwnershipConflict[],
  ): Promise<{ fresh: boolean[]; losers: Map<number, string> }> {
    const fresh = appended.map((result) => result === 'new');
    const losers = new Map<number, string>();
    const moved = new Map<string, string>();
    for (const [i, result] of appended.entries()) {
      if (typeof result === 'string') continue;
      const { span, executionId: claimant } = spans[i]!;
      const holder = result.heldBy;
      const wins = claimWins(claimant!, holder.id);
      conflicts.push({ traceId: span.traceId, spanId: span.spanId, owner: wins ? claimant! : holder.id!, loser: wins ? holder.id : claimant });
      if (!wins) continue;
      await tx.moveSpan(spans[i]!, executions.get(claimant!)!.key);
      fresh[i] = true;
      moved.set(`${span.traceId}/${span.spanId}`, claimant!);
      if (holder.id !== undefined) losers.set(holder.key, holder.id);
    }
    // A copy stored by this same request for the execution that has just lost it is not its.
    if (moved.size > 0) {
      spans.forEach(({ span, executionId }, i) => {
        const owner = moved.get(`${span.traceId}/${span.spanId}`);
        if (owner !== undefined && owner !== executionId) fresh[i] = false;
      });
    }
    return { fresh, losers };
  }

  /**
   * Folds each execution that lost a span again, from the spans it keeps (this request's
   * included), and writes its search text anew when its parameters changed with its head.
   */
  private async refold(
    tx: WriteTx,
    losers: ReadonlyMap<number, string>,
    executions: ReadonlyMap<string, StoredExecution>,
    touched: Map<string, StoredExecution>,
    searchTexts: Map<string, { text: string; replaces: boolean }>,
  ): Promise<void> {
    if (losers.size === 0) return;
    const unknown = [...losers.values()].filter((id) => !executions.has(id));
    const loaded = unknown.length > 0 ? await tx.executions(unknown) : new Map<string, StoredExecution>();
    for (const [key, id] of losers) {
      const execution = executions.get(id) ?? loaded.get(id)!;
      const before = execution.summary.head;
      const kept = await tx.executionSpans(key);
      execution.summary = emptySummary();
      for (const span of kept) foldSpan(execution.summary, span);
      touched.set(id, execution);
      const head = execution.summary.head;
      if (head && head.paramsHash !== before?.paramsHash) {
        searchTexts.set(id, { text: searchTextOf(kept.find((span) => span.spanId === head.spanId)!), replaces: true });
      }
      if (!head) searchTexts.delete(id);
    }
  }

  /**
   * Re-evaluates pending executions whose time budget ran out by `now`, and those of processes
   * that stopped sending heartbeats (each such process once, when it falls silent).
   */
  reconcile(now: number): Promise<ExecutionChange[]> {
    return this.engine.transaction(async (tx) => {
      const due = new Map((await tx.pendingPastDeadline(now, RECONCILE_BATCH)).map((e) => [e.id, e]));
      const silent = (await tx.livenessOf(now)).filter((instance) => goneAt(instance, now) !== undefined);
      for (const instance of silent) {
        for (const execution of await tx.pendingOfService(instance.serviceName)) {
          const head = execution.summary.head;
          if (head && runOf(head) === instance.instanceId) due.set(execution.id, execution);
        }
      }
      if (silent.length > 0) await tx.markGone(silent, now);
      return this.decide(tx, [...due.values()], now, new Map(), false);
    });
  }

  /**
   * Writes the executions whose list row changed — or, when `summaryChanged`, whose summary did
   * (a new step changes the detail a viewer may have open).
   */
  private async decide(
    tx: WriteTx,
    executions: StoredExecution[],
    now: number,
    searchTexts: ReadonlyMap<string, { text: string; replaces: boolean }>,
    summaryChanged: boolean,
  ): Promise<ExecutionChange[]> {
    const starts = new Map<string, InstanceStart[]>();
    const updates: ExecutionUpdate[] = [];
    /** The list rows of the listed updates, in order: what the live stream sends. */
    const items: ExecutionListItem[] = [];
    for (const execution of executions) {
      const head = execution.summary.head;
      if (!head) {
        // Steps before their execution's head: kept in the summary, listed once the head comes.
        // One listed before has lost its head to another execution's claim: it leaves the list.
        const update: ExecutionUpdate = { key: execution.key, id: execution.id, summary: execution.summary };
        if (execution.outcome) update.unlisted = true;
        if (summaryChanged) updates.push(update);
        continue;
      }
      let instanceStarts: InstanceStart[] = [];
      if (!execution.summary.end) {
        instanceStarts = starts.get(head.serviceName) ?? (await tx.instanceStarts(head.serviceName));
        starts.set(head.serviceName, instanceStarts);
      }
      const context: RuleContext = { now, defaultTimeoutMs: this.defaultTimeoutMs, instanceStarts };
      // An unfinished execution once decided (timed out, interrupted) stays so until it ends.
      const kept = !execution.summary.end && execution.outcome?.status === 'error' ? execution.outcome : undefined;
      const outcome = kept ?? outcomeOf(execution.summary, context)!;
      if (!summaryChanged && JSON.stringify(outcome) === JSON.stringify(execution.outcome)) continue;
      const item = listItemOf(execution.id, execution.summary, outcome, this.defaultTimeoutMs);
      items.push(item);
      const listed: ListedExecution = {
        outcome,
        flowId: item.flowId,
        flowName: item.flowName,
        startedAtMs: head.startedAtMs,
        deadline: head.startedAtMs + timeoutOf(head, this.defaultTimeoutMs),
        serviceName: head.serviceName,
      };
      if (item.durationMs !== undefined) listed.durationMs = item.durationMs;
      const search = searchTexts.get(execution.id);
      if (search) {
        listed.searchText = search.text;
        if (search.replaces) listed.replacesSearch = true;
      }
      updates.push({ key: execution.key, id: execution.id, summary: execution.summary, listed });
    }
    const seqs = await tx.putExecutions(updates);
    return seqs.map((seq, i) => ({ seq, item: items[i]! }));
  }
}
