import * as sc from '@flowtrace/tracer/semconv';
import { nanosToMillis, type Attributes, type Span } from '../otlp/span.js';
import type { ErrorInfo, ErrorKind, ExecutionListItem, ExecutionNode, ExecutionRecord, ExecutionStatus } from './types.js';

/** What the projection needs besides the spans; passed in so the projection stays pure. */
export interface ProjectionContext {
  /** Milliseconds since the epoch: the reconciliation clock. */
  now: number;
  /** Budget of executions that declare none. */
  defaultTimeoutMs: number;
  /** Instance starts of the execution's service, as `{ instanceId, startedAt }` (ms). */
  instanceStarts: ReadonlyArray<{ instanceId: string; startedAt: number }>;
}

const STATUS_ERROR = 2;
const PREVIEW_LENGTH = 120;
/** Ids end up in URLs: longer ones are not ids a tracer wrote. */
const MAX_ID_LENGTH = 128;
const MAX_NAME_LENGTH = 200;

export function executionIdOf(span: Span): string | undefined {
  const id = span.attributes[sc.ATTR_EXECUTION_ID];
  return typeof id === 'string' && id && id.length <= MAX_ID_LENGTH ? id : undefined;
}

export function markerOf(span: Span): string | undefined {
  const marker = span.attributes[sc.ATTR_MARKER];
  return typeof marker === 'string' ? marker : undefined;
}

/** A projected record, with its exact start (ms, sub-millisecond) for ordering. */
export interface Projection {
  record: ExecutionRecord;
  startedAtMs: number;
}

/**
 * Builds the record of one execution from all the spans stored for it — in any order, with any
 * duplicates: the spans are sorted before use and every choice among them is deterministic.
 * Returns `undefined` while neither the execution's own span nor its start marker has arrived
 * (its steps are kept and projected when it does).
 */
export function projectExecution(spans: readonly Span[], context: ProjectionContext): Projection | undefined {
  const ordered = [...new Map(spans.map((s) => [`${s.traceId}/${s.spanId}`, s])).values()].sort(byStart);
  const isRoot = (s: Span) => s.attributes[sc.ATTR_EXECUTION_ROOT] === true;
  const real = ordered.filter((s) => markerOf(s) === undefined);
  const root = real.find(isRoot);
  const marker = ordered.find((s) => markerOf(s) === sc.MARKER_START && isRoot(s));
  const head = root ?? marker;
  if (!head) return undefined;

  const attrs = head.attributes;
  const toolName = name(attrs[sc.ATTR_GEN_AI_TOOL_NAME]);
  const flowName = name(attrs[sc.ATTR_FLOW_NAME]) ?? toolName ?? name(head.name) ?? 'unnamed';
  const flowId = name(attrs[sc.ATTR_FLOW_ID]) ?? flowName;
  const startedAt = nanosToMillis(head.startTimeUnixNano);
  const declared = attrs[sc.ATTR_TIMEOUT_MS];
  const timeoutMs = typeof declared === 'number' && declared > 0 ? declared : context.defaultTimeoutMs;
  const rootSpanId = root?.spanId ?? marker?.parentSpanId ?? head.spanId;

  const nodes = treeOrder(real.filter((s) => s !== root)).map(toNode);
  const record: ExecutionRecord = {
    id: executionIdOf(head) ?? head.spanId,
    flowId,
    flowName,
    traceId: head.traceId,
    serviceName: str(head.resource[sc.ATTR_SERVICE_NAME]) ?? 'unknown_service',
    status: 'pending',
    startedAt: iso(startedAt),
    timeoutMs,
    nodes,
    data: accumulate(nodes),
    tags: tagsOf(attrs),
  };
  if (toolName) record.toolName = toolName;
  const instance = str(head.resource[sc.ATTR_SERVICE_INSTANCE_ID]);
  if (instance) record.serviceInstanceId = instance;
  const params = data(attrs[sc.ATTR_INPUT] ?? attrs[sc.ATTR_GEN_AI_TOOL_CALL_ARGUMENTS]);
  if (params !== undefined) record.initialParams = params;

  const outcome = root ? settled(root, nodes, startedAt, timeoutMs) : unsettled(record, startedAt, timeoutMs, context);
  record.status = outcome.status;
  if (outcome.errorKind) record.errorKind = outcome.errorKind;
  if (outcome.errorInfo) record.errorInfo = { nodeId: rootSpanId, nodeName: head.name, ...outcome.errorInfo };
  if (root) {
    const endedAt = nanosToMillis(root.endTimeUnixNano);
    record.endedAt = iso(endedAt);
    record.durationMs = round(endedAt - startedAt);
    const result = data(root.attributes[sc.ATTR_OUTPUT] ?? root.attributes[sc.ATTR_GEN_AI_TOOL_CALL_RESULT]);
    if (result !== undefined) record.result = result;
    if (root.attributes[sc.ATTR_CANCELLED] === true) {
      record.cancelled = {
        reason: str(root.attributes[sc.ATTR_ABORT_REASON]) ?? 'aborted',
        kind: str(root.attributes[sc.ATTR_ABORT_KIND]) ?? 'abort',
      };
    }
  }
  return { record, startedAtMs: startedAt };
}

