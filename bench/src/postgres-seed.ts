import { isDeepStrictEqual } from 'node:util';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { decodeProtobuf, ExecutionRules, routeSpans, type IncomingSpan, type Span, type StorageEngine, type WriteTx } from '@flowtrace/collector';
import { syntheticExecution, type ExecutionShape, type StepShape, type TemplateParts } from './spans.js';

/**
 * The history the PostgreSQL query bench reads: the shop executions of the SQLite query bench
 * (20 flows, start marker + 5 steps + root, ~10% failing at the last step, the newest 100 still
 * running, customer c-N in flow N % 20), and the bulk of it written through the collector's own
 * rules straight into the engine, in large transactions, without its spans.
 */

export const FLOWS = 20;
export const STEPS = 5;
export const HISTORY_DAYS = 30;
export const PENDING = 100;
export const CUSTOMERS = 5_000;
const DAY = 86_400_000;

export const executionId = (i: number) => `order-${i}`;
export const flowOf = (i: number) => `flow-${String(i % FLOWS).padStart(2, '0')}`;

/** Execution i of `executions`, spread evenly over the 30 days after `originMs`, oldest first. */
export function shopExecution(i: number, executions: number, originMs: number): ExecutionShape {
  const params = { customer: `c-${i % CUSTOMERS}`, sku: `sku-${i % 1000}`, qty: (i % 5) + 1 };
  const fails = (i * 7919) % 100 < 10;
  const steps: StepShape[] = Array.from({ length: STEPS }, (_, n) =>
    fails && n === STEPS - 1
      ? { key: `s${n}`, input: [params.sku, n], error: `step s${n} failed for ${params.sku}`, durationMs: 2 }
      : { key: `s${n}`, input: [params.sku, n], output: { ok: true, step: n, value: i * n }, durationMs: 2 },
  );
  return {
    executionId: executionId(i),
    flowId: flowOf(i),
    startMs: originMs + (i / executions) * (HISTORY_DAYS * DAY - 60_000),
    params,
    steps,
    result: { orderId: `O-${i}`, total: params.qty * 12.5 },
    pending: i >= executions - PENDING,
  };
}

/**
 * As in the SQLite query bench: a four-digit customer of flow i % 20 (customer c-N runs in flow
 * N % 20), so `q` matches that customer alone (~executions / 5,000 of them).
 */
export function customerOf(i: number, executions: number): string {
  const customers = Math.min(CUSTOMERS, executions);
  const choices = Math.max(1, (customers - 1_000) / FLOWS);
  return `c-${1_000 + FLOWS * ((i * 7) % choices) + (i % FLOWS)}`;
}

/** The spans of executions `from` to `to` (exclusive), as the tracer would export them. */
export function* shopSpans(parts: TemplateParts, from: number, to: number, executions: number, originMs: number): Generator<ReadableSpan> {
  for (let i = from; i < to; i++) yield* syntheticExecution(parts, shopExecution(i, executions, originMs));
}

/**
 * A span as the collector's protobuf decoder hands it over, built from the SDK's span without
 * the round trip through bytes (which would make the bench, not the database, set the seeding
 * pace). {@link checkDecodedLikeCollector} proves it gives what `decodeProtobuf` gives.
 */
export function asDecoded(span: ReadableSpan): Span {
  const context = span.spanContext();
  const parent = span.parentSpanContext;
  const decoded: Span = {
    traceId: context.traceId,
    spanId: context.spanId,
    name: span.name,
    // OTLP numbers span kinds from 1 (internal); the SDK from 0.
    kind: span.kind + 1,
    startTimeUnixNano: nanos(span.startTime),
    endTimeUnixNano: nanos(span.endTime),
    attributes: span.attributes as Span['attributes'],
    events: span.events.map((e) => ({ name: e.name, timeUnixNano: nanos(e.time), attributes: (e.attributes ?? {}) as Span['attributes'] })),
    links: [],
    status: span.status.message === undefined ? { code: span.status.code } : { code: span.status.code, message: span.status.message },
    resource: span.resource.attributes as Span['attributes'],
    scope: { name: span.instrumentationScope.name, ...(span.instrumentationScope.version ? { version: span.instrumentationScope.version } : {}) },
    // W3C flags, with OTLP's "parent is remote: known" bit (and "is remote" when it is).
    flags: context.traceFlags | 0x100 | (parent?.isRemote ? 0x200 : 0),
  };
  if (parent) decoded.parentSpanId = parent.spanId;
  return decoded;
}

