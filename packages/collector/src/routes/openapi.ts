import { FIRST_PAGE_NODES, WHOLE_RECORD_NODES } from '../read/executions.js';
import { Type, type TObject, type TSchema } from '@sinclair/typebox';
import {
  ErrorInfo,
  ErrorKind,
  ExecutionListItem,
  ExecutionListQuery,
  ExecutionNode,
  ExecutionPage,
  ExecutionRecord,
  ExecutionStatus,
  FlowList,
  FlowListQuery,
  FlowMetrics,
  FlowSummary,
  Health,
  MetricsBucket,
  MetricsBucketSize,
  MetricsQuery,
  NodePage,
  NodePageQuery,
  NodeStatus,
  Problem,
  Trace,
  TraceId,
} from '../contract/index.js';

/** The two detail endpoints: the same record, found with or without its flow. */
function detail(summary: string, parameters: unknown[]) {
  return { summary, description: WHOLE_RECORD, parameters, responses: { 200: answer(ExecutionRecord, 'The record'), 404: problem('Unknown execution') } };
}

/** What the detail endpoints return, said once for both. */
const WHOLE_RECORD =
  `The whole record up to ${WHOLE_RECORD_NODES.toLocaleString('en')} steps (\`nodeCount\`). A larger execution comes with its first ` +
  `${FIRST_PAGE_NODES.toLocaleString('en')} steps in \`nodes\`, \`data\` as it stands after them, and \`nodesNext\`: read the rest ` +
  'from GET /api/executions/{executionId}/nodes, following `next` until it is null (an export reads the whole record this way). ' +
  'Pages hold the steps still running in their places, as the whole record does, and `nodeCount` counts them.';

/**
 * OpenAPI 3.1 description of the collector's HTTP API, generated from the schemas in ../contract.
 * A test checks that every route the collector serves is described here and that real answers
 * match these schemas.
 */

/** Named schemas: each becomes components.schemas[title], and each use of it elsewhere a $ref. */
const named: TSchema[] = [
  Problem,
  ExecutionStatus,
  ErrorKind,
  NodeStatus,
  FlowSummary,
  FlowList,
  ExecutionListItem,
  ExecutionPage,
  ErrorInfo,
  ExecutionNode,
  ExecutionRecord,
  NodePage,
  MetricsBucketSize,
  MetricsBucket,
  FlowMetrics,
  Health,
  Trace,
];
const names = new Set(named.map((schema) => schema.title as string));

