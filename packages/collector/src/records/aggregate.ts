import * as sc from '@flowtrace/semconv';
import type { SpanRole } from '@flowtrace/semconv';
import { timeoutBudget } from '../otlp/clamp.js';
import { nanosToMillis, type Attributes, type Span } from '../otlp/span.js';
import { LIST_TEXT_LENGTH } from '../contract/records.js';
import type { ErrorKind, ExecutionListItem, ExecutionStatus } from './types.js';

/**
 * The summary of one execution, folded span by span: everything the list, the timeout and
 * restart rules and the flow counts need, and nothing that grows with the number of steps. The
 * full record is projected from the spans on read (project.ts), and takes its summary fields
 * from this same fold, so the list and the detail can never disagree.
 */
export interface ExecutionSummary {
  /** The execution's own span (`root`) or, until it ends, its start marker. */
  head?: Head;
  /** Set once the execution's own span has arrived. */
  end?: RootEnd;
  /**
   * Failed steps by span id, with their parents: the rules follow the error that reached the
   * execution down this chain to the step that caused it (caught failures are off the chain).
   */
  failures?: Record<string, StepFailure>;
  /** Steps announced by a start marker whose own span has not arrived: the running steps. */
  running?: Record<string, RunningStep>;
  /** Distinct step spans (neither the execution's own span nor a marker). */
  steps: number;
}

export interface Head {
  source: 'root' | 'marker';
  spanId: string;
  /** The execution's own span id (a marker's parent). */
  rootSpanId: string;
  traceId: string;
  name: string;
  flowId: string;
  flowName: string;
  toolName?: string;
  serviceName: string;
  serviceInstanceId?: string;
  /** The run of the process that started it (`flowtrace.start.id`); older tracers send none. */
  startId?: string;
  /** The replica that process is (`flowtrace.replica.id`); older tracers send none. */
  replicaId?: string;
  startedAtMs: number;
  /** A hash of the parameters' text: the search index is rewritten only when it changes. */
  paramsHash: number;
  /** The budget the execution declared, when it declared one. */
  timeoutMs?: number;
  preview: string;
}

export interface RootEnd {
  endedAtMs: number;
  failed: boolean;
  /** The span's `error.type`, e.g. `tool_error`. */
  errorType?: string;
  cancelled?: { reason: string; kind: string };
  /** Message of the span's own error, used when no step is to blame. */
  message: string;
}

export interface StepFailure {
  parentId: string | null;
  name: string;
  startMs: number;
  message: string;
}

export interface RunningStep {
  name: string;
  depth: number;
  startMs: number;
}

/** The decided state of an execution at a moment: what the list shows and the rules keep. */
export interface Outcome {
  status: ExecutionStatus;
  errorKind?: ErrorKind;
  errorMessage?: string;
  /** Which node the error points at: a step's span id, or the execution's own span. */
  errorNodeId?: string;
  /** The error type shown with the message (`timeout`, `interrupted`, or the failing span's). */
  errorType?: string;
  /**
   * When an execution was decided without its own end (its budget ran out, its service
   * restarted): the moment of that decision, which ends the execution and its running steps.
   */
  endedAtMs?: number;
}

/** What the rules need besides the summary; passed in so they stay pure. */
export interface RuleContext {
  /** Milliseconds since the epoch: the reconciliation clock. */
  now: number;
  /** Budget of executions that declare none. */
  defaultTimeoutMs: number;
  /** Instance starts of the execution's service (ms), with what is known of each one's liveness. */
  instanceStarts: ReadonlyArray<InstanceStart>;
}

/** A run of a traced process, as its start marker and heartbeats told the collector. */
export interface InstanceStart {
  /** Its `flowtrace.start.id` (or, from older tracers, `service.instance.id`). */
  instanceId: string;
  startedAt: number;
  replicaId?: string;
  /** How often it promised a heartbeat, when it did. */
  heartbeatMs?: number;
  /** Its last heartbeat (or start), when it promised heartbeats. */
  lastSeenAt?: number;
}

/** Heartbeats a process may miss before it is taken as gone. */
export const MISSED_HEARTBEATS = 3;

/** The moment a run that promised heartbeats is taken as gone, if it has stopped sending them by `now`. */
export function goneAt(instance: InstanceStart, now: number): number | undefined {
  if (instance.heartbeatMs === undefined || instance.lastSeenAt === undefined) return undefined;
  return now > instance.lastSeenAt + MISSED_HEARTBEATS * instance.heartbeatMs ? instance.lastSeenAt : undefined;
}

