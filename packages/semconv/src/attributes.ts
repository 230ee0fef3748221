/**
 * Attribute names on the wire.
 *
 * The `flowtrace.*` names are the contract between the tracer (which writes them) and the
 * collector (which reads them): this file is their only source. The MCP and GenAI names are
 * copied from the OpenTelemetry semantic conventions, where they are still "incubating"; the
 * OTel project asks instrumentations to copy incubating names rather than import them, because
 * the incubating entry point may change in a minor release.
 */

// --- flowtrace: executions and steps ---------------------------------------------------------

/** Id of the root unit of work; the same on every span of one execution. */
export const ATTR_EXECUTION_ID = 'flowtrace.execution.id';
/** `true` on the span that is the execution itself (a tool call or a flow run at the top). */
export const ATTR_EXECUTION_ROOT = 'flowtrace.execution.root';
/** This operation's pumped-fn `ExecutionContext.id`. */
export const ATTR_CONTEXT_ID = 'flowtrace.context.id';
/** Grouping key for the Usage tab (the flow name unless configured). */
export const ATTR_FLOW_ID = 'flowtrace.flow.id';
export const ATTR_FLOW_NAME = 'flowtrace.flow.name';
export const ATTR_FLOW_VERSION = 'flowtrace.flow.version';
/** `flow` · `fn` · `parallel` · `parallel-settled` · `context` · `tool` */
export const ATTR_STEP_KIND = 'flowtrace.step.kind';
export const ATTR_STEP_KEY = 'flowtrace.step.key';
/** Order of this step among the steps its parent started. */
export const ATTR_STEP_INDEX = 'flowtrace.step.index';
/** Number of operations a `parallel` step waits for. */
export const ATTR_STEP_COUNT = 'flowtrace.step.count';
/** Nesting depth: 0 for the execution's top span. */
export const ATTR_DEPTH = 'flowtrace.depth';
/** JSON of the input (flow input, fn params); redacted and capped. */
export const ATTR_INPUT = 'flowtrace.input';
/** JSON of the output; redacted and capped. */
export const ATTR_OUTPUT = 'flowtrace.output';
/** Present and `true` when `flowtrace.input` was cut to the byte cap. */
export const ATTR_INPUT_TRUNCATED = 'flowtrace.input.truncated';
/** Present and `true` when `flowtrace.output` was cut to the byte cap. */
export const ATTR_OUTPUT_TRUNCATED = 'flowtrace.output.truncated';
/** Prefix of tag attributes with a scalar value: `flowtrace.tag.<label>`. */
export const ATTR_TAG_PREFIX = 'flowtrace.tag.';
/**
 * Prefix of tag attributes whose value (an object or array) is carried as JSON text:
 * `flowtrace.tag_json.<label>`. A separate prefix, so a string tag that looks like JSON stays text.
 */
export const ATTR_TAG_JSON_PREFIX = 'flowtrace.tag_json.';
/** Prefix of a standalone execution context's metadata: `flowtrace.meta.<key>`. */
export const ATTR_META_PREFIX = 'flowtrace.meta.';
/** The execution's time budget in milliseconds; the collector's timeout rule uses it. */
export const ATTR_TIMEOUT_MS = 'flowtrace.timeout_ms';
/**
 * The range of {@link ATTR_TIMEOUT_MS}, in ms: the tracer refuses a budget outside it (a
 * configuration error), the collector clamps one it receives into it.
 */
export const TIMEOUT_MS_MIN = 1;
export const TIMEOUT_MS_MAX = 7 * 24 * 60 * 60 * 1000;
/** `true` when the operation's abort signal fired. */
export const ATTR_CANCELLED = 'flowtrace.cancelled';
/** The abort signal's reason, as a message. */
export const ATTR_ABORT_REASON = 'flowtrace.abort_reason';
/** `timeout` when the abort came from a timeout, `abort` otherwise. */
export const ATTR_ABORT_KIND = 'flowtrace.abort_kind';

/** Values of {@link ATTR_STEP_KIND}. */
export const STEP_KIND_FLOW = 'flow';
export const STEP_KIND_FN = 'fn';
export const STEP_KIND_PARALLEL = 'parallel';
export const STEP_KIND_PARALLEL_SETTLED = 'parallel-settled';
export const STEP_KIND_CONTEXT = 'context';
export const STEP_KIND_TOOL = 'tool';

// --- flowtrace: markers ----------------------------------------------------------------------

/**
 * Marks a span that is not work but a notice to the collector: `start` (an execution began;
 * OTLP has no way to export a span before it ends) or `instance-start` (a process started).
 * Markers go only to the flowtrace collector.
 */
export const ATTR_MARKER = 'flowtrace.marker';
export const MARKER_START = 'start';
/**
 * On a step's start marker: the span id of the step's parent. The marker's own parent is the
 * step's span, which the collector shows as running until that span arrives.
 */
