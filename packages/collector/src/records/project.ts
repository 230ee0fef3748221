import * as sc from '@flowtrace/semconv';
import { nanosToMillis, type Span } from '../otlp/span.js';
import {
  compareStart,
  data,
  depthOf,
  emptySummary,
  endOf,
  executionIdOf,
  foldSpan,
  iso,
  outcomeOf,
  paramsText,
  roleOf,
  round,
  spanError,
  startOf,
  stepIndexOf,
  tagsOf,
  timeoutOf,
  type ExecutionSummary,
  type Outcome,
  type RuleContext,
} from './aggregate.js';
import type { ExecutionNode, ExecutionRecord } from './types.js';

/** A projected record, with its exact start (ms, sub-millisecond) for ordering. */
export interface Projection {
  record: ExecutionRecord;
  startedAtMs: number;
}

/**
 * Builds the record of one execution from all the spans stored for it — in any order, with any
 * duplicates. Its summary fields come from the same fold the collector keeps per execution
 * (aggregate.ts), so a record and its list row always agree. Returns `undefined` while neither
 * the execution's own span nor its start marker has arrived (its steps are kept and projected
 * when it does). `decided` is an outcome the rules already stored (a timeout, a restart), which
 * stands over what the clock in `context` would say now.
 */
export function projectExecution(spans: readonly Span[], context: RuleContext, decided?: Outcome): Projection | undefined {
  const unique = [...new Map(spans.map((s) => [`${s.traceId}/${s.spanId}`, s])).values()];
  const summary = emptySummary();
  const steps: Span[] = [];
  const markers: Span[] = [];
  const heads = new Map<string, Span>();
  for (const span of unique) {
    const role = roleOf(span);
    if (role === 'step') steps.push(span);
    if (role === 'step-marker') markers.push(span);
    if (role === 'root' || role === 'marker') heads.set(span.spanId, span);
    foldSpan(summary, span, role);
  }
  if (!summary.head) return undefined;
  const head = heads.get(summary.head.spanId)!;
  const root = summary.head.source === 'root' ? head : undefined;
  const outcome = decided ?? outcomeOf(summary, context)!;
  // Exact, unlike the summary's bounded map: a step is running when its span never came.
  const ended = new Set(steps.map((s) => s.spanId));
  const running = markers.filter((m) => m.parentSpanId && !ended.has(m.parentSpanId));
  const keys = [...steps.map(orderKeyOf), ...running.map(runningOrderKeyOf)];
  const nodes = treeOrder(keys).map((key) => nodeOf(key, key.span!, summary, outcome));
  const record = recordOf({ head, root, summary, outcome, defaultTimeoutMs: context.defaultTimeoutMs }, nodes);
  record.nodeCount += running.length;
  return { record, startedAtMs: summary.head.startedAtMs };
}

/** What a record is made of besides its nodes. */
export interface RecordParts {
  head: Span;
  root: Span | undefined;
  summary: ExecutionSummary;
  outcome: Outcome;
  defaultTimeoutMs: number;
  /** The blamed step's span when it is not among the nodes given (a page of a large execution). */
  blamed?: Span;
}

/**
 * The record around its nodes: identity, parameters, outcome, result, and the data state after
 * the nodes given — all of them, or the first page of a large execution.
 */
export function recordOf(parts: RecordParts, nodes: ExecutionNode[]): ExecutionRecord {
  const { head, root, summary, outcome, blamed } = parts;
  const h = summary.head!;
  const record: ExecutionRecord = {
    id: executionIdOf(head) ?? head.spanId,
    flowId: h.flowId,
    flowName: h.flowName,
    traceId: h.traceId,
    serviceName: h.serviceName,
    status: outcome.status,
    startedAt: iso(h.startedAtMs),
    timeoutMs: timeoutOf(h, parts.defaultTimeoutMs),
    nodeCount: summary.steps,
    nodes,
    data: accumulate(nodes),
    tags: tagsOf(head.attributes),
  };
  if (h.toolName) record.toolName = h.toolName;
  if (h.serviceInstanceId) record.serviceInstanceId = h.serviceInstanceId;
  const params = data(paramsText(head));
  if (params !== undefined) record.initialParams = params;
  if (outcome.errorKind) record.errorKind = outcome.errorKind;
  if (outcome.status === 'error') {
    const node = nodes.find((n) => n.id === outcome.errorNodeId);
    const blamedSpan = blamed?.spanId === outcome.errorNodeId ? blamed : undefined;
    const own = node?.error ?? (blamedSpan ? spanError(blamedSpan) : root ? spanError(root) : undefined);
    record.errorInfo = {
      ...own,
      message: outcome.errorMessage ?? own?.message ?? 'failed',
      type: outcome.errorType ?? own?.type ?? 'Error',
      nodeId: outcome.errorNodeId ?? h.rootSpanId,
      nodeName: node?.name ?? blamedSpan?.name ?? h.name,
    };
  }
  const endedAtMs = endOf(summary, outcome);
  if (endedAtMs !== undefined) {
    record.endedAt = iso(endedAtMs);
    record.durationMs = round(endedAtMs - h.startedAtMs);
  }
  if (root && summary.end) {
    const result = data(root.attributes[sc.ATTR_OUTPUT] ?? root.attributes[sc.ATTR_GEN_AI_TOOL_CALL_RESULT]);
    if (result !== undefined) record.result = result;
    if (summary.end.cancelled) record.cancelled = summary.end.cancelled;
  }
  return record;
}