export const STATUS_ERROR = 2;
/** Ids end up in URLs: longer ones are not ids a tracer wrote. */
const MAX_ID_LENGTH = 128;
const MAX_NAME_LENGTH = 200;
/**
 * Bounds of the per-execution maps, so a summary stays small whatever the execution does: a
 * flow rarely has more steps in flight, or failed, at once. Past them the earliest-started
 * running steps and the later failures are not tracked (the detail, built from the spans, still
 * shows them all).
 */
export const MAX_RUNNING = 64;
const MAX_FAILURES = 256;

export type { SpanRole };

export function executionIdOf(span: Span): string | undefined {
  const id = span.attributes[sc.ATTR_EXECUTION_ID];
  return typeof id === 'string' && id && id.length <= MAX_ID_LENGTH ? id : undefined;
}

/** What a span is to its execution, by the marker rules of the wire contract. */
export function roleOf(span: Span): SpanRole {
  return sc.spanRoleOf(span.attributes);
}

export function emptySummary(): ExecutionSummary {
  return { steps: 0 };
}

/**
 * Adds one span, seen for the first time, to the summary; returns whether anything changed.
 * Every choice is a minimum under a total order, so any delivery order gives the same summary —
 * but for a step's start marker that arrives after the step's own span (only when two
 * collectors commit one tracer's batches out of order): the step then reads as running until
 * the execution ends. The detail, built from the spans, is exact.
 */
export function foldSpan(summary: ExecutionSummary, span: Span, role: SpanRole = roleOf(span)): boolean {
  if (role === 'root' || role === 'marker') {
    const current = summary.head;
    const replaces =
      !current ||
      (role === 'root' && current.source === 'marker') ||
      (role === current.source && compareStart(startOf(span), span.spanId, current.startedAtMs, current.spanId) < 0);
    if (!replaces) return false;
    summary.head = headOf(span, role);
    if (role === 'root') summary.end = rootEnd(span);
    return true;
  }
  if (role === 'step-marker') {
    const stepId = span.parentSpanId;
    if (!stepId) return false;
    const running = (summary.running ??= {});
    running[stepId] = { name: span.name, depth: depthOf(span), startMs: startOf(span) };
    const ids = Object.keys(running);
    if (ids.length > MAX_RUNNING) {
      const earliest = ids.reduce((a, b) => (compareStart(running[a]!.startMs, a, running[b]!.startMs, b) <= 0 ? a : b));
      delete running[earliest];
    }
    return true;
  }
  if (role !== 'step') return false;
  summary.steps++;
  if (summary.running?.[span.spanId]) delete summary.running[span.spanId];
  if (span.status.code === STATUS_ERROR) {
    const failures = (summary.failures ??= {});
    if (Object.keys(failures).length < MAX_FAILURES) {
      failures[span.spanId] = { parentId: span.parentSpanId ?? null, name: span.name, startMs: startOf(span), message: spanError(span).message };
    }
  }
  return true;
}

/**
 * The step whose error ended the execution: from the execution's own span, down the chain of
 * failed children — at each level the child whose error is the one its parent reported (the
 * error passed up), else the latest to start (an earlier failure was caught, since the parent
 * went on). Undefined when no failed step is on the chain.
 */
export function blamedStep(summary: ExecutionSummary, rootSpanId: string, rootMessage: string): { spanId: string; message: string } | undefined {
  const failures = summary.failures;
  if (!failures) return undefined;
  const children = new Map<string, string[]>();
  for (const [id, failure] of Object.entries(failures)) {
    const parent = failure.parentId ?? rootSpanId;
    const list = children.get(parent);
    if (list) list.push(id);
    else children.set(parent, [id]);
  }
  let blamed: { spanId: string; message: string } | undefined;
  let current = rootSpanId;
  let message = rootMessage;
  const seen = new Set<string>();
  for (;;) {
    const candidates = children.get(current);
    if (!candidates || seen.has(current)) return blamed;
    seen.add(current);
    const next = candidates.reduce((a, b) => {
      const fa = failures[a]!;
      const fb = failures[b]!;
      const passedA = fa.message === message;
      const passedB = fb.message === message;
      if (passedA !== passedB) return passedA ? a : b;
      return compareStart(fa.startMs, a, fb.startMs, b) >= 0 ? a : b;
    });
    current = next;
    message = failures[next]!.message;
    blamed = { spanId: next, message };
  }
}

