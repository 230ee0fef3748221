import * as sc from '@flowtrace/semconv';
import { decodeStoredSpan } from '../otlp/protobuf.js';
import { nanosToMillis, type Attributes, type Span } from '../otlp/span.js';
import type { InstanceStart, Outcome, SpanRole } from '../records/aggregate.js';
import type { StoredExecution } from './engine.js';

/**
 * How every engine stores spans and executions. A span: its role as a small code, and its body as
 * protobuf without the ids its row keeps in columns and with common keys coded (stored-body.ts)
 * — a protobuf span's own bytes, or a JSON span's encoding made at decoding — or, for a span that
 * comes with neither (a converted schema-1 history), as JSON without the resource and scope kept
 * beside it. Rows written before schema 8 hold the whole protobuf span (format 1) and read as
 * they are.
 */
export const ROLE_CODE: Record<SpanRole, number> = { step: 0, root: 1, marker: 2, 'instance-start': 3, heartbeat: 3, 'other-marker': 3, 'step-marker': 4 };
export const FORMAT_PROTOBUF = 1;
export const FORMAT_JSON = 2;
export const FORMAT_STORED_PROTOBUF = 3;

export interface Origin {
  resource: Attributes;
  scope: Span['scope'];
}

export function bodyOf(span: Span, wire: Uint8Array | undefined): { format: number; body: Uint8Array } {
  if (wire) return { format: FORMAT_STORED_PROTOBUF, body: wire };
  const { resource: _resource, scope: _scope, ...own } = span;
  return { format: FORMAT_JSON, body: Buffer.from(JSON.stringify(own)) };
}

/** A stored span as both engines read it back: `spanRowColumns` with the trace id. */
export interface SpanRow {
  origin: number;
  format: number;
  body: Buffer;
  span_id: Buffer;
  trace_id: Buffer;
  parent_id: Buffer | null;
}

/** The columns of `spans` (as `table`) a SpanRow reads, but its trace id, which each engine keeps its own way. */
export function spanRowColumns(table: string): string {
  return ['origin', 'format', 'body', 'span_id', 'parent_id'].map((column) => `${table}.${column}`).join(', ');
}

export function decodeBody(row: SpanRow, origin: Origin): Span {
  const { format, body } = row;
  if (format === FORMAT_STORED_PROTOBUF) {
    return decodeStoredSpan(body, origin.resource, origin.scope, { traceId: row.trace_id, spanId: row.span_id, parentId: row.parent_id });
  }
  if (format === FORMAT_PROTOBUF) return decodeStoredSpan(body, origin.resource, origin.scope);
  return { ...(JSON.parse(Buffer.from(body).toString('utf8')) as Omit<Span, 'resource' | 'scope'>), resource: origin.resource, scope: origin.scope };
}

/** A span's start in ms, with fraction. */
export function startMsOf(span: Span): number {
  return nanosToMillis(span.startTimeUnixNano);
}

export function stepIndexOf(span: Span): number | null {
  const index = span.attributes[sc.ATTR_STEP_INDEX];
  return typeof index === 'number' ? index : null;
}

/** An execution row as every engine keeps it: key, id, and its summary and outcome as JSON. */
export interface ExecutionRow {
  id: number;
  execution_id: string;
  summary: string;
  outcome: string | null;
}

export const EXECUTION_COLUMNS = 'id, execution_id, summary, outcome';

export function storedExecution(row: ExecutionRow): StoredExecution {
  const execution: StoredExecution = { key: row.id, id: row.execution_id, summary: JSON.parse(row.summary) };
  if (row.outcome) execution.outcome = JSON.parse(row.outcome) as Outcome;
  return execution;
}

/** A process start joined with its liveness, as both engines select it (absent values are null). */
export interface InstanceRow {
  serviceName: string;
  instanceId: string;
  startedAt: number | null;
  replicaId: string | null;
  heartbeatMs: number | null;
  lastSeenAt: number | null;
}

export function instanceOf(row: InstanceRow): InstanceStart & { serviceName: string } {
  // A process heard only through heartbeats (its start marker went to a database since reset) started no later than it was seen.
  const instance: InstanceStart & { serviceName: string } = {
    serviceName: row.serviceName,
    instanceId: row.instanceId,
    startedAt: row.startedAt ?? row.lastSeenAt ?? 0,
  };
  if (row.replicaId !== null) instance.replicaId = row.replicaId;
  if (row.heartbeatMs !== null) instance.heartbeatMs = row.heartbeatMs;
  if (row.lastSeenAt !== null) instance.lastSeenAt = row.lastSeenAt;
  return instance;
}