interface Outcome {
  status: ExecutionStatus;
  errorKind?: ErrorKind;
  errorInfo?: Partial<ErrorInfo> & { message: string; type: string };
}

/** The execution's span has ended: its status, unless it ran past its time budget. */
function settled(root: Span, nodes: ExecutionNode[], startedAt: number, timeoutMs: number): Outcome {
  const a = root.attributes;
  const duration = nanosToMillis(root.endTimeUnixNano) - startedAt;
  const failing = deepestFailure(nodes);
  const failure = failing?.error
    ? { ...failing.error, nodeId: failing.id, nodeName: failing.name }
    : spanError(root);
  if ((a[sc.ATTR_CANCELLED] === true && a[sc.ATTR_ABORT_KIND] === 'timeout') || duration > timeoutMs) {
    return { status: 'error', errorKind: 'timeout', errorInfo: { ...failure, ...timeoutError(timeoutMs) } };
  }
  if (root.status.code !== STATUS_ERROR) return { status: 'fulfilled' };
  const kind: ErrorKind =
    a[sc.ATTR_ERROR_TYPE] === sc.ERROR_TYPE_VALUE_TOOL_ERROR
      ? 'tool_error'
      : a[sc.ATTR_CANCELLED] === true
        ? 'cancelled'
        : 'exception';
  return { status: 'error', errorKind: kind, errorInfo: failure };
}

/** Only the start is known: still running, timed out by the clock, or cut off by a restart. */
function unsettled(record: ExecutionRecord, startedAt: number, timeoutMs: number, context: ProjectionContext): Outcome {
  if (context.now >= startedAt + timeoutMs) {
    return { status: 'error', errorKind: 'timeout', errorInfo: timeoutError(timeoutMs) };
  }
  const restart = context.instanceStarts.find(
    (s) => s.instanceId !== record.serviceInstanceId && s.startedAt > startedAt,
  );
  if (restart) {
    return {
      status: 'error',
      errorKind: 'interrupted',
      errorInfo: {
        type: 'interrupted',
        message: `${record.serviceName} restarted (new instance ${restart.instanceId}) before this execution finished`,
      },
    };
  }
  return { status: 'pending' };
}

function timeoutError(timeoutMs: number) {
  return { type: 'timeout', message: `Timed out after ${formatDuration(timeoutMs)}` };
}

/** The failing node deepest in the tree; the earliest of equally deep ones. */
function deepestFailure(nodes: ExecutionNode[]): ExecutionNode | undefined {
  let found: ExecutionNode | undefined;
  for (const node of nodes) if (node.status === 'error' && (!found || node.depth > found.depth)) found = node;
  return found;
}

