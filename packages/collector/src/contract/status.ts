import { Type, type Static, type TLiteral, type TUnion } from '@sinclair/typebox';

/**
 * The status vocabulary. Each list is written once, as a schema; the runtime constants are read
 * back from it so validation, types and the OpenAPI document cannot drift apart.
 */

/** The values of a union of string literals, in schema order. */
export function literals<const T extends TLiteral<string>[]>(schema: TUnion<T>): ReadonlyArray<T[number]['const']> {
  return Object.freeze(schema.anyOf.map((member) => member.const));
}

export const ExecutionStatus = Type.Union([Type.Literal('pending'), Type.Literal('fulfilled'), Type.Literal('error')], {
  title: 'ExecutionStatus',
});
export type ExecutionStatus = Static<typeof ExecutionStatus>;
export const EXECUTION_STATUSES = literals(ExecutionStatus);

/** Why an execution is `error`. */
export const ErrorKind = Type.Union(
  [Type.Literal('exception'), Type.Literal('tool_error'), Type.Literal('timeout'), Type.Literal('cancelled'), Type.Literal('interrupted')],
  { title: 'ErrorKind' },
);
export type ErrorKind = Static<typeof ErrorKind>;
export const ERROR_KINDS = literals(ErrorKind);

/**
 * A step is `running` from its start notice until its span arrives. When the execution is
 * decided first (timed out, interrupted, cancelled), its running steps take that error.
 */
export const NodeStatus = Type.Union([Type.Literal('running'), Type.Literal('fulfilled'), Type.Literal('error')], { title: 'NodeStatus' });
export type NodeStatus = Static<typeof NodeStatus>;
export const NODE_STATUSES = literals(NodeStatus);
