import {
  context,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import type { ExecutionContext, Extension } from '@pumped-fn/core-next';
import { getActiveExecution } from './active-execution.js';
import { abortAttributes, AttributeMapper } from './attributes.js';
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
} from './semconv.js';
import type { TracingExtensionOptions } from './types.js';
import { TRACER_NAME, TRACER_VERSION } from './version.js';
import { guard } from './guard.js';

type ExecutionOperation = Extension.ExecutionOperation;
type LifecycleOperation = Extension.ContextLifecycleOperation;
type Ctx = ExecutionContext.Context;
type Next = Parameters<NonNullable<Extension.Extension['wrap']>>[1];

/** What a traced context's children need from it. */
interface Node {
  span: Span;
  executionId: string;
  depth: number;
  /** Steps started under it so far: the next child's `flowtrace.step.index`. */
  children: number;
  /** A standalone context (`scope.createExecution`), whose span its lifecycle ends. */
  standalone: boolean;
}

/**
 * A pumped-fn extension that wraps every execution operation — flows run by `scope.exec` or
 * `ctx.exec`, `ctx.exec({ fn })` steps, `ctx.parallel` and `ctx.parallelSettled` — and every
 * standalone execution context in an OpenTelemetry span. It never changes what an operation
 * returns or throws, and never throws itself.
 */
