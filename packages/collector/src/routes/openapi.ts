/**
 * OpenAPI 3.1 description of the collector's HTTP API. A test checks that every route the
 * collector serves is described here and that real answers match these schemas.
 */
const string = { type: 'string' } as const;
const time = { type: 'string', format: 'date-time' } as const;
const status = { type: 'string', enum: ['pending', 'fulfilled', 'error'] } as const;
const errorKind = { type: 'string', enum: ['exception', 'tool_error', 'timeout', 'cancelled', 'interrupted'] } as const;
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: object, description: string) => ({ description, content: { 'application/json': { schema } } });
const problem = (description: string) => json(ref('Problem'), description);
const flowId = { name: 'flowId', in: 'path', required: true, schema: string };
const executionId = { name: 'executionId', in: 'path', required: true, schema: string };

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
    schemas: {
      Problem: {
        type: 'object',
        required: ['error', 'message'],
        properties: { error: string, message: string },
      },
      FlowSummary: {
        type: 'object',
        required: ['flowId', 'flowName', 'executionCount', 'lastStatus', 'lastStartedAt', 'deleted'],
        properties: {
          flowId: string,
          flowName: string,
          executionCount: { type: 'integer', minimum: 0 },
          lastStatus: { anyOf: [status, { type: 'null' }] },
          lastStartedAt: { anyOf: [time, { type: 'null' }] },
          deleted: { type: 'boolean' },
        },
      },
      ExecutionListItem: {
        type: 'object',
        required: ['id', 'flowId', 'flowName', 'status', 'startedAt', 'timeoutMs', 'preview'],
        properties: {
          id: string,
          flowId: string,
          flowName: string,
          toolName: string,
          status,
          errorKind,
          errorMessage: string,
          startedAt: time,
          endedAt: time,
          durationMs: { type: 'number', minimum: 0 },
          timeoutMs: { type: 'number', exclusiveMinimum: 0 },
          preview: { type: 'string', description: 'A short text of the first parameter' },
        },
        additionalProperties: false,
      },
      ExecutionPage: {
        type: 'object',
        required: ['items', 'page', 'limit', 'total', 'totalPages'],
        properties: {
          items: { type: 'array', items: ref('ExecutionListItem') },
          page: { type: 'integer', minimum: 1 },
          limit: { type: 'integer', minimum: 1, maximum: 100 },
          total: { type: 'integer', minimum: 0 },
          totalPages: { type: 'integer', minimum: 0 },
        },
      },
      ErrorInfo: {
        type: 'object',
        required: ['message', 'type', 'nodeId', 'nodeName'],
        properties: { message: string, type: string, stack: string, nodeId: string, nodeName: string },
      },
      ExecutionNode: {
        type: 'object',
        required: ['id', 'parentId', 'name', 'kind', 'key', 'flowName', 'depth', 'index', 'status', 'startedAt', 'endedAt', 'durationMs', 'dataKey'],
        properties: {
          id: string,
          parentId: { type: ['string', 'null'] },
          name: string,
          kind: string,
          key: { type: ['string', 'null'] },
          flowName: { type: ['string', 'null'] },
          depth: { type: 'integer', minimum: 0 },
          index: { type: ['integer', 'null'] },
          status: { type: 'string', enum: ['fulfilled', 'error'] },
          startedAt: time,
          endedAt: time,
          durationMs: { type: 'number', minimum: 0 },
          input: {},
          output: {},
          inputTruncated: { const: true },
          outputTruncated: { const: true },
          error: {
            type: 'object',
            required: ['message', 'type'],
            properties: { message: string, type: string, stack: string },
          },
          dataKey: { type: ['string', 'null'], description: "Where this step's output lands in the record's data" },
        },
      },
      ExecutionRecord: {
        type: 'object',
        required: ['id', 'flowId', 'flowName', 'traceId', 'serviceName', 'status', 'startedAt', 'timeoutMs', 'nodes', 'data', 'tags'],
        properties: {
          id: string,
          flowId: string,
          flowName: string,
          toolName: string,
          traceId: { type: 'string', pattern: '^[0-9a-f]{32}$' },
          serviceName: string,
          serviceInstanceId: string,
          status,
          errorKind,
          startedAt: time,
          endedAt: time,
          durationMs: { type: 'number', minimum: 0 },
          timeoutMs: { type: 'number' },
          cancelled: { type: 'object', required: ['reason', 'kind'], properties: { reason: string, kind: string } },
          initialParams: {},
          nodes: { type: 'array', items: ref('ExecutionNode') },
          data: { type: 'object' },
          errorInfo: ref('ErrorInfo'),
          result: {},
          tags: { type: 'object' },
        },
      },
      Trace: {
        type: 'object',
        required: ['traceId', 'spans'],
        properties: { traceId: string, spans: { type: 'array', items: { type: 'object' } } },
      },
    },
  },
  security: [{ bearer: [] }, {}],
  paths: {
    '/healthz': {
      get: { summary: 'Liveness', security: [], responses: { 200: json({ type: 'object' }, 'The collector is up') } },
    },
    '/api/flows': {
      get: {
        summary: 'Flows seen, with execution counts and last status',
        parameters: [{ name: 'includeDeleted', in: 'query', schema: { type: 'boolean' } }],
        responses: {
          200: json({ type: 'object', required: ['items'], properties: { items: { type: 'array', items: ref('FlowSummary') } } }, 'Flows'),
        },
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
        parameters: [
          flowId,
          { name: 'page', in: 'query', schema: { type: 'integer', minimum: 1, default: 1 } },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } },
          { name: 'status', in: 'query', schema: status },
          { name: 'from', in: 'query', description: 'Started at or after (ISO time or epoch ms)', schema: string },
          { name: 'to', in: 'query', description: 'Started before (ISO time or epoch ms)', schema: string },
          { name: 'q', in: 'query', description: 'Text searched in the initial parameters', schema: { type: 'string', maxLength: 200 } },
        ],
        responses: { 200: json(ref('ExecutionPage'), 'A page of executions'), 400: problem('A bad query parameter') },
      },
    },
    '/api/flows/{flowId}/executions/{executionId}': {
      get: {
        summary: 'One execution of a flow, in full',
        parameters: [flowId, executionId],
        responses: { 200: json(ref('ExecutionRecord'), 'The record'), 404: problem('Unknown execution') },
      },
    },
    '/api/executions/{executionId}': {
      get: {
        summary: 'One execution, in full',
        parameters: [executionId],
        responses: { 200: json(ref('ExecutionRecord'), 'The record'), 404: problem('Unknown execution') },
      },
    },
    '/api/traces/{traceId}': {
      get: {
        summary: 'Every stored span of a trace, flowtrace spans or not',
        parameters: [{ name: 'traceId', in: 'path', required: true, schema: { type: 'string', pattern: '^[0-9a-fA-F]{32}$' } }],
        responses: { 200: json(ref('Trace'), 'The spans'), 400: problem('Not a trace id'), 404: problem('No spans') },
      },
    },
    '/api/stream': {
      get: {
        summary: 'Live changes as Server-Sent Events',
        description:
          'Each `execution` event carries an ExecutionListItem as data and the change sequence number as id. ' +
          'Reconnect with `Last-Event-ID` (or `?lastEventId=`) to first receive every record changed since.',
        parameters: [
          { name: 'flowId', in: 'query', schema: string },
          { name: 'lastEventId', in: 'query', schema: string },
          { name: 'Last-Event-ID', in: 'header', schema: string },
        ],
        responses: { 200: { description: 'An event stream', content: { 'text/event-stream': { schema: string } } } },
      },
    },
    '/api/openapi.json': {
      get: { summary: 'This document', responses: { 200: json({ type: 'object' }, 'OpenAPI 3.1') } },
    },
    '/': {
      get: { summary: 'The Usage page: every flow\'s Usage tab', security: [], responses: { 200: { description: 'HTML' } } },
    },
    '/viewer/flowtrace-viewer.js': {
      get: { summary: 'The viewer bundle (ES module)', security: [], responses: { 200: { description: 'JavaScript' }, 404: problem('Viewer not installed') } },
    },
    '/viewer/flowtrace-viewer.js.map': {
      get: { summary: 'Its source map', security: [], responses: { 200: { description: 'JSON' }, 404: problem('No source map') } },
    },
    '/v1/traces': {
      post: {
        summary: 'OTLP/HTTP trace export (protobuf or JSON, optionally gzip)',
        requestBody: {
          required: true,
          content: { 'application/x-protobuf': { schema: string }, 'application/json': { schema: { type: 'object' } } },
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
} as const;
