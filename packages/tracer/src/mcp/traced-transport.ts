import {
  context,
  createContextKey,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import type { AttributeMapper } from '../attributes.js';
import { guard } from '../guard.js';
import * as sc from '@flowtrace/semconv';
import {
  CANCELLED,
  classify,
  INITIALIZE,
  messageAttributes,
  protocolVersionIn,
  resultText,
  spanNameOf,
  TOOLS_CALL,
  type Notification,
  type Request,
  type RequestId,
  type Response,
} from './messages.js';
import type { McpMetrics } from './metrics.js';
import { headerProtocolVersion, networkAttributes } from './network.js';
import { extractFromMeta, injectIntoParams } from './propagation.js';

/**
 * Traces an MCP session where every message crosses: the transport. The SDK's `Protocol` talks
 * to its transport only through the public `Transport` interface, so a transport that traces
 * what it carries sees every request, notification and response in both directions — whatever
 * handlers are installed, in every 1.x release — without touching the SDK's internals.
 *
 * A message received opens a SERVER span (its parent comes from `params._meta`) and the
 * Protocol handles it inside that span's context; a message sent opens a CLIENT span, whose
 * context goes out in `params._meta`. A request's span ends with its response, with the
 * cancellation that replaces it, or when the connection closes.
 */

/** How a failing tool result is classified when the tool knows better than `tool_error`. */
export interface CallOutcome {
  errorType: string;
  message: string;
  abort?: { kind: 'timeout' | 'abort'; reason: string };
}

/** A request in flight, in either direction. */
export interface Call {
  readonly span: Span;
  readonly method: string;
  readonly attributes: Attributes;
  readonly direction: 'server' | 'client';
  readonly startedAt: number;
  /** Set while a tool runs, read when its result goes out (see `registerFlowTool`). */
  outcome?: CallOutcome;
}

const CALL = createContextKey('flowtrace.mcp.call');

/** The request being handled in the active context, if an instrumented transport received it. */
export function currentCall(ctx: Context = context.active()): Call | undefined {
  return ctx.getValue(CALL) as Call | undefined;
}

export interface TracedTransportOptions {
  role: 'server' | 'client';
  tracer: Tracer;
  mapper: AttributeMapper;
  metrics: McpMetrics;
  /** Lets the server open a flowtrace execution for a request it received. */
  onRequestReceived?: (request: Request, attributes: Attributes) => ((ctx: Context) => Context) | undefined;
}

type Handler = (message: unknown, extra?: unknown) => void;
interface TransportLike {
  start(): Promise<void>;
  send(message: unknown, options?: unknown): Promise<void>;
  onmessage?: Handler;
  onclose?: () => void;
  sessionId?: string;
  setProtocolVersion?: (version: string) => void;
}

/** `transport`, seen through a proxy that traces what it carries; every other member is the transport's own. */
export function traceTransport<T extends object>(transport: T, options: TracedTransportOptions): T {
  const session = new TracedSession(transport as T & TransportLike, options);
  return new Proxy(transport, {
    get(target, property) {
      switch (property) {
        case 'start':
          return session.start;
        case 'send':
          return session.send;
        case 'onmessage':
          return session.onmessage ?? Reflect.get(target, property);
        case 'onclose':
          return session.onclose ?? Reflect.get(target, property);
        case 'setProtocolVersion':
          return session.setProtocolVersion;
      }
      const value: unknown = Reflect.get(target, property);
      // Methods run on the transport itself (its private state is not on the proxy).
      return typeof value === 'function' && property !== 'constructor' ? value.bind(target) : value;
    },
    set(target, property, value) {
      if (property === 'onmessage') return session.listen(value as Handler | undefined), true;
      if (property === 'onclose') return session.onClose(value as (() => void) | undefined), true;
      return Reflect.set(target, property, value);
    },
  });
}

class TracedSession {
  onmessage: Handler | undefined;
  onclose: (() => void) | undefined;
  /** Requests the peer sent us, by id, until we answer. */
  private readonly received = new Map<RequestId, Call>();
  /** Requests we sent the peer, by id, until it answers. */
  private readonly sent = new Map<RequestId, Call>();
  private protocolVersion: string | undefined;
  private sessionStartedAt: number | undefined;

  constructor(
    private readonly transport: TransportLike,
    private readonly options: TracedTransportOptions,
  ) {}

  listen(handler: Handler | undefined): void {
    this.onmessage = handler;
    this.transport.onmessage = (message, extra) => this.receive(message, extra);
  }

  onClose(handler: (() => void) | undefined): void {
    this.onclose = handler;
    this.transport.onclose = () => {
      guard(() => this.closed());
      this.onclose?.();
    };
  }

  readonly start = (): Promise<void> => {
    this.sessionStartedAt = performance.now();
    return this.transport.start();
  };

  readonly setProtocolVersion = (version: string): void => {
    this.protocolVersion = version;
    this.transport.setProtocolVersion?.(version);
  };

  readonly send = (message: unknown, options?: unknown): Promise<void> => {
    const parsed = guard(() => classify(message));
    if (parsed?.kind === 'response') {
      guard(() => this.answered(parsed.message));
      return this.transport.send(message, options);
    }
    if (!parsed) return this.transport.send(message, options);
    const outgoing = guard(() => this.openSent(parsed.message));
    if (!outgoing) return this.transport.send(message, options);
    const { call, carried } = outgoing;
    const sending = this.transport.send(carried, options);
    if (parsed.kind === 'request') {
      return sending.catch((error: unknown) => {
        guard(() => this.sent.delete(parsed.message.id) && this.end(call, failure(error)));
        throw error;
      });
    }
    // A notification is done once it is handed to the transport.
    return sending.then(
      () => guard(() => this.end(call, {})),
      (error: unknown) => {
        guard(() => this.end(call, failure(error)));
        throw error;
      },
    );
  };

  private receive(message: unknown, extra: unknown): void {
    const deliver = () => this.onmessage?.(message, extra);
    const parsed = guard(() => classify(message));
    if (!parsed) return deliver();
    if (parsed.kind === 'response') {
      guard(() => this.responded(parsed.message));
      return deliver();
    }
    const incoming = guard(() => this.openReceived(parsed.message, extra));
    if (!incoming) return deliver();
    context.with(incoming.context, deliver);
    if (parsed.kind === 'notification') guard(() => this.end(incoming.call, {}));
  }

  /** A SERVER span for a request or notification the peer sent. */
  private openReceived(message: Request | Notification, extra: unknown): { call: Call; context: Context } {
    const ambient = context.active();
    const attributes = { ...messageAttributes(message), ...networkAttributes(this.transport, extra), ...this.sessionOf(extra) };
    this.arguments(message, attributes);
    // The caller's context from `_meta` is the parent; the transport's (an HTTP server span) is a link.
    const ambientSpan = trace.getSpan(ambient);
    const withRemote = extractFromMeta(message.params?._meta, ambient);
    const remote = trace.getSpan(withRemote) !== ambientSpan;
    const transportSpan = ambientSpan?.spanContext();
    const links: Link[] = remote && transportSpan && trace.isSpanContextValid(transportSpan) ? [{ context: transportSpan }] : [];
    const execution = 'id' in message ? this.options.onRequestReceived?.(message, attributes) : undefined;
    const span = this.options.tracer.startSpan(spanNameOf(message), { kind: SpanKind.SERVER, attributes, links }, withRemote);
    const call: Call = { span, method: message.method, attributes, direction: 'server', startedAt: performance.now() };
    if ('id' in message) this.received.set(message.id, call);
    if (message.method === CANCELLED) this.cancelled(this.received, message, `cancelled by the ${this.options.role === 'server' ? 'client' : 'server'}`);
    let ctx = trace.setSpan(withRemote, span).setValue(CALL, call);
    if (execution) ctx = execution(ctx);
    return { call, context: ctx };
  }

  /** A CLIENT span for a request or notification we send, and the message carrying its context. */
  private openSent(message: Request | Notification): { call: Call; carried: Request | Notification } {
    const attributes = { ...messageAttributes(message), ...networkAttributes(this.transport, undefined), ...this.sessionOf(undefined) };
    this.arguments(message, attributes);
    const span = this.options.tracer.startSpan(spanNameOf(message), { kind: SpanKind.CLIENT, attributes });
    const call: Call = { span, method: message.method, attributes, direction: 'client', startedAt: performance.now() };
    if ('id' in message) this.sent.set(message.id, call);
    if (message.method === CANCELLED) this.cancelled(this.sent, message, 'cancelled');
    const params = context.with(trace.setSpan(context.active(), span), () => injectIntoParams(message.params));
    return { call, carried: params === message.params ? message : { ...message, params } };
  }

  /** We answer a request the peer sent. */
  private answered(response: Response): void {
    const call = this.received.get(response.id);
    if (!call) return;
    this.received.delete(response.id);
    this.end(call, this.outcomeOf(call, response));
  }

  /** The peer answers a request we sent. */
  private responded(response: Response): void {
    const call = this.sent.get(response.id);
    if (!call) return;
    this.sent.delete(response.id);
    this.end(call, this.outcomeOf(call, response));
  }

  /** `notifications/cancelled`: the request it names gets no response; its span ends here. */
  private cancelled(calls: Map<RequestId, Call>, notification: Notification, what: string): void {
    const id = notification.params?.requestId;
    if (typeof id !== 'string' && typeof id !== 'number') return;
    const call = calls.get(id);
    if (!call) return;
    calls.delete(id);
    const reason = typeof notification.params?.reason === 'string' ? notification.params.reason : 'no reason given';
    this.end(call, {
      errorType: sc.ERROR_TYPE_VALUE_CANCELLED,
      message: `${what}: ${reason}`,
      abort: { kind: 'abort', reason },
    });
  }

  /** The transport closed: requests still open will never be answered. */
  private closed(): void {
    const outcome: Ending = {
      errorType: sc.ERROR_TYPE_VALUE_CONNECTION_CLOSED,
      message: 'the MCP connection closed before the response',
      abort: { kind: 'abort', reason: 'the MCP connection closed' },
    };
    for (const calls of [this.received, this.sent]) {
      for (const call of calls.values()) this.end(call, outcome);
      calls.clear();
    }
    if (this.sessionStartedAt !== undefined) {
      const attributes = networkAttributes(this.transport, undefined);
      if (this.protocolVersion) attributes[sc.ATTR_MCP_PROTOCOL_VERSION] = this.protocolVersion;
      this.options.metrics.session(this.options.role, (performance.now() - this.sessionStartedAt) / 1000, attributes);
      this.sessionStartedAt = undefined;
    }
  }

  private outcomeOf(call: Call, response: Response): Ending {
    if (response.error) {
      const code = String(response.error.code ?? sc.ERROR_TYPE_VALUE_OTHER);
      const message = typeof response.error.message === 'string' ? response.error.message : `JSON-RPC error ${code}`;
      return { errorType: code, statusCode: code, message };
    }
    const result = response.result as { isError?: unknown; content?: unknown; structuredContent?: unknown } | undefined;
    if (call.method === INITIALIZE) this.protocolVersion = protocolVersionIn(result) ?? this.protocolVersion;
    if (call.method !== TOOLS_CALL) return {};
    if (result?.isError === true) {
      return call.outcome ?? { errorType: sc.ERROR_TYPE_VALUE_TOOL_ERROR, message: resultText(result) ?? 'the tool returned an error' };
    }
    const attributes: Attributes = {};
    const shown = result?.structuredContent ?? result?.content;
    if (shown !== undefined && this.options.mapper.captureData) {
      const captured = this.options.mapper.json(shown);
      if (captured) attributes[sc.ATTR_GEN_AI_TOOL_CALL_RESULT] = captured.json;
    }
    return { attributes };
  }

  private end(call: Call, ending: Ending): void {
    const attributes: Attributes = { ...ending.attributes };
    // A session id is assigned while `initialize` is handled: a span that started without one ends with it.
    if (call.attributes[sc.ATTR_MCP_SESSION_ID] === undefined) Object.assign(attributes, this.sessionOf(undefined));
    if (ending.errorType !== undefined) {
      attributes[sc.ATTR_ERROR_TYPE] = ending.errorType;
      if (ending.statusCode !== undefined) attributes[sc.ATTR_RPC_RESPONSE_STATUS_CODE] = ending.statusCode;
      if (ending.abort) {
        attributes[sc.ATTR_CANCELLED] = true;
        attributes[sc.ATTR_ABORT_KIND] = ending.abort.kind;
        attributes[sc.ATTR_ABORT_REASON] = ending.abort.reason;
      }
      call.span.setStatus({ code: SpanStatusCode.ERROR, message: ending.message });
    }
    call.span.setAttributes(attributes);
    call.span.end();
    this.options.metrics.operation(call.direction, (performance.now() - call.startedAt) / 1000, { ...call.attributes, ...attributes });
  }

  /** Tool arguments, captured (redacted and capped) as the tracer captures flow inputs. */
  private arguments(message: Request | Notification, attributes: Attributes): void {
    if (message.method !== TOOLS_CALL) return;
    this.options.mapper.data(attributes, sc.ATTR_GEN_AI_TOOL_CALL_ARGUMENTS, sc.ATTR_INPUT_TRUNCATED, message.params?.arguments ?? {});
  }

  private sessionOf(extra: unknown): Attributes {
    const attributes: Attributes = {};
    const sessionId = this.transport.sessionId;
    if (sessionId) attributes[sc.ATTR_MCP_SESSION_ID] = sessionId;
    const version = headerProtocolVersion(extra) ?? this.protocolVersion;
    if (version) attributes[sc.ATTR_MCP_PROTOCOL_VERSION] = version;
    return attributes;
  }
}

interface Ending {
  errorType?: string;
  /** The JSON-RPC error code, when the response was an error. */
  statusCode?: string;
  message?: string;
  abort?: CallOutcome['abort'];
  attributes?: Attributes;
}

function failure(error: unknown): Ending {
  const type = error instanceof Error ? error.constructor.name : sc.ERROR_TYPE_VALUE_OTHER;
  return { errorType: type, message: error instanceof Error ? error.message : String(error) };
}