function toNode(span: Span): ExecutionNode {
  const a = span.attributes;
  const started = nanosToMillis(span.startTimeUnixNano);
  const ended = nanosToMillis(span.endTimeUnixNano);
  const depth = a[sc.ATTR_DEPTH];
  const index = a[sc.ATTR_STEP_INDEX];
  const node: ExecutionNode = {
    id: span.spanId,
    parentId: span.parentSpanId ?? null,
    name: span.name,
    kind: str(a[sc.ATTR_STEP_KIND]) ?? 'span',
    key: str(a[sc.ATTR_STEP_KEY]) ?? null,
    flowName: str(a[sc.ATTR_FLOW_NAME]) ?? null,
    depth: typeof depth === 'number' ? depth : 0,
    index: typeof index === 'number' ? index : null,
    status: span.status.code === STATUS_ERROR ? 'error' : 'fulfilled',
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
  return node;
}

/** Message, type and stack of a failed span, from its exception event or its status. */
function spanError(span: Span): { message: string; type: string; stack?: string } {
  const exception = span.events.find((e) => e.name === 'exception')?.attributes ?? {};
  const error: { message: string; type: string; stack?: string } = {
    message: str(exception[sc.ATTR_EXCEPTION_MESSAGE]) ?? span.status.message ?? 'failed',
    type: str(span.attributes[sc.ATTR_ERROR_TYPE]) ?? str(exception[sc.ATTR_EXCEPTION_TYPE]) ?? 'Error',
  };
  const stack = str(exception[sc.ATTR_EXCEPTION_STACKTRACE]);
  if (stack) error.stack = stack;
  return error;
}

/**
 * Outputs of the fulfilled steps, keyed by step key, flow name or span name, in start order;
 * each contributing node learns its `dataKey`, so a reader can replay the data after each step.
 */
function accumulate(nodes: ExecutionNode[]): Record<string, unknown> {
  const state: Record<string, unknown> = {};
  for (const node of nodes) {
    if (node.status !== 'fulfilled' || node.output === undefined) continue;
    node.dataKey = node.key ?? node.flowName ?? node.name;
    state[node.dataKey] = node.output;
  }
  return state;
}

function tagsOf(attrs: Attributes): Record<string, unknown> {
  const tags: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(attrs)) {
    if (!key.startsWith(sc.ATTR_TAG_PREFIX)) continue;
    tags[key.slice(sc.ATTR_TAG_PREFIX.length)] = typeof value === 'string' && /^[[{]/.test(value) ? data(value) : value;
  }
  return tags;
}

/** A captured JSON attribute as a value; text that is not JSON stays text. */
function data(value: unknown): unknown {
  if (typeof value !== 'string') return value ?? undefined;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

/** The list item of a record. */
export function listItem(record: ExecutionRecord): ExecutionListItem {
  const item: ExecutionListItem = {
    id: record.id,
    flowId: record.flowId,
    flowName: record.flowName,
    status: record.status,
    startedAt: record.startedAt,
    timeoutMs: record.timeoutMs,
    preview: preview(record.initialParams),
  };
  if (record.toolName) item.toolName = record.toolName;
  if (record.errorKind) item.errorKind = record.errorKind;
  if (record.errorInfo) item.errorMessage = record.errorInfo.message;
  if (record.endedAt) item.endedAt = record.endedAt;
  if (record.durationMs !== undefined) item.durationMs = record.durationMs;
  return item;
}

/** The first parameter, short: the first property of an object, the first item of an array. */
export function preview(params: unknown): string {
  let first = params;
  if (Array.isArray(params)) first = params[0];
  else if (params && typeof params === 'object') {
    const [entry] = Object.entries(params);
    first = entry ? entry[1] : undefined;
    if (entry) return clip(`${entry[0]}: ${text(first)}`);
  }
  return first === undefined ? '' : clip(text(first));
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
}

function clip(value: string): string {
  return value.length > PREVIEW_LENGTH ? `${value.slice(0, PREVIEW_LENGTH - 1)}…` : value;
}

/** Start time, then span id: a total order, whatever the delivery order. */
function byStart(a: Span, b: Span): number {
  const sa = BigInt(a.startTimeUnixNano);
  const sb = BigInt(b.startTimeUnixNano);
  if (sa !== sb) return sa < sb ? -1 : 1;
  return a.spanId < b.spanId ? -1 : a.spanId > b.spanId ? 1 : 0;
}

/**
 * The steps in the order they ran: each step followed by its own steps (depth first), siblings
 * by the index the tracer gave them in start order. Start times alone cannot order them:
 * tracers stamp starts to the millisecond, and many steps start within one.
 */
function treeOrder(spans: Span[]): Span[] {
  const ids = new Set(spans.map((s) => s.spanId));
  const children = new Map<string | undefined, Span[]>();
  for (const span of spans) {
    const parent = span.parentSpanId && ids.has(span.parentSpanId) ? span.parentSpanId : undefined;
    const list = children.get(parent) ?? [];
    list.push(span);
    children.set(parent, list);
  }
  const index = (s: Span) => {
    const value = s.attributes[sc.ATTR_STEP_INDEX];
    return typeof value === 'number' ? value : Number.MAX_SAFE_INTEGER;
  };
  const bySiblingOrder = (a: Span, b: Span) => index(a) - index(b) || byStart(a, b);
  const ordered: Span[] = [];
  const visit = (parent: string | undefined) => {
    for (const span of (children.get(parent) ?? []).sort(bySiblingOrder)) {
      ordered.push(span);
      visit(span.spanId);
    }
  };
  visit(undefined);
  return ordered;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value ? value : undefined;
}

/** A name or id shown and used in URLs, cut to a sane length. */
function name(value: unknown): string | undefined {
  const text = str(value);
  return text && text.length > MAX_NAME_LENGTH ? text.slice(0, MAX_NAME_LENGTH) : text;
}

function iso(ms: number): string {
  return new Date(Math.floor(ms)).toISOString();
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

export function formatDuration(ms: number): string {
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  if (ms % 1000 === 0) return `${ms / 1000} s`;
  return `${ms} ms`;
}