export function createTracingExtension(options: TracingExtensionOptions = {}): Extension.Extension {
  const tracer: Tracer = options.tracer ?? trace.getTracer(TRACER_NAME, TRACER_VERSION);
  const mapper = new AttributeMapper(options);
  // Keyed by the pumped-fn context, so parentage follows pumped-fn's own tree whether or not
  // an OTel context manager carries the active span across awaits.
  const nodes = new WeakMap<Ctx, Node>();

  /** Where a new operation sits: its parent node, or the top of an execution. */
  function place(parentCtx: Ctx | undefined, ownCtx: Ctx, active: Context) {
    const parent = parentCtx ? nodes.get(parentCtx) : undefined;
    if (parent) {
      return {
        parentContext: trace.setSpan(active, parent.span),
        executionId: parent.executionId,
        depth: parent.depth + 1,
        index: parent.children++,
        root: false,
      };
    }
    // An MCP tool call (or another execution opened by flowtrace) already owns this work.
    const open = getActiveExecution(active);
    if (open) {
      return { parentContext: active, executionId: open.executionId, depth: open.depth + 1, index: undefined, root: false };
    }
    return { parentContext: active, executionId: rootOf(ownCtx).id, depth: 0, index: undefined, root: true };
  }

  function startOperation(operation: ExecutionOperation) {
    const ctx = operation.context as unknown as Ctx;
    const definition = operation.definition;
    // A flow gets a child context of its own; fn and parallel steps run in their caller's.
    const parentCtx = definition ? ctx.parent : ctx;
    const where = place(parentCtx, ctx, context.active());
    const attributes: Attributes = {
      [ATTR_EXECUTION_ID]: where.executionId,
      [ATTR_CONTEXT_ID]: ctx.id,
      [ATTR_DEPTH]: where.depth,
    };
    if (where.root) attributes[ATTR_EXECUTION_ROOT] = true;
    if (where.index !== undefined) attributes[ATTR_STEP_INDEX] = where.index;
    if (operation.key !== undefined) attributes[ATTR_STEP_KEY] = operation.key;

    let name: string;
    if (definition) {
      name = `flow ${definition.name}`;
      attributes[ATTR_STEP_KIND] = STEP_KIND_FLOW;
      mapper.flow(attributes, definition);
      mapper.data(attributes, ATTR_INPUT, ATTR_INPUT_TRUNCATED, operation.input);
      // The root's tags are known at start too: the start marker carries them (and the timeout).
      if (where.root) mapper.tags(attributes, ctx, operation.flow?.tags, true);
    } else if (operation.mode === 'sequential') {
      name = `step ${operation.key ?? operation.name}`;
      attributes[ATTR_STEP_KIND] = STEP_KIND_FN;
      mapper.data(attributes, ATTR_INPUT, ATTR_INPUT_TRUNCATED, operation.params);
    } else {
      const kind = operation.mode === 'parallel' ? STEP_KIND_PARALLEL : STEP_KIND_PARALLEL_SETTLED;
      name = kind;
      attributes[ATTR_STEP_KIND] = kind;
      if (operation.count !== undefined) attributes[ATTR_STEP_COUNT] = operation.count;
    }

    const span = tracer.startSpan(name, { attributes }, where.parentContext);
    if (definition) {
      nodes.set(ctx, { span, executionId: where.executionId, depth: where.depth, children: 0, standalone: false });
    }
    return { span, ctx, root: where.root, spanContext: trace.setSpan(where.parentContext, span) };
  }

  function traceExecution(next: Next, operation: ExecutionOperation) {
    const started = guard(() => startOperation(operation));
    if (!started) return next();
    const { span, ctx, spanContext, root } = started;
    const isFlow = operation.definition !== undefined;
    return context.with(spanContext, async () => {
      // Everything learnt at the end goes in with one setAttributes call.
      const attributes: Attributes = {};
      try {
        const result = await next();
        guard(() => {
          const output = operation.mode === 'sequential' ? result : (result as { stats?: unknown } | undefined)?.stats;
          mapper.data(attributes, ATTR_OUTPUT, ATTR_OUTPUT_TRUNCATED, output);
        });
        return result;
      } catch (error) {
        guard(() => recordError(span, error));
        throw error;
      } finally {
        guard(() => {
          abortAttributes(attributes, ctx.signal);
          if (isFlow) mapper.tags(attributes, ctx, operation.flow?.tags, root);
          span.setAttributes(attributes);
          span.end();
        });
      }
    });
  }

  /** A standalone context (`scope.createExecution`) is a span from creation to close or end. */
  function openContext(ctx: Ctx) {
    if (nodes.has(ctx)) return;
    const where = place(ctx.parent, ctx, context.active());
    const name = ctx.details.name;
    const attributes: Attributes = {
      [ATTR_EXECUTION_ID]: where.executionId,
      [ATTR_CONTEXT_ID]: ctx.id,
      [ATTR_DEPTH]: where.depth,
      [ATTR_STEP_KIND]: STEP_KIND_CONTEXT,
      [ATTR_FLOW_ID]: name,
      [ATTR_FLOW_NAME]: name,
    };
    if (where.root) attributes[ATTR_EXECUTION_ROOT] = true;
    if (where.index !== undefined) attributes[ATTR_STEP_INDEX] = where.index;
    for (const [key, value] of Object.entries(ctx.details.metadata ?? {})) {
      const scalar = typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
      const json = scalar ? undefined : mapper.json(value)?.json;
      const attribute = scalar ? value : json;
      if (attribute !== undefined) attributes[ATTR_META_PREFIX + key] = attribute;
    }
    mapper.tags(attributes, ctx, undefined, true);
    const span = tracer.startSpan(name, { attributes, startTime: ctx.details.startedAt }, where.parentContext);
    nodes.set(ctx, { span, executionId: where.executionId, depth: where.depth, children: 0, standalone: true });

    // `end()` emits no lifecycle operation in core-next, so the instance's own method is wrapped
    // to learn of it. From inside `close()` the state is already `closing`: `closed` ends it then.
    const end = ctx.end.bind(ctx);
    Object.defineProperty(ctx, 'end', {
      configurable: true,
      value: () => {
        end();
        if (ctx.state === 'active') guard(() => closeContext(ctx, undefined));
      },
    });
  }

  function closeContext(ctx: Ctx, mode: 'graceful' | 'abort' | undefined) {
    const node = nodes.get(ctx);
    if (!node?.standalone || !node.span.isRecording()) return;
    if (mode) node.span.addEvent(EVENT_CONTEXT_CLOSED, { [ATTR_CLOSE_MODE]: mode });
    const attributes: Attributes = {};
    abortAttributes(attributes, ctx.signal);
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
        const node = nodes.get(ctx);
        if (node?.standalone && node.span.isRecording()) {
          node.span.addEvent(EVENT_CONTEXT_CLOSING, { [ATTR_CLOSE_MODE]: operation.mode ?? 'graceful' });
        }
        return;
      }
      case 'closed':
        return closeContext(ctx, operation.mode ?? 'graceful');
    }
  }

  return {
    name: 'flowtrace',
    wrap(_scope, next, operation) {
      if (operation.kind === 'execution') return traceExecution(next, operation);
      if (operation.kind === 'context-lifecycle') guard(() => traceLifecycle(operation));
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

