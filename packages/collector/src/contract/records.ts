import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { PageNumber, PageSize } from './queries.js';
import { Count, IsoTime, Millis } from './scalars.js';
import { ErrorKind, ExecutionStatus, NodeStatus } from './status.js';

/** The records the HTTP API returns and the viewer renders. */

const StepError = Type.Object({ message: Type.String(), type: Type.String(), stack: Type.Optional(Type.String()) });

/** Why an execution failed: the step whose error ended it, the step that hung, or the execution itself. */
export const ErrorInfo = Type.Composite(
  [
    StepError,
    Type.Object({
      nodeId: Type.String({ description: "Span id of the failing node (the execution's own span when no step failed)" }),
      nodeName: Type.String(),
    }),
  ],
  { title: 'ErrorInfo' },
);
export type ErrorInfo = Static<typeof ErrorInfo>;

/** One step of an execution (a child flow, an fn step, a parallel group, …). */
export const ExecutionNode = Type.Object(
  {
    id: Type.String({ description: 'Span id' }),
    parentId: Type.Union([Type.String(), Type.Null()]),
    name: Type.String(),
    kind: Type.String({ description: '`flow` · `fn` · `parallel` · `parallel-settled` · `context` · `tool`, or `span` for others' }),
    key: Type.Union([Type.String(), Type.Null()]),
    flowName: Type.Union([Type.String(), Type.Null()]),
    depth: Count,
    index: Type.Union([Type.Integer(), Type.Null()]),
    status: NodeStatus,
    startedAt: IsoTime,
    endedAt: Type.Optional(Type.String({ format: 'date-time', description: 'Absent while the step is running' })),
    durationMs: Type.Optional(Millis),
    input: Type.Optional(Type.Unknown()),
    output: Type.Optional(Type.Unknown()),
    // Present only when the tracer cut the value to its byte cap.
    inputTruncated: Type.Optional(Type.Literal(true)),
    outputTruncated: Type.Optional(Type.Literal(true)),
    error: Type.Optional(StepError),
    dataKey: Type.Union([Type.String(), Type.Null()], {
      description: "Where this step's output lands in the record's data; null when it adds nothing",
    }),
  },
  { title: 'ExecutionNode' },
);
export type ExecutionNode = Static<typeof ExecutionNode>;

export const ExecutionRecord = Type.Object(
  {
    id: Type.String(),
    flowId: Type.String(),
    flowName: Type.String(),
    toolName: Type.Optional(Type.String()),
    traceId: Type.String({ pattern: '^[0-9a-f]{32}$' }),
    serviceName: Type.String(),
    serviceInstanceId: Type.Optional(Type.String()),
    status: ExecutionStatus,
    errorKind: Type.Optional(ErrorKind),
    startedAt: IsoTime,
    endedAt: Type.Optional(
      Type.String({
        format: 'date-time',
        description: "The execution's end, or the moment it was decided without one (its budget ran out, its service restarted)",
      }),
    ),
    durationMs: Type.Optional(Millis),
    timeoutMs: Type.Number({ exclusiveMinimum: 0, description: 'The time budget the timeout rule used' }),
    cancelled: Type.Optional(
      Type.Object({ reason: Type.String(), kind: Type.String() }, { description: "Set when the execution's abort signal fired" }),
    ),
    initialParams: Type.Optional(Type.Unknown({ description: 'The input of the execution: flow input or tool arguments' })),
    nodeCount: Type.Integer({ minimum: 0, description: 'All steps of the execution, returned or not' }),
    nodes: Type.Array(ExecutionNode, {
      description: 'Steps in tree order: all of them, or the first 1000 when `nodesNext` is present',
    }),
    nodesNext: Type.Optional(
      Type.String({ description: 'Present when `nodes` is cut: the cursor for GET /api/executions/{executionId}/nodes' }),
    ),
    data: Type.Record(Type.String(), Type.Unknown(), {
      description: 'Step outputs keyed by step key (or flow name, or span name): the data after the last returned node',
    }),
    errorInfo: Type.Optional(ErrorInfo),
    result: Type.Optional(Type.Unknown()),
    tags: Type.Record(Type.String(), Type.Unknown()),
  },
  { title: 'ExecutionRecord' },
);
export type ExecutionRecord = Static<typeof ExecutionRecord>;