export function toNode(span: Span): ExecutionNode {
  const a = span.attributes;
  const started = nanosToMillis(span.startTimeUnixNano);
  const ended = nanosToMillis(span.endTimeUnixNano);
  const node: ExecutionNode = {
    id: span.spanId,
    parentId: span.parentSpanId ?? null,
    name: span.name,
    kind: typeof a[sc.ATTR_STEP_KIND] === 'string' && a[sc.ATTR_STEP_KIND] ? (a[sc.ATTR_STEP_KIND] as string) : 'span',
    key: typeof a[sc.ATTR_STEP_KEY] === 'string' && a[sc.ATTR_STEP_KEY] ? (a[sc.ATTR_STEP_KEY] as string) : null,
    flowName: typeof a[sc.ATTR_FLOW_NAME] === 'string' && a[sc.ATTR_FLOW_NAME] ? (a[sc.ATTR_FLOW_NAME] as string) : null,
    depth: depthOf(span),
    index: stepIndexOf(span),
    status: span.status.code === 2 ? 'error' : 'fulfilled',
    startedAt: iso(started),
    endedAt: iso(ended),
    durationMs: round(ended - started),
    dataKey: null,
  };
  const input = data(a[sc.ATTR_INPUT] ?? a[sc.ATTR_GEN_AI_TOOL_CALL_ARGUMENTS]);
  if (input !== undefined) node.input = input;
  const output = data(a[sc.ATTR_OUTPUT] ?? a[sc.ATTR_GEN_AI_TOOL_CALL_RESULT]);
  if (output !== undefined) node.output = output;
  if (a[sc.ATTR_INPUT_TRUNCATED] === true) node.inputTruncated = true;
  if (a[sc.ATTR_OUTPUT_TRUNCATED] === true) node.outputTruncated = true;
  if (node.status === 'error') node.error = spanError(span);
  else if (node.output !== undefined) node.dataKey = node.key ?? node.flowName ?? node.name;
  return node;
}

/** The node of an ordered step: `span` is its own span, or its start marker while it runs. */
export function nodeOf(key: OrderKey, span: Span, summary: ExecutionSummary, outcome: Outcome): ExecutionNode {
  return key.running ? runningNode(span, summary, outcome) : toNode(span);
}

/**
 * A step known only from its start marker. It runs while the execution is pending; once the
 * execution ended or was decided, it takes the execution's end — and the execution's error
 * when it is the step blamed (the one that hung), else an error saying it never finished.
 */
function runningNode(marker: Span, summary: ExecutionSummary, outcome: Outcome): ExecutionNode {
  const node = toNode(marker);
  node.id = marker.parentSpanId!;
  const parentId = marker.attributes[sc.ATTR_MARKER_PARENT_ID];
  node.parentId = typeof parentId === 'string' && parentId ? parentId : null;
  delete node.endedAt;
  delete node.durationMs;
  node.status = 'running';
  const endedAtMs = outcome.status === 'pending' ? undefined : endOf(summary, outcome);
  if (endedAtMs === undefined) return node;
  node.status = 'error';
  node.endedAt = iso(endedAtMs);
  node.durationMs = round(Math.max(0, endedAtMs - startOf(marker)));
  node.error =
    outcome.errorNodeId === node.id
      ? { message: outcome.errorMessage ?? 'failed', type: outcome.errorType ?? 'Error' }
      : { message: 'Still running when the execution ended', type: 'unfinished' };
  return node;
}

/**
 * Outputs of the fulfilled steps, keyed by step key, flow name or span name, in order; each
 * contributing node learns its `dataKey`, so a reader can replay the data after each step.
 */