function nanos(time: unknown): string {
  const [seconds, ns] = time as [number, number];
  return seconds === 0 ? String(ns) : `${seconds}${String(ns).padStart(9, '0')}`;
}

/** Throws unless {@link asDecoded} gives exactly what the collector's decoder gives for these spans. */
export function checkDecodedLikeCollector(spans: readonly ReadableSpan[]): void {
  const viaBytes = decodeProtobuf(Buffer.from(ProtobufTraceSerializer.serializeRequest([...spans])!)).spans;
  const direct = spans.map(asDecoded);
  if (!isDeepStrictEqual(direct, viaBytes)) {
    throw new Error(`the bench's decoded spans differ from decodeProtobuf's:\n${JSON.stringify(direct[0])}\n${JSON.stringify(viaBytes[0])}`);
  }
}

/**
 * The engine as the rules see it, but storing no span: every span is new to it, so the rules
 * fold, decide and write exactly the execution rows, rollups and search entries ingest would.
 */
function withoutSpans(engine: StorageEngine): StorageEngine {
  const transaction = <T>(work: (tx: WriteTx) => Promise<T>) =>
    engine.transaction((tx) =>
      work({
        keys: (...args) => tx.keys(...args),
        executions: (...args) => tx.executions(...args),
        appendSpans: async (spans) => spans.map(() => 'new' as const),
        moveSpan: (...args) => tx.moveSpan(...args),
        executionSpans: (...args) => tx.executionSpans(...args),
        putExecutions: (...args) => tx.putExecutions(...args),
        addInstanceStart: (...args) => tx.addInstanceStart(...args),
        instanceStarts: (...args) => tx.instanceStarts(...args),
        instanceSeen: (...args) => tx.instanceSeen(...args),
        livenessOf: (...args) => tx.livenessOf(...args),
        markGone: (...args) => tx.markGone(...args),
        pendingPastDeadline: (...args) => tx.pendingPastDeadline(...args),
        pendingOfService: (...args) => tx.pendingOfService(...args),
        deleteFlow: (...args) => tx.deleteFlow(...args),
        removeStartedBefore: (...args) => tx.removeStartedBefore(...args),
        enqueueOutbox: (...args) => tx.enqueueOutbox(...args),
        leaseOutbox: (...args) => tx.leaseOutbox(...args),
        releaseOutbox: (...args) => tx.releaseOutbox(...args),
        deleteOutbox: (...args) => tx.deleteOutbox(...args),
        trimOutbox: (...args) => tx.trimOutbox(...args),
        removeOutboxBefore: (...args) => tx.removeOutboxBefore(...args),
      }),
    );
  return new Proxy(engine, { get: (target, key, receiver) => (key === 'transaction' ? transaction : Reflect.get(target, key, receiver)) });
}

/**
 * Writes the list rows of executions `from` to `to` through the collector's rules (timeout
 * `timeoutMs`, as the collector that serves them is started with), `perTransaction` executions
 * a transaction; the next batch is built while the database writes the previous one.
 */
export async function seedRowsThroughRules(
  engine: StorageEngine,
  parts: TemplateParts,
  o: { from: number; to: number; executions: number; originMs: number; timeoutMs: number; perTransaction: number },
): Promise<void> {
  checkDecodedLikeCollector([...shopSpans(parts, o.from, o.from + 1, o.executions, o.originMs)]);
  const failing = Array.from({ length: 100 }, (_, i) => o.from + i).find((i) => (i * 7919) % 100 < 10);
  if (failing !== undefined) checkDecodedLikeCollector([...shopSpans(parts, failing, failing + 1, o.executions, o.originMs)]);
  const rules = new ExecutionRules(withoutSpans(engine), o.timeoutMs);
  let writing: Promise<unknown> = Promise.resolve();
  for (let start = o.from; start < o.to; start += o.perTransaction) {
    const spans: IncomingSpan[] = routeSpans({
      spans: Array.from(shopSpans(parts, start, Math.min(start + o.perTransaction, o.to), o.executions, o.originMs), asDecoded),
      rejected: 0,
      reasons: [],
    });
    await writing;
    writing = rules.ingest(spans, Date.now());
  }
  await writing;
}