/**
 * Longest free text of a list row, in characters; the same rows go out on the live stream. Longer
 * text is cut to this length, its last character `…`, so that no row (or event) is larger than a
 * few kilobytes whatever a span carried; the detail endpoints keep the whole text.
 */
export const LIST_TEXT_LENGTH = { name: 120, preview: 120, errorMessage: 1000 } as const;
const CLIPPED = 'ends with `…` when the text was cut; the detail has it whole';

/** What the list shows of an execution: record fields plus a preview, nothing heavy. */
export const ExecutionListItem = Type.Composite(
  [
    Type.Pick(ExecutionRecord, ['id', 'flowId', 'status', 'errorKind', 'startedAt', 'endedAt', 'durationMs', 'timeoutMs']),
    Type.Object({
      flowName: Type.String({ maxLength: LIST_TEXT_LENGTH.name, description: `At most ${LIST_TEXT_LENGTH.name} characters: ${CLIPPED}` }),
      toolName: Type.Optional(
        Type.String({ maxLength: LIST_TEXT_LENGTH.name, description: `At most ${LIST_TEXT_LENGTH.name} characters: ${CLIPPED}` }),
      ),
      errorMessage: Type.Optional(
        Type.String({
          maxLength: LIST_TEXT_LENGTH.errorMessage,
          description: `At most ${LIST_TEXT_LENGTH.errorMessage.toLocaleString('en')} characters: ${CLIPPED} (\`errorInfo.message\`)`,
        }),
      ),
      preview: Type.String({
        maxLength: LIST_TEXT_LENGTH.preview,
        description: `A short text of the first parameter, at most ${LIST_TEXT_LENGTH.preview} characters: ${CLIPPED} (\`initialParams\`)`,
      }),
      runningStep: Type.Optional(
        Type.Object(
          {
            id: Type.String({ description: 'Span id of the step' }),
            name: Type.String({ maxLength: LIST_TEXT_LENGTH.name, description: `At most ${LIST_TEXT_LENGTH.name} characters: ${CLIPPED}` }),
            startedAt: IsoTime,
          },
          { description: 'While the execution is pending: the step it waits on (the deepest running step, the latest to start)' },
        ),
      ),
    }),
  ],
  { title: 'ExecutionListItem', additionalProperties: false },
);
export type ExecutionListItem = Static<typeof ExecutionListItem>;

export const FlowSummary = Type.Object(
  {
    flowId: Type.String(),
    flowName: Type.String(),
    executionCount: Count,
    lastStatus: Type.Union([ExecutionStatus, Type.Null()]),
    lastStartedAt: Type.Union([IsoTime, Type.Null()]),
    deleted: Type.Boolean({
      description: 'Deleted with DELETE /api/flows/{flowId}: hidden from the flow list unless `includeDeleted`. It stays deleted when new executions arrive (they are recorded; `lastStartedAt` after `deletedAt` shows them)',
    }),
    deletedAt: Type.Union([IsoTime, Type.Null()]),
  },
  { title: 'FlowSummary' },
);
export type FlowSummary = Static<typeof FlowSummary>;

export const FlowList = Type.Object({ items: Type.Array(FlowSummary) }, { title: 'FlowList' });
export type FlowList = Static<typeof FlowList>;

/** The numbers of a numbered page; `Page<T>` adds its items. */
const PageInfo = Type.Object({
  page: Type.Integer({ minimum: PageNumber.minimum }),
  limit: Type.Integer({ minimum: PageSize.minimum, maximum: PageSize.maximum }),
  total: Count,
  totalPages: Count,
});
export const Page = <T extends TSchema>(items: T, title: string) =>
  Type.Object({ items: Type.Array(items), ...PageInfo.properties }, { title });
export interface Page<T> extends Static<typeof PageInfo> {
  items: T[];
}

export const ExecutionPage = Page(ExecutionListItem, 'ExecutionPage');

/** GET /api/executions/{executionId}/nodes: steps after a cursor, in tree order. */
export const NodePage = Type.Object(
  {
    items: Type.Array(ExecutionNode),
    next: Type.Union([Type.String(), Type.Null()], { description: 'Cursor of the following steps; null after the last' }),
    total: Type.Integer({ minimum: 0, description: 'All steps of the execution' }),
  },
  { title: 'NodePage' },
);
export type NodePage = Static<typeof NodePage>;
