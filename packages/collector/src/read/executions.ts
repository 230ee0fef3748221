import { listItemOf, outcomeOf, type RuleContext } from '../records/aggregate.js';
import { projectExecution, recordOf, toNode, treeOrder, type OrderKey } from '../records/project.js';
import type { ExecutionListItem, ExecutionNode, ExecutionRecord } from '../records/types.js';
import type { StorageEngine, StoredExecution } from '../store/engine.js';

/** Up to this many steps the detail is the whole record; above, its first page of nodes. */
export const WHOLE_RECORD_NODES = 10_000;
export const FIRST_PAGE_NODES = 1_000;
const ORDER_CACHE = 8;

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
  private readonly orders = new Map<number, { steps: number; order: OrderKey[] }>();

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
    const order = await this.order(execution);
    const page = await this.engine.stepSpans(execution.key, order.slice(0, FIRST_PAGE_NODES));
    const outcome = execution.outcome ?? outcomeOf(execution.summary, context)!;
    const failing = outcome.errorNodeId;
    const blamed = failing && !page.some((s) => s.spanId === failing)
      ? (await this.engine.stepSpans(execution.key, order.filter((k) => k.spanId === failing)))[0]
      : undefined;
    const parts = { head, root, summary: execution.summary, outcome, defaultTimeoutMs: this.defaultTimeoutMs };
    const record = recordOf(blamed ? { ...parts, blamed } : parts, page.map(toNode));
    record.nodesNext = cursorOf(FIRST_PAGE_NODES);
    return record;
  }

  async nodes(id: string, cursor: string | undefined, limit: number): Promise<NodesPage | undefined> {
    const execution = await this.engine.execution(id);
    if (!execution?.summary.head) return undefined;
    const start = cursor === undefined ? 0 : positionOf(cursor);
    const order = await this.order(execution);
    const slice = order.slice(start, start + limit);
    const spans = await this.engine.stepSpans(execution.key, slice);
    const end = start + slice.length;
    return { items: spans.map(toNode), next: end < order.length ? cursorOf(end) : null, total: order.length };
  }

  /** The steps' tree order, kept for the few large executions being paged through. */
  private async order(execution: StoredExecution): Promise<OrderKey[]> {
    const cached = this.orders.get(execution.key);
    if (cached && cached.steps === execution.summary.steps) return cached.order;
    const order = treeOrder(await this.engine.stepOrder(execution.key));
    this.orders.delete(execution.key);
    if (this.orders.size >= ORDER_CACHE) this.orders.delete(this.orders.keys().next().value!);
    this.orders.set(execution.key, { steps: execution.summary.steps, order });
    return order;
  }
}

function cursorOf(position: number): string {
  return Buffer.from(`n${position}`).toString('base64url');
}

function positionOf(cursor: string): number {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^n\d{1,9}$/.test(text)) throw new BadCursorError(`"cursor" must be a cursor the collector returned (got "${cursor.slice(0, 40)}")`);
  return Number(text.slice(1));
}