/** The step the execution is waiting on: the deepest running step, the latest to start among those. */
export function waitingOn(summary: ExecutionSummary): ({ spanId: string } & RunningStep) | undefined {
  let found: ({ spanId: string } & RunningStep) | undefined;
  for (const [spanId, step] of Object.entries(summary.running ?? {})) {
    if (!found || step.depth > found.depth || (step.depth === found.depth && compareStart(step.startMs, spanId, found.startMs, found.spanId) > 0)) {
      found = { spanId, ...step };
    }
  }
  return found;
}

/** The decision the rules make for a summary at `context.now`; undefined while no head arrived. */
export function outcomeOf(summary: ExecutionSummary, context: RuleContext): Outcome | undefined {
  const head = summary.head;
  if (!head) return undefined;
  const timeoutMs = timeoutOf(head, context.defaultTimeoutMs);
  const end = summary.end;
  // A step still running when the execution was decided is the one that hung.
  const hung = waitingOn(summary);
  if (end && head.source === 'root') {
    const failing = blamedStep(summary, head.rootSpanId, end.message);
    const blamed = failing
      ? { errorMessage: failing.message, errorNodeId: failing.spanId }
      : { errorMessage: end.message, errorNodeId: hung?.spanId ?? head.rootSpanId };
    if (end.cancelled?.kind === 'timeout' || end.endedAtMs - head.startedAtMs > timeoutMs) {
      return { status: 'error', errorKind: 'timeout', ...blamed, errorType: 'timeout', errorMessage: timeoutMessage(timeoutMs) };
    }
    if (!end.failed) return { status: 'fulfilled' };
    const errorKind: ErrorKind =
      end.errorType === sc.ERROR_TYPE_VALUE_TOOL_ERROR ? 'tool_error' : end.cancelled ? 'cancelled' : 'exception';
    return { status: 'error', errorKind, ...blamed };
  }
  const deadline = head.startedAtMs + timeoutMs;
  if (context.now >= deadline) {
    const outcome: Outcome = { status: 'error', errorKind: 'timeout', errorType: 'timeout', errorMessage: timeoutMessage(timeoutMs) };
    return { ...outcome, errorNodeId: hung?.spanId ?? head.rootSpanId, endedAtMs: deadline };
  }
  const interrupted = (errorMessage: string, endedAtMs: number): Outcome => ({
    status: 'error',
    errorKind: 'interrupted',
    errorType: 'interrupted',
    errorMessage,
    errorNodeId: hung?.spanId ?? head.rootSpanId,
    endedAtMs,
  });
  const restart = restartOf(head, context.instanceStarts);
  if (restart) return interrupted(`${head.serviceName} restarted (new instance ${restart.instanceId}) before this execution finished`, restart.startedAt);
  const own = context.instanceStarts.find((start) => start.instanceId === runOf(head));
  const gone = own && goneAt(own, context.now);
  if (gone !== undefined) {
    const silence = `${MISSED_HEARTBEATS} heartbeats (${formatSeconds(MISSED_HEARTBEATS * own!.heartbeatMs!)})`;
    return interrupted(`${head.serviceName} (instance ${own!.instanceId}) stopped: no heartbeat for ${silence} after ${iso(gone)}, before this execution finished`, gone);
  }
  return { status: 'pending' };
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

/**
 * The earliest start, after the execution began, of the same replica as the process that ran it
 * — that process is gone. Another replica's start says nothing about it. From tracers that send
 * no replica id, any other instance of the service counts (the rule before replicas).
 */
function restartOf(head: Head, starts: ReadonlyArray<InstanceStart>): InstanceStart | undefined {
  let found: InstanceStart | undefined;
  for (const start of starts) {
    if (start.instanceId === runOf(head) || start.startedAt <= head.startedAtMs) continue;
    if (head.replicaId !== undefined && start.replicaId !== undefined && start.replicaId !== head.replicaId) continue;
    if (!found || start.startedAt < found.startedAt || (start.startedAt === found.startedAt && start.instanceId < found.instanceId)) {
      found = start;
    }
  }
  return found;
}

export function timeoutOf(head: Head, defaultTimeoutMs: number): number {
  return head.timeoutMs ?? defaultTimeoutMs;
}

/** When an execution ended: its own span's end, or the moment it was decided without one. */
export function endOf(summary: ExecutionSummary, outcome: Outcome): number | undefined {
  return summary.end && summary.head?.source === 'root' ? summary.end.endedAtMs : outcome.endedAtMs;
}

/** The list row of an execution: its free text cut to {@link LIST_TEXT_LENGTH}, here and nowhere else. */
export function listItemOf(id: string, summary: ExecutionSummary, outcome: Outcome, defaultTimeoutMs: number): ExecutionListItem {
  const head = summary.head!;
  const item: ExecutionListItem = {
    id,
    flowId: head.flowId,
    flowName: clip(head.flowName, LIST_TEXT_LENGTH.name),
    status: outcome.status,
    startedAt: iso(head.startedAtMs),
    timeoutMs: timeoutOf(head, defaultTimeoutMs),
    preview: clip(head.preview, LIST_TEXT_LENGTH.preview),
  };
  if (head.toolName) item.toolName = clip(head.toolName, LIST_TEXT_LENGTH.name);
  if (outcome.errorKind) item.errorKind = outcome.errorKind;
  if (outcome.errorMessage !== undefined && outcome.status === 'error') item.errorMessage = clip(outcome.errorMessage, LIST_TEXT_LENGTH.errorMessage);
  const endedAtMs = endOf(summary, outcome);
  if (endedAtMs !== undefined) {
    item.endedAt = iso(endedAtMs);
    item.durationMs = round(endedAtMs - head.startedAtMs);
  }
  const waiting = outcome.status === 'pending' ? waitingOn(summary) : undefined;
  if (waiting) item.runningStep = { id: waiting.spanId, name: clip(waiting.name, LIST_TEXT_LENGTH.name), startedAt: iso(waiting.startMs) };
  return item;
}

function headOf(span: Span, source: Head['source']): Head {
  const attrs = span.attributes;
  const toolName = name(attrs[sc.ATTR_GEN_AI_TOOL_NAME]);
  const flowName = name(attrs[sc.ATTR_FLOW_NAME]) ?? toolName ?? name(span.name) ?? 'unnamed';
  const timeoutMs = timeoutBudget(attrs[sc.ATTR_TIMEOUT_MS]);
  const head: Head = {
    source,
    spanId: span.spanId,
    rootSpanId: source === 'marker' ? (span.parentSpanId ?? span.spanId) : span.spanId,
    traceId: span.traceId,
    name: span.name,
    flowId: name(attrs[sc.ATTR_FLOW_ID]) ?? flowName,
    flowName,
    serviceName: str(span.resource[sc.ATTR_SERVICE_NAME]) ?? 'unknown_service',
    startedAtMs: startOf(span),
    paramsHash: hash(searchTextOf(span)),
    preview: preview(data(paramsText(span))),
  };
  if (toolName) head.toolName = toolName;
  const instance = str(span.resource[sc.ATTR_SERVICE_INSTANCE_ID]);
  if (instance) head.serviceInstanceId = instance;
  const start = str(span.resource[sc.ATTR_START_ID]);
  if (start) head.startId = start;
  const replica = str(span.resource[sc.ATTR_REPLICA_ID]);
  if (replica) head.replicaId = replica;
  if (timeoutMs !== undefined) head.timeoutMs = timeoutMs;
  return head;
}

function rootEnd(span: Span): RootEnd {
  const a = span.attributes;
  const end: RootEnd = { endedAtMs: nanosToMillis(span.endTimeUnixNano), failed: span.status.code === STATUS_ERROR, message: spanError(span).message };
  const errorType = str(a[sc.ATTR_ERROR_TYPE]);
  if (errorType) end.errorType = errorType;
  if (a[sc.ATTR_CANCELLED] === true) {
    end.cancelled = { reason: str(a[sc.ATTR_ABORT_REASON]) ?? 'aborted', kind: str(a[sc.ATTR_ABORT_KIND]) ?? 'abort' };
  }
  return end;
}

/** Which run of a process started an execution, as its instance starts are keyed. */
export function runOf(head: Head): string | undefined {
  return head.startId ?? head.serviceInstanceId;
}

/** Which run of a process a resource is: its start id, or (older tracers) its service instance id. */
export function instanceIdOf(resource: Span['resource']): string | undefined {
  return str(resource[sc.ATTR_START_ID]) ?? str(resource[sc.ATTR_SERVICE_INSTANCE_ID]);
}

/** The execution's parameters as captured: flow input or tool arguments (JSON text). */
export function paramsText(span: Span): unknown {
  return span.attributes[sc.ATTR_INPUT] ?? span.attributes[sc.ATTR_GEN_AI_TOOL_CALL_ARGUMENTS];
}

/** The text the `q` search matches: the parameters as captured (JSON text). */
export function searchTextOf(span: Span): string {
  const params = paramsText(span);
  return params === undefined ? '' : typeof params === 'string' ? params : JSON.stringify(params);
}

/** FNV-1a, 32 bits: enough to notice that a text changed. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Message, type and stack of a failed span, from its exception event or its status. */
export function spanError(span: Span): { message: string; type: string; stack?: string } {
  const exception = span.events.find((e) => e.name === 'exception')?.attributes ?? {};
  const error: { message: string; type: string; stack?: string } = {
    message: str(exception[sc.ATTR_EXCEPTION_MESSAGE]) ?? span.status.message ?? 'failed',
    type: str(span.attributes[sc.ATTR_ERROR_TYPE]) ?? str(exception[sc.ATTR_EXCEPTION_TYPE]) ?? 'Error',
  };
  const stack = str(exception[sc.ATTR_EXCEPTION_STACKTRACE]);
  if (stack) error.stack = stack;
  return error;
}

export function depthOf(span: Span): number {
  const depth = span.attributes[sc.ATTR_DEPTH];
  return typeof depth === 'number' ? depth : 0;
}

export function stepIndexOf(span: Span): number | null {
  const index = span.attributes[sc.ATTR_STEP_INDEX];
  return typeof index === 'number' ? index : null;
}

/** Start in ms (sub-millisecond fraction kept): with the span id, the order of spans. */
export function startOf(span: Span): number {
  return nanosToMillis(span.startTimeUnixNano);
}

/** Start time, then span id: a total order, whatever the delivery order. */
export function compareStart(aStart: number, aId: string, bStart: number, bId: string): number {
  if (aStart !== bStart) return aStart < bStart ? -1 : 1;
  return aId < bId ? -1 : aId > bId ? 1 : 0;
}

/** A captured JSON attribute as a value; text that is not JSON stays text. */
export function data(value: unknown): unknown {
  if (typeof value !== 'string') return value ?? undefined;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

/** The first parameter, short: the first property of an object, the first item of an array. */
export function preview(params: unknown): string {
  let first = params;
  if (Array.isArray(params)) first = params[0];
  else if (params && typeof params === 'object') {
    const [entry] = Object.entries(params);
    first = entry ? entry[1] : undefined;
    if (entry) return clip(`${entry[0]}: ${text(first)}`, LIST_TEXT_LENGTH.preview);
  }
  return first === undefined ? '' : clip(text(first), LIST_TEXT_LENGTH.preview);
}

export function tagsOf(attrs: Attributes): Record<string, unknown> {
  const tags: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(attrs)) {
    if (key.startsWith(sc.ATTR_TAG_PREFIX)) tags[key.slice(sc.ATTR_TAG_PREFIX.length)] = value;
    else if (key.startsWith(sc.ATTR_TAG_JSON_PREFIX)) tags[key.slice(sc.ATTR_TAG_JSON_PREFIX.length)] = data(value);
  }
  return tags;
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
}

/** Text cut to `max` characters, the last one `…` when cut (never half of a surrogate pair). */
function clip(value: string, max: number): string {
  if (value.length <= max) return value;
  const end = /[\uD800-\uDBFF]/.test(value[max - 2]!) ? max - 2 : max - 1;
  return `${value.slice(0, end)}…`;
}

export function str(value: unknown): string | undefined {
  return typeof value === 'string' && value ? value : undefined;
}

/** A name or id shown and used in URLs, cut to a sane length. */
function name(value: unknown): string | undefined {
  const t = str(value);
  return t && t.length > MAX_NAME_LENGTH ? t.slice(0, MAX_NAME_LENGTH) : t;
}

export function iso(ms: number): string {
  return new Date(Math.floor(ms)).toISOString();
}

export function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

export function timeoutMessage(ms: number): string {
  return `Timed out after ${formatDuration(ms)}`;
}

export function formatDuration(ms: number): string {
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  if (ms % 1000 === 0) return `${ms / 1000} s`;
  return `${ms} ms`;
}