/** Plain JSON of a schema (TypeBox's symbol keys dropped), with named sub-schemas as $refs. */
function json(schema: unknown, top = true): unknown {
  if (Array.isArray(schema)) return schema.map((item) => json(item, false));
  if (schema === null || typeof schema !== 'object') return schema;
  const title = (schema as { title?: unknown }).title;
  if (!top && typeof title === 'string' && names.has(title)) return ref(title);
  return Object.fromEntries(Object.entries(schema).map(([key, value]) => [key, json(value, false)]));
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const content = (schema: unknown, description: string) => ({ description, content: { 'application/json': { schema } } });
const answer = (schema: TSchema, description: string) => content(json(schema, false), description);
const problem = (description: string) => answer(Problem, description);

const pathParameter = (name: string, schema: TSchema = Type.String()) => ({ name, in: 'path', required: true, schema: json(schema) });
const flowId = pathParameter('flowId');
const executionId = pathParameter('executionId');

/** Query parameters from a query schema; arrays are sent comma-separated (style form, explode false). */
function queryParameters(query: TObject) {
  return Object.entries(query.properties).map(([name, schema]) => {
    const { description, ...rest } = json(schema, false) as { description?: string; type?: unknown };
    return {
      name,
      in: 'query',
      ...(query.required?.includes(name) ? { required: true } : {}),
      ...(description ? { description } : {}),
      ...(rest.type === 'array' ? { style: 'form', explode: false } : {}),
      schema: rest,
    };
  });
}

export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'flowtrace collector',
    version: '0.1.0',
    description:
      'Execution records of pumped-fn flows and MCP tool calls, built from OpenTelemetry spans. ' +
      'When the collector runs with a token, every route but /healthz needs `Authorization: Bearer <token>`.',
  },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    schemas: Object.fromEntries(named.map((schema) => [schema.title as string, json(schema)])),
  },
  security: [{ bearer: [] }, {}],
  paths: {
    '/healthz': {
      get: { summary: 'Liveness', security: [], responses: { 200: answer(Health, 'The collector is up') } },
    },
    '/api/flows': {
      get: {
        summary: 'Flows seen, with execution counts and last status',
        parameters: queryParameters(FlowListQuery),
        responses: { 200: answer(FlowList, 'Flows') },
      },
    },
    '/api/flows/{flowId}': {
      delete: {
        summary: 'Hide a flow; its executions stay readable',
        parameters: [flowId],
        responses: { 204: { description: 'Hidden' }, 404: problem('Unknown flow') },
      },
    },
    '/api/flows/{flowId}/executions': {
      get: {
        summary: 'Executions of a flow, newest first',
        parameters: [flowId, ...queryParameters(ExecutionListQuery)],
        responses: { 200: answer(ExecutionPage, 'A page of executions'), 400: problem('A bad query parameter') },
      },
    },
    '/api/flows/{flowId}/executions/{executionId}': {
      get: detail('One execution of a flow', [flowId, executionId]),
    },
    '/api/flows/{flowId}/metrics': {
      get: {
        summary: 'Executions of a flow per time bucket: counts by status and duration percentiles',
        parameters: [flowId, ...queryParameters(MetricsQuery)],
        responses: {
          200: answer(FlowMetrics, 'Every bucket of the range, empty ones included'),
          400: problem('A bad query parameter, or more than 1000 buckets'),
        },
      },
    },
    '/api/executions/{executionId}': {
      get: detail('One execution', [executionId]),
    },
    '/api/executions/{executionId}/nodes': {
      get: {
        summary: "An execution's steps in tree order, a page at a time",
        parameters: [executionId, ...queryParameters(NodePageQuery)],
        responses: {
          200: answer(NodePage, 'Steps after the cursor'),
          400: problem('A bad cursor or limit'),
          404: problem('Unknown execution'),
        },
      },
    },
    '/api/traces/{traceId}': {
      get: {
        summary: 'Every stored span of a trace, flowtrace spans or not',
        parameters: [pathParameter('traceId', TraceId)],
        responses: { 200: answer(Trace, 'The spans'), 400: problem('Not a trace id'), 404: problem('No spans') },
      },
    },
    '/api/stream': {
      get: {
        summary: 'Live changes as Server-Sent Events',
        description:
          'Each `execution` event carries an ExecutionListItem as data (its free text clipped, see ExecutionListItem) and, as id, ' +
          '`<history>-<seq>`: the id of the database\'s history, then the change sequence number. ' +
          'Reconnect with `Last-Event-ID` (or `?lastEventId=`) to first receive every record changed since. ' +
          'When that cannot be done (more than 10,000 changes were missed, or the id is not of this history: a database that was replaced or reset, ' +
          'or a plain number from a collector before histories), a `reset` event (data `{ reason }`, id the current change) says so: ' +
          'read everything again, then follow the stream. A client that falls too far behind (its unsent events past a bound, 1 MiB by default) ' +
          'is sent `reset` with reason `this client fell behind` as its last event and disconnected; reconnect with that id.',
        parameters: [
          { name: 'flowId', in: 'query', schema: { type: 'string' } },
          { name: 'lastEventId', in: 'query', schema: { type: 'string' } },
          { name: 'Last-Event-ID', in: 'header', schema: { type: 'string' } },
        ],
        responses: {
          200: { description: 'An event stream', content: { 'text/event-stream': { schema: { type: 'string' } } } },
          400: problem('A Last-Event-ID this stream never sent'),
          503: problem('As many streams as the collector serves at once (`maxStreams`) are open: retry after the Retry-After header'),
        },
      },
    },
    '/api/openapi.json': {
      get: { summary: 'This document', responses: { 200: content({ type: 'object' }, 'OpenAPI 3.1') } },
    },
    '/': {
      get: { summary: "The Usage page: every flow's Usage tab", security: [], responses: { 200: { description: 'HTML' } } },
    },
    '/viewer/flowtrace-viewer.js': {
      get: {
        summary: 'The viewer bundle (ES module)',
        security: [],
        responses: { 200: { description: 'JavaScript' }, 404: problem('Viewer not installed') },
      },
    },
    '/viewer/flowtrace-viewer.js.map': {
      get: { summary: 'Its source map', security: [], responses: { 200: { description: 'JSON' }, 404: problem('No source map') } },
    },
    '/v1/traces': {
      post: {
        summary: 'OTLP/HTTP trace export (protobuf or JSON, optionally gzip)',
        requestBody: {
          required: true,
          content: { 'application/x-protobuf': { schema: { type: 'string' } }, 'application/json': { schema: { type: 'object' } } },
        },
        responses: {
          200: { description: 'Stored: `{}`, or `partialSuccess` when spans were rejected' },
          400: { description: 'Undecodable body (google.rpc.Status)' },
          413: { description: 'Body over the limit after inflation' },
          415: { description: 'Unsupported content type or encoding' },
          503: { description: 'Busy: retry after the Retry-After header' },
        },
      },
    },
  },
};
