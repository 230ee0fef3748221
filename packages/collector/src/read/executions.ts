import { listItemOf, MAX_RUNNING, outcomeOf, type ExecutionSummary, type Outcome, type RuleContext } from '../records/aggregate.js';
import { nodeOf, projectExecution, recordOf, runningOrderKeyOf, treeOrderInTurns, type OrderKey } from '../records/project.js';
import type { ExecutionListItem, ExecutionNode, ExecutionRecord } from '../records/types.js';
import type { StorageEngine, StoredExecution } from '../store/engine.js';
import { TurnBudget } from '../turn-budget.js';

/**
 * Up to this many steps the detail is the whole record; above, its first page of nodes. A whole
 * record of 10,000 steps was 4.5 MB of JSON and held the event loop ~0.3 s at every view.
 */
export const WHOLE_RECORD_NODES = 1_000;
export const FIRST_PAGE_NODES = 1_000;
const ORDER_CACHE = 8;
/** Steps decoded and made nodes between two looks at the turn's budget when a page is built. */
const DECODE_STRETCH = 16;

export interface NodesPage {
  items: ExecutionNode[];
  next: string | null;
  total: number;
}

/** A cursor is not one this collector gave out. */
export class BadCursorError extends Error {}

/**
 * Execution details, built on read from the stored spans with the projection's own rules. A
 * large execution is served in pages of nodes, ordered from the light per-span columns, so no
 * request decodes more spans than it returns.
 */
export class ExecutionReader {
  private readonly orders = new Map<number, { version: string; order: OrderKey[]; running: number }>();

  constructor(
    private readonly engine: StorageEngine,
    private readonly defaultTimeoutMs: number,
  ) {}

  /** The list row of a stored execution: made from its summary and decided outcome. */
  item(execution: StoredExecution): ExecutionListItem {
    return listItemOf(execution.id, execution.summary, execution.outcome!, this.defaultTimeoutMs);
  }

  async detail(id: string, now: number): Promise<ExecutionRecord | undefined> {
    const execution = await this.engine.execution(id);
    if (!execution?.summary.head) return undefined;
    const context: RuleContext = { now, defaultTimeoutMs: this.defaultTimeoutMs, instanceStarts: [] };
    if (execution.summary.steps <= WHOLE_RECORD_NODES) {
      // The stored outcome is the decided one: the detail agrees with the list and the stream.
      return projectExecution(await this.engine.executionSpans(execution.key), context, execution.outcome)?.record;
    }
    const heads = await this.engine.executionSpans(execution.key, ['root', 'marker']);
    const head = heads.find((s) => s.spanId === execution.summary.head!.spanId)!;
    const root = execution.summary.head.source === 'root' ? head : undefined;
    const { order, running } = await this.order(execution);
    const outcome = execution.outcome ?? outcomeOf(execution.summary, context)!;
    const page = await this.nodesOf(execution, order.slice(0, FIRST_PAGE_NODES), outcome);
    const failing = outcome.errorNodeId;
    const blamedKey = failing && !page.some((n) => n.id === failing) ? order.find((k) => k.spanId === failing && !k.running) : undefined;
    const blamed = blamedKey ? (await this.engine.stepSpans(execution.key, [blamedKey]))[0] : undefined;
    const parts = { head, root, summary: execution.summary, outcome, defaultTimeoutMs: this.defaultTimeoutMs };
    const record = recordOf(blamed ? { ...parts, blamed } : parts, page);
    // As in the whole record: the steps whose own span has not come count as nodes too.
    record.nodeCount += running;
    record.nodesNext = cursorOf(FIRST_PAGE_NODES);
    return record;
  }

  async nodes(id: string, cursor: string | undefined, limit: number, now: number): Promise<NodesPage | undefined> {
    const execution = await this.engine.execution(id);
    if (!execution?.summary.head) return undefined;
    const start = cursor === undefined ? 0 : positionOf(cursor);
    const { order } = await this.order(execution);
    const slice = order.slice(start, start + limit);
    const outcome = execution.outcome ?? outcomeOf(execution.summary, { now, defaultTimeoutMs: this.defaultTimeoutMs, instanceStarts: [] })!;
    const items = await this.nodesOf(execution, slice, outcome);
    const end = start + slice.length;
    return { items, next: end < order.length ? cursorOf(end) : null, total: order.length };
  }

  /** Nodes of ordered steps: finished ones decoded from their spans, running ones from their markers. */
  private async nodesOf(execution: StoredExecution, keys: readonly OrderKey[], outcome: Outcome): Promise<ExecutionNode[]> {
    const nodes: ExecutionNode[] = [];
    const budget = new TurnBudget();
    for (let at = 0; at < keys.length; at += DECODE_STRETCH) {
      if (at > 0) await budget.pause();
      const stretch = keys.slice(at, at + DECODE_STRETCH);
      const spans = await this.engine.stepSpans(execution.key, stretch.filter((k) => !k.running));
      let next = 0;
      for (const key of stretch) nodes.push(nodeOf(key, key.running ? key.span! : spans[next++]!, execution.summary, outcome));
    }
    return nodes;
  }

  /**
   * The steps' tree order, running steps (a start marker, no span yet) in their places, kept for
   * the few large executions being paged through until their summary changes.
   */
  private async order(execution: StoredExecution): Promise<{ order: OrderKey[]; running: number }> {
    const version = versionOf(execution.summary);
    const cached = this.orders.get(execution.key);
    if (cached && version !== undefined && cached.version === version) return cached;
    const budget = new TurnBudget();
    const steps = await this.engine.stepOrder(execution.key);
    const announced = await this.engine.stepOrder(execution.key, 'step-marker');
    const ended = announced.length > 0 ? new Set(steps.map((s) => s.spanId)) : undefined;
    const open = announced.filter((m) => m.parentSpanId && !ended!.has(m.parentSpanId));
    const markers = open.length > 0 ? await this.engine.stepSpans(execution.key, open) : [];
    const found = { order: await treeOrderInTurns([...steps, ...markers.map(runningOrderKeyOf)], budget), running: markers.length };
    this.orders.delete(execution.key);
    if (version === undefined) return found;
    if (this.orders.size >= ORDER_CACHE) this.orders.delete(this.orders.keys().next().value!);
    this.orders.set(execution.key, { version, ...found });
    return found;
  }
}

/**
 * What the step order depends on, as the summary shows it: a step arriving changes the count, a
 * start marker the running steps. Undefined when the summary's running map is full, since a
 * marker may then leave it unchanged.
 */
function versionOf(summary: ExecutionSummary): string | undefined {
  const running = Object.keys(summary.running ?? {});
  return running.length >= MAX_RUNNING ? undefined : `${summary.steps}:${running.sort().join(',')}`;
}

function cursorOf(position: number): string {
  return Buffer.from(`n${position}`).toString('base64url');
}

function positionOf(cursor: string): number {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^n\d{1,9}$/.test(text)) throw new BadCursorError(`"cursor" must be a cursor the collector returned (got "${cursor.slice(0, 40)}")`);
  return Number(text.slice(1));
}
