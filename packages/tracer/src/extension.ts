import {
  context,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import type { Core, ExecutionContext, Extension } from '@pumped-fn/core-next';
import { deadlineOf, watchAbort, type AbortWatch } from './abort-kind.js';
import { getActiveExecution } from './active-execution.js';
import { abortAttributes, AttributeMapper } from './attributes.js';
import { claimExecCall, releaseListener, watchExecCalls, type ExecCall } from './exec-calls.js';
import { rememberExecutionId } from './execution-id.js';
import { failureReporter, type ReportFailure } from './guard.js';
import { plainPromise } from './promised.js';
import {
  ATTR_CLOSE_MODE,
  ATTR_CONTEXT_ID,
  ATTR_DEPTH,
  ATTR_ERROR_TYPE,
  ATTR_EXECUTION_ID,
  ATTR_EXECUTION_ROOT,
  ATTR_FLOW_ID,
  ATTR_FLOW_NAME,
  ATTR_INPUT,
  ATTR_INPUT_TRUNCATED,
  ATTR_META_PREFIX,
  ATTR_OUTPUT,
  ATTR_OUTPUT_TRUNCATED,
  ATTR_STEP_COUNT,
  ATTR_STEP_INDEX,
  ATTR_STEP_KEY,
  ATTR_STEP_KIND,
  EVENT_CONTEXT_CLOSED,
  EVENT_CONTEXT_CLOSING,
  STEP_KIND_CONTEXT,
  STEP_KIND_FLOW,
  STEP_KIND_FN,
  STEP_KIND_PARALLEL,
  STEP_KIND_PARALLEL_SETTLED,
} from '@flowtrace/semconv';
import type { TracingExtensionOptions } from './types.js';
import { TRACER_NAME, TRACER_VERSION } from './version.js';

type ExecutionOperation = Extension.ExecutionOperation;
type LifecycleOperation = Extension.ContextLifecycleOperation;
type Ctx = ExecutionContext.Context;
type Next = Parameters<NonNullable<Extension.Extension['wrap']>>[1];

/** What a traced context (or parallel operation) gives the operations under it. */
interface Node {
  span: Span;
  executionId: string;
  depth: number;
  /** Operations started under it so far: the next child's `flowtrace.step.index`. */
  children: number;
  /** A standalone context (`scope.createExecution`), whose span its lifecycle ends. */
  standalone: boolean;
  /** Operations called on this context whose span has not started yet, oldest first. */
  waiting: Operation[] | undefined;
  /** Aborts of this context (of the flow's, for a parallel operation). */
  abort: AbortWatch | undefined;
}

/** One traced operation, from its `wrap` call to its span's end. */
interface Operation {
  op: ExecutionOperation;
  /** The traced context it was called on; absent for an execution's top operation. */
  parent: Node | undefined;
  /** The parallel operation that claimed it as a member; its span is the parent then. */
  claimedBy: Operation | undefined;
  started: boolean;
  span: Span | undefined;
  /** The active context to run `next` in: the caller's, with this span set. */
  spanContext: Context | undefined;
  /** For a parallel operation, the node its members hang from. */
  node: Node | undefined;
  root: boolean;
  /** The `ctx.exec` call that started it, whose abort listener it releases when it settles. */
  call: ExecCall | undefined;
  /** Aborts of the context it runs in: watched for a top flow and a flow with a `timeout`, else its caller's. */
  abort: AbortWatch | undefined;
}

/** Microtask that lets a `ctx.parallel` called in the same turn claim its members first. */
const NEXT_TICK = Promise.resolve();

/**
 * A pumped-fn extension that wraps every execution operation — flows run by `scope.exec` or
 * `ctx.exec`, `ctx.exec({ fn })` steps, `ctx.parallel` and `ctx.parallelSettled` — and every
 * standalone execution context in an OpenTelemetry span. It never changes what an operation
 * returns or throws, and never throws itself: its own failures go to OTel `diag`.
 *
 * Placement of parallel members: `ctx.parallel([ctx.exec(a), ctx.exec(b)])` calls `ctx.exec`
 * for its members before the parallel operation exists, and an OTel span's parent cannot change
 * once it started. So an operation called on a traced context starts its span (and runs) one
 * microtask later; a parallel operation called in that same turn claims the last `count`
 * operations of its context still waiting, and its span starts before theirs, as their parent.
 * A step started earlier in the turn (not one of the `count` last) stays under its flow.
 */
export function createTracingExtension(options: TracingExtensionOptions = {}): Extension.Extension {
  const tracer: Tracer = options.tracer ?? trace.getTracer(TRACER_NAME, TRACER_VERSION);
  const mapper = new AttributeMapper(options);
  const report: ReportFailure = failureReporter();
  // Kept on the pumped-fn context, so parentage follows pumped-fn's own tree whether or not an
  // OTel context manager carries the active span across awaits. A property under a symbol of
  // this extension, not a WeakMap: a WeakMap entry per flow cost more than the rest of a span.
  const NODE = Symbol('flowtrace.node');
  type Traced = Ctx & { [NODE]?: Node };
  const nodeOf = (ctx: Ctx): Node | undefined => (ctx as Traced)[NODE];
  const scopes = new WeakSet<Core.Scope>();

  /** The `timeout` of the `scope.exec` call running now, for its top flow's wrap. */
  let scopeExecTimeout: { startedAt: number; ms: number } | undefined;

  function track(ctx: Ctx, span: Span, executionId: string, depth: number, standalone: boolean, abort: AbortWatch | undefined): void {
    (ctx as Traced)[NODE] = { span, executionId, depth, children: 0, standalone, waiting: undefined, abort };
    watchExecCalls(ctx);
  }

  /** Watches the controller of a context the tracer has not seen abort yet. */
  function watchContext(ctx: Ctx, parent: AbortWatch | undefined, deadline: number | undefined): AbortWatch | undefined {
    const controller = (ctx as unknown as { abortController?: AbortController }).abortController;
    return controller ? watchAbort(controller, parent, deadline) : undefined;
  }

  function wrap(next: Next, op: ExecutionOperation) {
    const ctx = op.context as unknown as Ctx;
    // A flow gets a child context of its own; fn and parallel steps run in their caller's.
    const callerCtx = op.definition ? ctx.parent : ctx;
    const parent = callerCtx ? nodeOf(callerCtx) : undefined;
    const operation: Operation = {
      op,
      parent,
      claimedBy: undefined,
      started: false,
      span: undefined,
      spanContext: undefined,
      node: undefined,
      root: false,
      call: undefined,
      abort: parent?.abort,
    };
    try {
      if (!parent) {
        const timeout = scopeExecTimeout;
        scopeExecTimeout = undefined;
        if (op.definition) operation.abort = watchContext(ctx, undefined, timeout && deadlineOf(timeout.startedAt, timeout.ms));
        return run(next, operation, false);
      }
      if (op.mode === 'sequential') {
        const call = (operation.call = claimExecCall(callerCtx!.signal));
        // A child flow's controller aborts only with its parent (which the parent's watch sees)
        // or from pumped-fn's timer for its own `timeout`: only then is it watched itself.
        if (op.definition && call?.timeout) operation.abort = watchContext(ctx, parent.abort, deadlineOf(call.startedAt, call.timeout));
      } else {
        claimMembers(parent, operation, op.count ?? 0);
      }
      (parent.waiting ??= []).push(operation);
    } catch (error) {
      report('span start', error);
    }
    return run(next, operation, parent !== undefined);
  }

  function claimMembers(parent: Node, parallel: Operation, count: number): void {
    const waiting = parent.waiting ?? [];
    for (let i = waiting.length - 1; i >= 0 && count > 0; i--) {
      const member = waiting[i]!;
      if (member.claimedBy) continue;
      member.claimedBy = parallel;
      count--;
    }
  }

  async function run(next: Next, operation: Operation, deferred: boolean): Promise<unknown> {
    if (deferred) await NEXT_TICK;
    const span = start(operation);
    try {
      const running = plainPromise(span ? context.with(operation.spanContext!, next) : next());
      const seen = span ? operation.call?.seen : undefined;
      const result = await (seen ? outrun(operation, running as Promise<unknown>, seen) : running);
      if (span) output(operation, span, result);
      return result;
    } catch (error) {
      if (span) fail(span, error);
      throw error;
    } finally {
      if (operation.call) releaseListener(operation.call);
      if (span) end(operation, span);
    }
  }

  /**
   * A `ctx.exec` call with a `timeout` fails for its caller at the deadline, while what it ran
   * may go on (core-next cannot stop a function, and a flow may ignore its signal). The span is
   * the call as its caller saw it: it ends then, failed, and an fn step is marked timed out (or
   * aborted, when the abort came from its flow) the way an aborted flow's own watch marks it.
   */
  async function outrun(operation: Operation, running: Promise<unknown>, seen: Promise<unknown>): Promise<unknown> {
    let settled = false;
    const ran = running.then(
      (value) => ((settled = true), value),
      (error: unknown) => {
        settled = true;
        throw error;
      },
    );
    try {
      return await Promise.race([ran, seen]);
    } catch (error) {
      const call = operation.call!;
      if (!settled && !operation.op.definition) {
        operation.abort = { firedAt: performance.now(), reason: error, deadline: deadlineOf(call.startedAt, call.timeout), parent: operation.parent?.abort };
      }
      throw error;
    }
  }

  function output(operation: Operation, span: Span, result: unknown): void {
    try {
      // Data nobody will see is not captured.
      if (!span.isRecording()) return;
      const op = operation.op;
      const value = op.mode === 'sequential' ? result : (result as { stats?: unknown } | undefined)?.stats;
      mapper.spanData(span, ATTR_OUTPUT, ATTR_OUTPUT_TRUNCATED, value);
    } catch (error) {
      report('span end', error);
    }
  }

  function fail(span: Span, error: unknown): void {
    try {
      recordError(span, error);
    } catch (failure) {
      report('span end', failure);
    }
  }

  function end(operation: Operation, span: Span): void {
    try {
      if (span.isRecording()) {
        const op = operation.op;
        const attributes: Attributes = {};
        abortAttributes(attributes, operation.abort);
        if (op.definition) mapper.tags(attributes, op.context as unknown as Ctx, op.flow?.tags, operation.root);
        span.setAttributes(attributes);
      }
      span.end();
    } catch (error) {
      report('span end', error);
    }
  }

  /** Starts the span of `operation` (and first that of the parallel that claimed it), once. */
  function start(operation: Operation): Span | undefined {
    if (operation.started) return operation.span;
    operation.started = true;
    try {
      const parent = operation.parent;
      const waiting = parent?.waiting;
      if (waiting) {
        // Operations start in the order they were called: it is almost always the first.
        if (waiting[0] === operation) waiting.shift();
        else if (waiting.includes(operation)) waiting.splice(waiting.indexOf(operation), 1);
      }
      const claimer = operation.claimedBy;
      if (claimer) start(claimer);
      return open(operation, claimer?.node ?? parent);
    } catch (error) {
      report('span start', error);
      return undefined;
    }
  }

  function open(operation: Operation, under: Node | undefined): Span {
    const op = operation.op;
    const ctx = op.context as unknown as Ctx;
    const definition = op.definition;
    const active = context.active();
    let parentContext: Context;
    let executionId: string;
    let depth: number;
    let index: number | undefined;
    if (under) {
      // Inside its flow's handler the active span usually is the parent already.
      parentContext = trace.getSpan(active) === under.span ? active : trace.setSpan(active, under.span);
      executionId = under.executionId;
      depth = under.depth + 1;
      index = under.children++;
    } else {
      // An MCP tool call (or another execution opened by flowtrace) may already own this work.
      const owner = getActiveExecution(active);
      parentContext = active;
      executionId = owner ? owner.executionId : rootOf(ctx).id;
      depth = owner ? owner.depth + 1 : 0;
      operation.root = !owner;
    }
    let name: string;
    let kind: string;
    if (definition) {
      name = `flow ${definition.name}`;
      kind = STEP_KIND_FLOW;
    } else if (op.mode === 'sequential') {
      name = `step ${op.key ?? op.name}`;
      kind = STEP_KIND_FN;
    } else {
      name = kind = op.mode === 'parallel' ? STEP_KIND_PARALLEL : STEP_KIND_PARALLEL_SETTLED;
    }
    // At creation, only what a sampler decides on: it decides at an execution's root (the SDK's
    // default ParentBased sampler follows that for every step), so a root gets what identifies
    // the flow; any span gets the execution id, which its start marker depends on. The rest is
    // set right after: the SDK copies creation attributes three times (2.x sanitizes them twice,
    // then sets them), later ones once.
    const attributes: Attributes = { [ATTR_EXECUTION_ID]: executionId };
    if (operation.root) {
      attributes[ATTR_EXECUTION_ROOT] = true;
      attributes[ATTR_STEP_KIND] = kind;
      if (definition) {
        mapper.flow(attributes, definition);
        // The root's tags are known at start too: the start marker carries them (and the timeout).
        mapper.tags(attributes, ctx, op.flow?.tags, true);
      }
    }
    const span = tracer.startSpan(name, { attributes }, parentContext);
    // Data nobody will see is not captured.
    if (span.isRecording()) {
      if (!operation.root) {
        span.setAttribute(ATTR_STEP_KIND, kind);
        if (definition) mapper.flowOn(span, definition);
      }
      if (op.key !== undefined) span.setAttribute(ATTR_STEP_KEY, op.key);
      if (definition) span.setAttribute(ATTR_CONTEXT_ID, ctx.id);
      span.setAttribute(ATTR_DEPTH, depth);
      if (index !== undefined) span.setAttribute(ATTR_STEP_INDEX, index);
      if (definition) mapper.spanData(span, ATTR_INPUT, ATTR_INPUT_TRUNCATED, op.input);
      else if (op.mode === 'sequential') mapper.spanData(span, ATTR_INPUT, ATTR_INPUT_TRUNCATED, op.params);
      else if (op.count !== undefined) span.setAttribute(ATTR_STEP_COUNT, op.count);
    }
    operation.span = span;
    operation.spanContext = trace.setSpan(active, span);
    if (definition) {
      track(ctx, span, executionId, depth, false, operation.abort);
      if (!under) rememberExecutionId(ctx, executionId);
    } else if (op.mode !== 'sequential') {
      operation.node = { span, executionId, depth, children: 0, standalone: false, waiting: undefined, abort: operation.abort };
    }
    return span;
  }

  /** A standalone context (`scope.createExecution`) is a span from creation to close or end. */
  function openContext(ctx: Ctx) {
    if (nodeOf(ctx)) return;
    const active = context.active();
    const parent = ctx.parent ? nodeOf(ctx.parent) : undefined;
    const owner = parent ? undefined : getActiveExecution(active);
    const executionId = parent?.executionId ?? owner?.executionId ?? rootOf(ctx).id;
    const depth = parent ? parent.depth + 1 : owner ? owner.depth + 1 : 0;
    const name = ctx.details.name;
    const attributes: Attributes = {
      [ATTR_EXECUTION_ID]: executionId,
      [ATTR_CONTEXT_ID]: ctx.id,
      [ATTR_DEPTH]: depth,
      [ATTR_STEP_KIND]: STEP_KIND_CONTEXT,
      [ATTR_FLOW_ID]: name,
      [ATTR_FLOW_NAME]: name,
    };
    if (!parent && !owner) attributes[ATTR_EXECUTION_ROOT] = true;
    if (parent) attributes[ATTR_STEP_INDEX] = parent.children++;
    for (const [key, value] of Object.entries(ctx.details.metadata ?? {})) {
      const scalar = typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
      const json = scalar ? undefined : mapper.json(value)?.json;
      const attribute = scalar ? value : json;
      if (attribute !== undefined) attributes[ATTR_META_PREFIX + key] = attribute;
    }
    mapper.tags(attributes, ctx, undefined, true);
    const parentContext = parent ? trace.setSpan(active, parent.span) : active;
    const span = tracer.startSpan(name, { attributes, startTime: ctx.details.startedAt }, parentContext);
    track(ctx, span, executionId, depth, true, watchContext(ctx, parent?.abort, undefined));
    if (!parent) rememberExecutionId(ctx, executionId);

    // `end()` emits no lifecycle operation in core-next, so the instance's own method is wrapped
    // to learn of it. From inside `close()` the state is already `closing`: `closed` ends it then.
    const endContext = ctx.end.bind(ctx);
    Object.defineProperty(ctx, 'end', {
      configurable: true,
      value: () => {
        endContext();
        if (ctx.state !== 'active') return;
        try {
          closeContext(ctx, undefined);
        } catch (error) {
          report('context lifecycle', error);
        }
      },
    });
  }

  function closeContext(ctx: Ctx, mode: 'graceful' | 'abort' | undefined) {
    const node = nodeOf(ctx);
    if (!node?.standalone || !node.span.isRecording()) return;
    if (mode) node.span.addEvent(EVENT_CONTEXT_CLOSED, { [ATTR_CLOSE_MODE]: mode });
    const attributes: Attributes = {};
    abortAttributes(attributes, node.abort);
    mapper.tags(attributes, ctx, undefined, true);
    node.span.setAttributes(attributes);
    if (ctx.details.error !== undefined) recordError(node.span, ctx.details.error);
    node.span.end(ctx.details.completedAt);
  }

  function traceLifecycle(operation: LifecycleOperation) {
    const ctx = operation.context;
    switch (operation.phase) {
      case 'create':
        return openContext(ctx);
      case 'closing': {
        const node = nodeOf(ctx);
        if (node?.standalone && node.span.isRecording()) {
          node.span.addEvent(EVENT_CONTEXT_CLOSING, { [ATTR_CLOSE_MODE]: operation.mode ?? 'graceful' });
        }
        return;
      }
      case 'closed':
        return closeContext(ctx, operation.mode ?? 'graceful');
    }
  }

  /**
   * `scope.exec({ timeout })` aborts the execution's controller from a timer of its own, which
   * the extension is not told of: the scope's `exec` is wrapped to pass the timeout to the top
   * flow's `wrap`, which runs inside the call.
   */
  function watchScope(scope: Core.Scope): void {
    if (scopes.has(scope)) return;
    scopes.add(scope);
    const exec = scope.exec;
    Object.defineProperty(scope, 'exec', {
      configurable: true,
      writable: true,
      value(this: Core.Scope, config: { timeout?: number }) {
        const outer = scopeExecTimeout;
        scopeExecTimeout = config?.timeout ? { startedAt: performance.now(), ms: config.timeout } : undefined;
        try {
          return (exec as (config: unknown) => unknown).call(this, config);
        } finally {
          scopeExecTimeout = outer;
        }
      },
    });
  }

  return {
    name: 'flowtrace',
    init(scope) {
      watchScope(scope);
    },
    wrap(_scope, next, operation) {
      if (operation.kind === 'execution') return wrap(next, operation);
      if (operation.kind === 'context-lifecycle') {
        try {
          traceLifecycle(operation);
        } catch (error) {
          report('context lifecycle', error);
        }
      }
      return next();
    },
  };
}

function rootOf(ctx: Ctx): Ctx {
  let root = ctx;
  while (root.parent) root = root.parent;
  return root;
}

function recordError(span: Span, error: unknown): void {
  if (error instanceof Error) {
    span.recordException(error);
    // A subclass that does not set `name` still says "Error"; its class name is more telling.
    const type = error.name && error.name !== 'Error' ? error.name : error.constructor?.name || 'Error';
    span.setAttribute(ATTR_ERROR_TYPE, type);
    span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
  } else {
    const message = String(error);
    span.recordException(message);
    span.setAttribute(ATTR_ERROR_TYPE, typeof error);
    span.setStatus({ code: SpanStatusCode.ERROR, message });
  }
}