export const ATTR_MARKER_PARENT_ID = 'flowtrace.marker.parent_id';
export const MARKER_INSTANCE_START = 'instance-start';
/**
 * `heartbeat`: the process is alive. Sent every {@link ATTR_HEARTBEAT_INTERVAL_MS}; when they
 * stop for three intervals the collector takes the process as gone and interrupts its pending
 * executions, without waiting for their time budget.
 */
export const MARKER_HEARTBEAT = 'heartbeat';
export const ATTR_HEARTBEAT_INTERVAL_MS = 'flowtrace.heartbeat.interval_ms';

// --- flowtrace: resource attributes of a traced process --------------------------------------

/**
 * The replica a process is: the same across its restarts (the user's `service.instance.id` when
 * set, else an id the tracer keeps on disk), different between replicas running side by side.
 * A start of the same replica interrupts what its predecessor left pending; another replica's
 * start does not.
 */
export const ATTR_REPLICA_ID = 'flowtrace.replica.id';
/** A fresh id per process start, telling one run of a replica from the next. */
export const ATTR_START_ID = 'flowtrace.start.id';

// --- flowtrace: context-lifecycle span events ------------------------------------------------

export const EVENT_CONTEXT_CLOSING = 'flowtrace.context.closing';
export const EVENT_CONTEXT_CLOSED = 'flowtrace.context.closed';
/** `graceful` or `abort`, on the lifecycle events. */
export const ATTR_CLOSE_MODE = 'flowtrace.context.close_mode';

// --- OpenTelemetry semantic conventions (incubating, copied) ---------------------------------

export const ATTR_MCP_METHOD_NAME = 'mcp.method.name';
export const ATTR_MCP_SESSION_ID = 'mcp.session.id';
export const ATTR_MCP_PROTOCOL_VERSION = 'mcp.protocol.version';
export const ATTR_MCP_RESOURCE_URI = 'mcp.resource.uri';
export const ATTR_JSONRPC_REQUEST_ID = 'jsonrpc.request.id';
/** Only when the message's `jsonrpc` is not `2.0`. */
export const ATTR_JSONRPC_PROTOCOL_VERSION = 'jsonrpc.protocol.version';
/** The JSON-RPC error code of an error response, as a string. */
export const ATTR_RPC_RESPONSE_STATUS_CODE = 'rpc.response.status_code';
export const ATTR_GEN_AI_OPERATION_NAME = 'gen_ai.operation.name';
export const ATTR_GEN_AI_TOOL_NAME = 'gen_ai.tool.name';
export const ATTR_GEN_AI_PROMPT_NAME = 'gen_ai.prompt.name';
export const ATTR_GEN_AI_TOOL_CALL_ARGUMENTS = 'gen_ai.tool.call.arguments';
export const ATTR_GEN_AI_TOOL_CALL_RESULT = 'gen_ai.tool.call.result';
export const GEN_AI_OPERATION_NAME_VALUE_EXECUTE_TOOL = 'execute_tool';
/** `error.type` value for a tool result with `isError: true`. */
export const ERROR_TYPE_VALUE_TOOL_ERROR = 'tool_error';
/** `error.type` of a request the peer cancelled (`notifications/cancelled`) before its response. */
export const ERROR_TYPE_VALUE_CANCELLED = 'cancelled';
/** `error.type` of a request still open when its transport closed. */
export const ERROR_TYPE_VALUE_CONNECTION_CLOSED = 'connection_closed';
/** `error.type` when no better class is known (the OTel conventions' fallback). */
export const ERROR_TYPE_VALUE_OTHER = '_OTHER';
/** `error.type` of a flow tool whose flow ran out of its `timeoutMs`. */
export const ERROR_TYPE_VALUE_TIMEOUT = 'timeout';

export const METRIC_MCP_SERVER_OPERATION_DURATION = 'mcp.server.operation.duration';
export const METRIC_MCP_CLIENT_OPERATION_DURATION = 'mcp.client.operation.duration';
export const METRIC_MCP_SERVER_SESSION_DURATION = 'mcp.server.session.duration';
export const METRIC_MCP_CLIENT_SESSION_DURATION = 'mcp.client.session.duration';

// Stable names, copied as plain strings so the tracer needs no package but @opentelemetry/api.
export const ATTR_ERROR_TYPE = 'error.type';
export const ATTR_NETWORK_TRANSPORT = 'network.transport';
export const ATTR_NETWORK_PROTOCOL_NAME = 'network.protocol.name';
export const ATTR_NETWORK_PROTOCOL_VERSION = 'network.protocol.version';
export const ATTR_CLIENT_ADDRESS = 'client.address';
export const ATTR_CLIENT_PORT = 'client.port';
export const ATTR_EXCEPTION_MESSAGE = 'exception.message';
export const ATTR_EXCEPTION_STACKTRACE = 'exception.stacktrace';
export const ATTR_EXCEPTION_TYPE = 'exception.type';
export const ATTR_SERVICE_INSTANCE_ID = 'service.instance.id';
export const ATTR_SERVICE_NAME = 'service.name';