function accumulate(nodes: ExecutionNode[]): Record<string, unknown> {
  const state: Record<string, unknown> = {};
  for (const node of nodes) if (node.dataKey !== null) state[node.dataKey] = node.output;
  return state;
}

/** What ordering a step needs, so a large execution is ordered without decoding its spans. */
export interface OrderKey {
  spanId: string;
  parentSpanId: string | null;
  index: number | null;
  startMs: number;
  span?: Span;
  /** Where the engine keeps the span, if it has a quicker handle than the span id. */
  ref?: number;
  /** `span` is the start marker of a step whose own span has not arrived. */
  running?: true;
}

function orderKeyOf(span: Span): OrderKey {
  return { spanId: span.spanId, parentSpanId: span.parentSpanId ?? null, index: stepIndexOf(span), startMs: startOf(span), span };
}

/** A running step sits where its own span will: the marker names the step and its parent. */
export function runningOrderKeyOf(marker: Span): OrderKey {
  const parentId = marker.attributes[sc.ATTR_MARKER_PARENT_ID];
  return {
    spanId: marker.parentSpanId!,
    parentSpanId: typeof parentId === 'string' && parentId ? parentId : null,
    index: stepIndexOf(marker),
    startMs: startOf(marker),
    span: marker,
    running: true,
  };
}

/**
 * The steps in the order they ran: each step followed by its own steps (depth first), siblings
 * by the index the tracer gave them in start order, then start and span id. Start times alone
 * cannot order them: tracers stamp starts to the millisecond, and many steps start within one.
 */
export function treeOrder(steps: readonly OrderKey[]): OrderKey[] {
  const work = ordering(steps);
  for (;;) {
    const next = work.next();
    if (next.done) return next.value;
  }
}

/**
 * {@link treeOrder} in short stretches, the event loop's turn budget looked at between them, for
 * a reader ordering a large execution while other clients wait on the same event loop.
 */
export async function treeOrderInTurns(steps: readonly OrderKey[], budget: { pause(): Promise<void> }): Promise<OrderKey[]> {
  const work = ordering(steps);
  for (;;) {
    const next = work.next();
    if (next.done) return next.value;
    await budget.pause();
  }
}

/** Steps handled between two yields of {@link ordering}. */
const ORDERING_STRETCH = 256;

/** The ordering itself, yielding every few hundred steps. */
function* ordering(steps: readonly OrderKey[]): Generator<void, OrderKey[]> {
  const ids = new Set<string>();
  for (let i = 0; i < steps.length; i++) {
    ids.add(steps[i]!.spanId);
    if (i % ORDERING_STRETCH === ORDERING_STRETCH - 1) yield;
  }
  const children = new Map<string | null, OrderKey[]>();
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i]!;
    const parent = step.parentSpanId && ids.has(step.parentSpanId) ? step.parentSpanId : null;
    const list = children.get(parent);
    if (list) list.push(step);
    else children.set(parent, [step]);
    if (i % ORDERING_STRETCH === ORDERING_STRETCH - 1) yield;
  }
  const siblingOrder = (a: OrderKey, b: OrderKey) =>
    (a.index ?? Number.MAX_SAFE_INTEGER) - (b.index ?? Number.MAX_SAFE_INTEGER) || compareStart(a.startMs, a.spanId, b.startMs, b.spanId);
  let sorted = 0;
  for (const list of children.values()) {
    list.sort(siblingOrder);
    sorted += list.length;
    if (sorted >= ORDERING_STRETCH) {
      sorted = 0;
      yield;
    }
  }
  const ordered: OrderKey[] = [];
  // Depth first over an explicit stack of sibling lists and the next position in each: a
  // 50,000-step chain must not overflow the call stack, nor 200,000 siblings an argument list.
  const lists: OrderKey[][] = [];
  const positions: number[] = [];
  const top = children.get(null);
  if (top) {
    lists.push(top);
    positions.push(0);
  }
  while (lists.length > 0) {
    const depth = lists.length - 1;
    const list = lists[depth]!;
    const at = positions[depth]!;
    if (at === list.length) {
      lists.pop();
      positions.pop();
      continue;
    }
    positions[depth] = at + 1;
    const step = list[at]!;
    ordered.push(step);
    const own = children.get(step.spanId);
    if (own) {
      lists.push(own);
      positions.push(0);
    }
    if (ordered.length % ORDERING_STRETCH === 0) yield;
  }
  return ordered;
}
