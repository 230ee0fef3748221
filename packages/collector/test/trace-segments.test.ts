import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as sc from '@flowtrace/semconv';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { routeSpans } from '../src/ingest/route.js';
import { ExecutionRules } from '../src/ingest/rules.js';
import type { OwnershipConflict } from '../src/ingest/ownership.js';
import type { Span } from '../src/otlp/span.js';
import { SqliteEngine } from '../src/store/sqlite/engine.js';
import { decodedSpan } from './support/decoded-span.js';

/** Past one segment of the SQLite identity index (8,192 spans a trace key). */
const STEPS = 9_000;
const BATCH = 512;
const TRACE = 'a1'.repeat(16);
const START_MS = Date.UTC(2026, 0, 1);

function span(spanId: string, attributes: Span['attributes'], offsetMs: number, parentSpanId?: string): Span {
  const name = attributes[sc.ATTR_EXECUTION_ROOT] ? 'import' : `step-${offsetMs}`;
  return decodedSpan({ traceId: TRACE, spanId, parentSpanId, name, serviceName: 'importer', startMs: START_MS + offsetMs, durationMs: 0.5, attributes });
}

const rootId = 'f'.repeat(16);
/** Steps of execution `id`, with span ids that sort in no particular order, then its own span. */
function execution(id: string): Span[] {
  const steps = Array.from({ length: STEPS }, (_, i) =>
    span(((i * 2654435761) % 2 ** 32).toString(16).padStart(8, '0') + i.toString(16).padStart(8, '0'), { [sc.ATTR_EXECUTION_ID]: id }, i + 1, rootId),
  );
  const root = span(rootId, { [sc.ATTR_EXECUTION_ID]: id, [sc.ATTR_EXECUTION_ROOT]: true, [sc.ATTR_FLOW_ID]: 'import', [sc.ATTR_FLOW_NAME]: 'import' }, 0);
  return [...steps, root];
}

describe('a trace larger than one segment of the SQLite identity index', () => {
  let dir: string;
  let engine: SqliteEngine;
  let rules: ExecutionRules;
  let conflicts: OwnershipConflict[];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'flowtrace-segments-'));
    engine = new SqliteEngine({ path: join(dir, 'flowtrace.db') });
    conflicts = [];
    rules = new ExecutionRules(engine, 3_600_000, (conflict) => conflicts.push(conflict));
  });
  afterEach(async () => {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function ingest(spans: Span[]): Promise<void> {
    for (let i = 0; i < spans.length; i += BATCH) await rules.ingest(routeSpans({ spans: spans.slice(i, i + BATCH), rejected: 0, reasons: [] }), Date.now());
  }

  it('stores each span once: re-delivery and a second claim are found in any segment, and the trace reads back whole', async () => {
    const spans = execution('exec-1');
    await ingest(spans);
    // Again, late: spans of the first segment (now full) and of the second.
    await ingest([...spans.slice(0, 600), ...spans.slice(-600)]);
    expect((await engine.execution('exec-1'))!.summary.steps).toBe(STEPS);
    const stored = await engine.trace(TRACE);
    expect(stored).toHaveLength(STEPS + 1);
    expect(new Set(stored.map((s) => s.spanId)).size).toBe(STEPS + 1);

    // The same span (first segment) claimed by another execution: the rule decides, one copy stays.
    const claimed = { ...spans[3]!, attributes: { [sc.ATTR_EXECUTION_ID]: 'exec-0' } };
    await ingest([claimed]);
    expect(conflicts).toEqual([{ traceId: TRACE, spanId: claimed.spanId, owner: 'exec-0', loser: 'exec-1' }]);
    expect(await engine.trace(TRACE)).toHaveLength(STEPS + 1);
    expect((await engine.execution('exec-1'))!.summary.steps).toBe(STEPS - 1);
  });

  it('removes the whole trace with its execution, from every segment', async () => {
    await ingest(execution('exec-1'));
    const removed = await engine.transaction((tx) => tx.removeStartedBefore(Date.UTC(2027, 0, 1), 10));
    expect(removed).toBe(1);
    expect(await engine.trace(TRACE)).toEqual([]);
  });
});
