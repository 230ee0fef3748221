import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { Attributes, Span } from '../../otlp/span.js';
import { MISSED_HEARTBEATS, type InstanceStart } from '../../records/aggregate.js';
import type { ExecutionStatus } from '../../records/types.js';
import type { Appended, ExecutionUpdate, IncomingSpan, LeasedPayload, OutboxEntry, SpanHolder, StoredExecution, WriteTx } from '../engine.js';
import { bucketOf, HOUR, rollupEntryOf, RollupBatch, STATUS_CODE, STATUS_OF, type RollupEntry, type RollupRow } from '../rollups.js';
import { bodyOf, EXECUTION_COLUMNS, instanceOf, ROLE_CODE, startMsOf, stepIndexOf, storedExecution, type ExecutionRow, type InstanceRow, type SpanRow } from '../rows.js';
import { dayOf, dropPartitionsBefore } from './partitions.js';
import type { StatementNames } from './statements.js';
import { CHANNEL, DAY_GRAIN, spanRow } from './schema.js';

/** The columns of `spans`, in the order of the span-row query of `PostgresWriteTx.spanRows`. */
const SPAN_COLUMNS = 'part, execution, span_id, trace_id, role, parent_id, step_index, start_ms, origin, format, body';

/** Makes the executions never seen, each in the day partition of its earliest span (when known). */
const INSERT_EXECUTIONS = `INSERT INTO executions (execution_id, part, summary)
  SELECT id, part, '{"steps":0}' FROM unnest($1::text[], $2::int[]) AS t(id, part)
  ORDER BY id ON CONFLICT (execution_id) DO NOTHING`;

/**
 * One transaction on one connection. Caches of keys it creates join the engine's only when it
 * commits: a rolled-back row must not be remembered.
 */
export class PostgresWriteTx implements WriteTx {
  private readonly newFlows = new Map<string, { key: number; name: string }>();
  private readonly newOrigins = new Map<string, number>();
  /** Spans decoded from one scope of one request share their scope object: one lookup for all. */
  private readonly originOfScope = new WeakMap<object, number>();
  /** Parts of the executions this transaction locked (null: no span stored yet). */
  private readonly partsOf = new Map<number, number | null>();
  private serialised = false;

  constructor(
    private readonly client: pg.PoolClient,
    private readonly flowKeys: Map<string, { key: number; name: string }>,
    private readonly originKeys: Map<string, number>,
    private readonly decode: (rows: SpanRow[]) => Promise<Span[]>,
    private readonly names: StatementNames,
    /** Runs a statement on another connection of the pool, committed at once. */
    private readonly outside: (text: string, values: unknown[]) => Promise<unknown>,
  ) {}

  committed(): void {
    for (const [id, flow] of this.newFlows) this.flowKeys.set(id, flow);
    for (const [digest, key] of this.newOrigins) this.originKeys.set(digest, key);
  }

  private run<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<pg.QueryResult<R>> {
    return this.client.query<R>(this.names.config(text, values));
  }

  private async rows<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
    return (await this.run<R>(text, values)).rows;
  }

  /** Takes the change counter's row lock: from here to commit, writers go one at a time. */
  private async serialise(): Promise<void> {
    if (this.serialised) return;
    await this.run('SELECT seq FROM changes FOR UPDATE');
    this.serialised = true;
  }

  async keys(ids: readonly string[], firstSeen?: ReadonlyMap<string, number>): Promise<Map<string, number>> {
    const keys = new Map<string, number>();
    if (ids.length === 0) return keys;
    const sorted = [...ids].sort();
    // Committed at once on another connection: made inside this transaction, a new execution's
    // row would hold another collector naming it (a request cut inside an execution sends the
    // rest to the next collector) until this transaction commits.
    await this.outside(INSERT_EXECUTIONS, [sorted, sorted.map((id) => (firstSeen?.has(id) ? dayOf(firstSeen.get(id)!) : null))]);
    const rows = await this.rows<{ id: number; execution_id: string; part: number | null }>(
      'SELECT id, execution_id, part FROM executions WHERE execution_id = ANY($1)',
      [sorted],
    );
    for (const row of rows) {
      if (row.part !== null) this.partsOf.set(row.id, row.part);
      keys.set(row.execution_id, row.id);
    }
    return keys;
  }

  async executions(ids: readonly string[], firstSeen?: ReadonlyMap<string, number>): Promise<Map<string, StoredExecution>> {
    const found = new Map<string, StoredExecution>();
    if (ids.length === 0) return found;
    const sorted = [...ids].sort();
    // Sorted, so two collectors lock the executions they share in one order.
    const lock = () =>
      this.rows<ExecutionRow & { part: number | null }>(
        `SELECT ${EXECUTION_COLUMNS}, part FROM executions WHERE execution_id = ANY($1) ORDER BY execution_id FOR UPDATE`,
        [sorted],
      );
    let rows = await lock();
    // Ingest made its executions with keys() first: only an id never seen is made here, in the
    // day partition of its earliest span.
    if (rows.length < sorted.length) {
      await this.run(INSERT_EXECUTIONS, [sorted, sorted.map((id) => (firstSeen?.has(id) ? dayOf(firstSeen.get(id)!) : null))]);
      rows = await lock();
    }
    for (const row of rows) {
      this.partsOf.set(row.id, row.part);
      found.set(row.execution_id, storedExecution(row));
    }
    return found;
  }

  async appendSpans(spans: readonly IncomingSpan[], keys: ReadonlyMap<string, number>): Promise<Appended[]> {
    if (spans.length === 0) return [];
    const executionOf = spans.map((s) => (s.executionId === undefined ? 0 : (keys.get(s.executionId) ?? 0)));
    await this.unknownParts(executionOf);
    // An execution made without a time (or before this change) is placed by its first spans.
    const firstSeen = new Map<number, number>();
    spans.forEach(({ span }, i) => {
      const key = executionOf[i]!;
      if (key === 0 || this.partOf(key) !== null) return;
      const start = startMsOf(span);
      firstSeen.set(key, Math.min(firstSeen.get(key) ?? start, start));
    });
    if (firstSeen.size > 0) {
      const entries = [...firstSeen].map(([key, start]) => [key, dayOf(start)] as const);
      await this.run('UPDATE executions SET part = u.part FROM unnest($1::bigint[], $2::int[]) AS u(id, part) WHERE executions.id = u.id', [
        entries.map(([key]) => key),
        entries.map(([, part]) => part),
      ]);
      for (const [key, part] of entries) {
        this.partsOf.set(key, part);
      }
    }
    return this.claims(spans, executionOf, keys);
  }

  /**
   * Claims each span's identity (trace, span id) for the execution its first copy in this
   * request names, storing the spans whose claims are new; for the others,
   * what holds the span already — the same execution (a re-delivery), another one, or none —
   * which the rules decide. The unique key of `span_owners` makes a second collector claiming
   * one span wait for the first one's commit, then see its claim.
   */
  private async claims(
    spans: readonly IncomingSpan[],
    executionOf: readonly number[],
    keys: ReadonlyMap<string, number>,
  ): Promise<Appended[]> {
    /** The index of each identity's first copy in this request. */
    const firstOf = new Map<string, number>();
    spans.forEach(({ span }, i) => {
      const identity = `${span.traceId}/${span.spanId}`;
      if (!firstOf.has(identity)) firstOf.set(identity, i);
    });
    const claimed = new Set<string>();
    const holders = new Map<string, SpanHolder>();
    let unsettled = [...firstOf.keys()];
    // A holder deleted between the claim and the read (retention) leaves its identity to claim again.
    while (unsettled.length > 0) {
      for (const identity of await this.claim(unsettled.map((identity) => firstOf.get(identity)!), spans, executionOf)) claimed.add(identity);
      const rest = unsettled.filter((identity) => !claimed.has(identity));
      if (rest.length === 0) break;
      for (const [identity, holder] of await this.holdersOf(rest)) holders.set(identity, holder);
      unsettled = rest.filter((identity) => !holders.has(identity));
    }
    const idOf = new Map([...keys].map(([id, key]) => [key, id]));
    return spans.map(({ span }, i): Appended => {
      const identity = `${span.traceId}/${span.spanId}`;
      const first = firstOf.get(identity)!;
      if (claimed.has(identity) && first === i) return 'new';
      // A later copy in this request answers to the first one's claim.
      const key = executionOf[i]!;
      const holder = holders.get(identity) ?? (executionOf[first] === 0 ? { key: 0 } : { key: executionOf[first]!, id: idOf.get(executionOf[first]!)! });
      return holder.key === key || key === 0 ? 'again' : { heldBy: holder };
    });
  }

  /**
   * Inserts the owners of the spans at `which` where none is stored, and in the same statement
   * the spans whose owner it inserted: one round trip, and the span columns sent once. Returns
   * the identities now this transaction's.
   */
  private async claim(which: readonly number[], spans: readonly IncomingSpan[], executionOf: readonly number[]): Promise<string[]> {
    const { sql, values } = await this.spanRows(spans, executionOf, which);
    // Owners in key order, so two transactions claiming some spans of each other's wait, not deadlock.
    const rows = await this.rows<{ trace_id: Buffer; span_id: Buffer }>(
      `WITH u AS MATERIALIZED (${sql}),
       claimed AS (
         INSERT INTO span_owners (trace_id, span_id, execution, part)
         SELECT trace_id, span_id, execution, part FROM u ORDER BY trace_id, span_id
         ON CONFLICT (trace_id, span_id) DO NOTHING RETURNING trace_id, span_id),
       stored AS (
         INSERT INTO spans (${SPAN_COLUMNS}) SELECT ${SPAN_COLUMNS} FROM u JOIN claimed c USING (trace_id, span_id))
       SELECT trace_id, span_id FROM claimed`,
      values,
    );
    return rows.map((row) => `${row.trace_id.toString('hex')}/${row.span_id.toString('hex')}`);
  }

  /** The stored owners of these identities, locked until commit so that no one moves them meanwhile. */
  private async holdersOf(identities: readonly string[]): Promise<Map<string, SpanHolder>> {
    const [traces, spanIds] = [0, 1].map((side) => identities.map((identity) => Buffer.from(identity.split('/')[side]!, 'hex')));
    const rows = await this.rows<{ trace_id: Buffer; span_id: Buffer; execution: number; execution_id: string | null }>(
      `SELECT o.trace_id, o.span_id, o.execution, e.execution_id
       FROM span_owners o JOIN unnest($1::bytea[], $2::bytea[]) AS u(trace_id, span_id) ON o.trace_id = u.trace_id AND o.span_id = u.span_id
       LEFT JOIN executions e ON e.id = o.execution
       ORDER BY o.trace_id, o.span_id FOR UPDATE OF o`,
      [traces, spanIds],
    );
    return new Map(
      rows.map((row) => [
        `${row.trace_id.toString('hex')}/${row.span_id.toString('hex')}`,
        row.execution_id === null ? { key: row.execution } : { key: row.execution, id: row.execution_id },
      ]),
    );
  }

  async moveSpan(incoming: IncomingSpan, to: number): Promise<void> {
    const { span } = incoming;
    const [traceId, spanId] = [Buffer.from(span.traceId, 'hex'), Buffer.from(span.spanId, 'hex')];
    const part = this.partFor(span, to);
    // The owner's copy goes, and any copy stored for `to` before owners were kept (schema 6 and older).
    await this.run(
      `DELETE FROM spans s USING (SELECT part, execution FROM span_owners WHERE trace_id = $1 AND span_id = $2 UNION ALL SELECT $3::int, $4::bigint) c
       WHERE s.part = c.part AND s.execution = c.execution AND s.span_id = $2`,
      [traceId, spanId, part, to],
    );
    await this.run('UPDATE span_owners SET execution = $3, part = $4 WHERE trace_id = $1 AND span_id = $2', [traceId, spanId, to, part]);
    await this.insertSpans([incoming], [to], [0]);
  }

  async executionSpans(key: number): Promise<Span[]> {
    const part = this.partOf(key);
    if (part === undefined || part === null) return [];
    return this.decode(await this.rows<SpanRow>(`SELECT ${spanRow()} FROM spans WHERE part = $1 AND execution = $2`, [part, key]));
  }

  /** Inserts the spans at `which`, their owners already settled. */
  private async insertSpans(spans: readonly IncomingSpan[], executionOf: readonly number[], which: readonly number[]): Promise<void> {
    const { sql, values } = await this.spanRows(spans, executionOf, which);
    await this.run(`INSERT INTO spans (${SPAN_COLUMNS}) SELECT ${SPAN_COLUMNS} FROM (${sql}) u`, values);
  }

  /**
   * A query of the spans at `which` as rows of `spans`, and its parameters. Ids and bodies travel
   * as two binary parameters cut apart by the database: an array of bytea would be sent as hex
   * text, twice the bytes, parsed again.
   */
  private async spanRows(
    spans: readonly IncomingSpan[],
    executionOf: readonly number[],
    which: readonly number[],
  ): Promise<{ sql: string; values: unknown[] }> {
    const n = which.length;
    const columns = {
      part: new Array<number>(n), execution: new Array<number>(n), role: new Array<number>(n), hasParent: new Array<boolean>(n),
      stepIndex: new Array<number | null>(n), startMs: new Array<number>(n), origin: new Array<number>(n), format: new Array<number>(n),
      length: new Array<number>(n),
    };
    const ids = Buffer.alloc(n * 32);
    const bodies: Uint8Array[] = [];
    for (let j = 0; j < n; j++) {
      const i = which[j]!;
      const { span, role, wire } = spans[i]!;
      const key = executionOf[i]!;
      const { format, body } = bodyOf(span, wire);
      columns.part[j] = this.partFor(span, key);
      columns.execution[j] = key;
      ids.write(span.spanId, j * 32, 8, 'hex');
      ids.write(span.traceId, j * 32 + 8, 16, 'hex');
      columns.hasParent[j] = Boolean(span.parentSpanId);
      if (span.parentSpanId) ids.write(span.parentSpanId, j * 32 + 24, 8, 'hex');
      columns.role[j] = ROLE_CODE[role];
      columns.stepIndex[j] = stepIndexOf(span);
      columns.startMs[j] = startMsOf(span);
      columns.origin[j] = await this.originKey(span.resource, span.scope);
      columns.format[j] = format;
      columns.length[j] = body.byteLength;
      bodies.push(body);
    }
    return {
      sql: `SELECT u.part, u.execution, substring($10::bytea FROM u.i::int * 32 - 31 FOR 8) AS span_id,
              substring($10::bytea FROM u.i::int * 32 - 23 FOR 16) AS trace_id, u.role,
              CASE WHEN u.has_parent THEN substring($10::bytea FROM u.i::int * 32 - 7 FOR 8) END AS parent_id, u.step_index, u.start_ms,
              u.origin, u.format, substring($11::bytea FROM u.at FOR u.length) AS body
       FROM (SELECT *, (1 + sum(length) OVER (ORDER BY i) - length)::int AS at
             FROM unnest($1::int[], $2::bigint[], $3::smallint[], $4::bool[], $5::int[], $6::float8[], $7::int[], $8::smallint[], $9::int[])
                  WITH ORDINALITY AS t(part, execution, role, has_parent, step_index, start_ms, origin, format, length, i)) u`,
      values: [columns.part, columns.execution, columns.role, columns.hasParent, columns.stepIndex, columns.startMs, columns.origin, columns.format,
        columns.length, ids, Buffer.concat(bodies)],
    };
  }

  private partOf(key: number): number | null | undefined {
    return this.partsOf.get(key);
  }

  /** The partition a span is stored in: its execution's, or its own day's when it belongs to none. */
  private partFor(span: Span, key: number): number {
    return key === 0 ? dayOf(startMsOf(span)) : this.partOf(key)!;
  }

  /** Executions whose keys came from elsewhere than this transaction's `executions`. */
  private async unknownParts(keys: number[]): Promise<void> {
    const unknown = [...new Set(keys.filter((key) => key !== 0 && !this.partsOf.has(key)))];
    if (unknown.length === 0) return;
    for (const row of await this.rows<{ id: number; part: number | null }>('SELECT id, part FROM executions WHERE id = ANY($1) ORDER BY id FOR UPDATE', [unknown])) {
      this.partsOf.set(row.id, row.part);
    }
  }

  private async originKey(resource: Attributes, scope: Span['scope']): Promise<number> {
    const same = this.originOfScope.get(scope);
    if (same !== undefined) return same;
    const resourceText = JSON.stringify(resource);
    const scopeText = JSON.stringify(scope);
    const digest = createHash('sha256').update(resourceText).update('\0').update(scopeText).digest('base64');
    const known = this.originKeys.get(digest) ?? this.newOrigins.get(digest);
    if (known !== undefined) {
      this.originOfScope.set(scope, known);
      return known;
    }
    // DO NOTHING, not DO UPDATE: a row lock on a shared origin would serialise all collectors.
    let [row] = await this.rows<{ id: number }>(
      'INSERT INTO origins (digest, resource, scope) VALUES ($1, $2, $3) ON CONFLICT (digest) DO NOTHING RETURNING id',
      [digest, resourceText, scopeText],
    );
    row ??= (await this.rows<{ id: number }>('SELECT id FROM origins WHERE digest = $1', [digest]))[0];
    this.newOrigins.set(digest, row!.id);
    this.originOfScope.set(scope, row!.id);
    return row!.id;
  }

  async putExecutions(updates: readonly ExecutionUpdate[]): Promise<number[]> {
    const summaries = updates.filter((u) => !u.listed && !u.unlisted);
    if (summaries.length > 0) {
      await this.run('UPDATE executions SET summary = u.summary FROM unnest($1::bigint[], $2::text[]) AS u(id, summary) WHERE executions.id = u.id', [
        summaries.map((u) => u.key),
        summaries.map((u) => JSON.stringify(u.summary)),
      ]);
    }
    await this.unlist(updates.filter((u) => u.unlisted));
    const listed = updates.filter((u) => u.listed);
    if (listed.length === 0) return [];
    await this.serialise();
    const [{ seq: last }] = (await this.rows<{ seq: number }>('UPDATE changes SET seq = seq + $1 RETURNING seq', [listed.length])) as [{ seq: number }];
    const seqs = listed.map((_, i) => last - listed.length + 1 + i);
    const flowKeys = await this.flowKeysOf(listed.map((u) => [u.listed!.flowId, u.listed!.flowName] as const));
    const values = listed.map((update, i) => {
      const l = update.listed!;
      return {
        key: update.key, flow: flowKeys.get(l.flowId)!, status: STATUS_CODE[l.outcome.status], startedAt: l.startedAtMs,
        durationMs: l.durationMs ?? null, deadline: l.outcome.status === 'pending' ? l.deadline : null, service: l.serviceName,
        seq: seqs[i]!, summary: JSON.stringify(update.summary), outcome: JSON.stringify(l.outcome), search: l.searchText ?? null,
      };
    });
    const column = <K extends keyof (typeof values)[number]>(name: K) => values.map((v) => v[name]);
    // The join with the table itself reads each row as it was before this statement changed it.
    const before = await this.rows<RollupRow & { id: number }>(
      `UPDATE executions e SET flow = u.flow, status = u.status, started_at = u.started_at, duration_ms = u.duration_ms,
         deadline = u.deadline, service = u.service, seq = u.seq, summary = u.summary, outcome = u.outcome
       FROM unnest($1::bigint[], $2::int[], $3::smallint[], $4::float8[], $5::float8[], $6::float8[], $7::text[], $8::bigint[],
                   $9::text[], $10::text[])
              AS u(id, flow, status, started_at, duration_ms, deadline, service, seq, summary, outcome),
            executions o
       WHERE e.id = u.id AND o.id = u.id
       RETURNING e.id, o.flow, o.status, o.started_at, o.duration_ms`,
      [column('key'), column('flow'), column('status'), column('startedAt'), column('durationMs'), column('deadline'),
        column('service'), column('seq'), column('summary'), column('outcome')],
    );
    const previous = new Map(before.map((row) => [row.id, row]));
    // A search entry carries its execution's flow and start, so q counts and orders its matches
    // without reading their executions; they change with the head, which is rare after the first.
    const searched = values.filter((v) => v.search !== null);
    if (searched.length > 0) {
      await this.run(
        `INSERT INTO search (execution, params, flow, started_at) SELECT * FROM unnest($1::bigint[], $2::text[], $3::int[], $4::float8[]) ORDER BY 1
         ON CONFLICT (execution) DO UPDATE SET params = excluded.params, flow = excluded.flow, started_at = excluded.started_at`,
        [searched.map((v) => v.key), searched.map((v) => v.search), searched.map((v) => v.flow), searched.map((v) => v.startedAt)],
      );
    }
    const moved = values.filter((v) => v.search === null && (previous.get(v.key)?.flow !== v.flow || previous.get(v.key)?.started_at !== v.startedAt));
    if (moved.length > 0) {
      await this.run('UPDATE search SET flow = u.flow, started_at = u.started_at FROM unnest($1::bigint[], $2::int[], $3::float8[]) AS u(id, flow, started_at) WHERE execution = u.id', [
        moved.map((v) => v.key),
        moved.map((v) => v.flow),
        moved.map((v) => v.startedAt),
      ]);
    }
    const rollups = new RollupBatch();
    for (const v of values) {
      const old = previous.get(v.key);
      const after: RollupEntry = { flowKey: v.flow, startedAtMs: v.startedAt, status: STATUS_OF[v.status]! };
      if (v.durationMs !== null) after.durationMs = v.durationMs;
      rollups.move(old ? rollupEntryOf(old) : undefined, after);
    }
    await this.applyRollups(rollups);
    await this.run('SELECT pg_notify($1, $2)', [CHANNEL, String(last)]);
    return seqs;
  }

  /** Takes executions that lost their head out of the list, the counts and the search index. */
  private async unlist(updates: readonly ExecutionUpdate[]): Promise<void> {
    if (updates.length === 0) return;
    const before = await this.rows<RollupRow>(
      `UPDATE executions e SET flow = NULL, status = NULL, started_at = NULL, duration_ms = NULL, deadline = NULL, service = NULL,
         seq = NULL, outcome = NULL, summary = u.summary
       FROM unnest($1::bigint[], $2::text[]) AS u(id, summary), executions o
       WHERE e.id = u.id AND o.id = u.id
       RETURNING o.flow, o.status, o.started_at, o.duration_ms`,
      [updates.map((u) => u.key), updates.map((u) => JSON.stringify(u.summary))],
    );
    await this.run('DELETE FROM search WHERE execution = ANY($1)', [updates.map((u) => u.key)]);
    const rollups = new RollupBatch();
    for (const row of before) rollups.move(rollupEntryOf(row), undefined);
    await this.applyRollups(rollups);
  }

  /** Flow keys by flow id; the latest name wins. */
  private async flowKeysOf(flows: ReadonlyArray<readonly [string, string]>): Promise<Map<string, number>> {
    const keys = new Map<string, number>();
    const wanted = new Map<string, string>();
    for (const [id, name] of flows) {
      const known = this.newFlows.get(id) ?? this.flowKeys.get(id);
      if (known && known.name === name) keys.set(id, known.key);
      else wanted.set(id, name);
    }
    if (wanted.size > 0) {
      const entries = [...wanted].sort(([a], [b]) => (a < b ? -1 : 1));
      const rows = await this.rows<{ id: number; flow_id: string }>(
        `INSERT INTO flows (flow_id, flow_name) SELECT * FROM unnest($1::text[], $2::text[])
         ON CONFLICT (flow_id) DO UPDATE SET flow_name = excluded.flow_name RETURNING id, flow_id`,
        [entries.map(([id]) => id), entries.map(([, name]) => name)],
      );
      for (const row of rows) {
        keys.set(row.flow_id, row.id);
        this.newFlows.set(row.flow_id, { key: row.id, name: wanted.get(row.flow_id)! });
      }
    }
    return keys;
  }

  private async applyRollups(rollups: RollupBatch): Promise<void> {
    const counts = [...rollups.counts.values(), ...dayCounts(rollups)].filter((c) => c.n !== 0);
    if (counts.length > 0) {
      await this.run(
        `INSERT INTO counts (flow, grain, bucket, status, n)
         SELECT * FROM unnest($1::int[], $2::int[], $3::float8[], $4::smallint[], $5::bigint[]) ORDER BY 1, 2, 3, 4
         ON CONFLICT (flow, grain, bucket, status) DO UPDATE SET n = counts.n + excluded.n`,
        [counts.map((c) => c.flowKey), counts.map((c) => c.grain), counts.map((c) => c.bucket), counts.map((c) => c.status), counts.map((c) => c.n)],
      );
    }
    const durations = [...rollups.durations.values()].filter((d) => d.n !== 0);
    if (durations.length > 0) {
      await this.run(
        `INSERT INTO durations (flow, grain, bucket, bin, n)
         SELECT * FROM unnest($1::int[], $2::int[], $3::float8[], $4::int[], $5::bigint[]) ORDER BY 1, 2, 3, 4
         ON CONFLICT (flow, grain, bucket, bin) DO UPDATE SET n = durations.n + excluded.n`,
        [durations.map((d) => d.flowKey), durations.map((d) => d.grain), durations.map((d) => d.bucket), durations.map((d) => d.bin), durations.map((d) => d.n)],
      );
    }
    const flows = new Map<number, Record<ExecutionStatus, number>>();
    for (const f of rollups.flows.values()) {
      const row = flows.get(f.flowKey) ?? { pending: 0, fulfilled: 0, error: 0 };
      row[f.status] += f.n;
      flows.set(f.flowKey, row);
    }
    const changed = [...flows].filter(([, n]) => n.pending !== 0 || n.fulfilled !== 0 || n.error !== 0).sort(([a], [b]) => a - b);
    if (changed.length > 0) {
      await this.run(
        `UPDATE flows SET pending = pending + u.p, fulfilled = fulfilled + u.f, error = error + u.e
         FROM unnest($1::int[], $2::bigint[], $3::bigint[], $4::bigint[]) AS u(id, p, f, e) WHERE flows.id = u.id`,
        [changed.map(([id]) => id), changed.map(([, n]) => n.pending), changed.map(([, n]) => n.fulfilled), changed.map(([, n]) => n.error)],
      );
    }
  }

  async addInstanceStart(start: InstanceStart & { serviceName: string }): Promise<void> {
    await this.run(
      'INSERT INTO instances (service_name, instance_id, started_at, replica_id) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING',
      [start.serviceName, start.instanceId, start.startedAt, start.replicaId ?? null],
    );
  }

  async instanceStarts(serviceName: string): Promise<InstanceStart[]> {
    const rows = await this.rows<InstanceRow>(
      `SELECT i.service_name AS "serviceName", i.instance_id AS "instanceId", i.started_at AS "startedAt", i.replica_id AS "replicaId",
              l.heartbeat_ms AS "heartbeatMs", l.last_seen_at AS "lastSeenAt"
         FROM instances i LEFT JOIN liveness l ON l.service_name = i.service_name AND l.instance_id = i.instance_id
        WHERE i.service_name = $1`,
      [serviceName],
    );
    return rows.map(instanceOf);
  }

  // A late heartbeat never moves the last-seen time back, nor revives a process it was not after.
  async instanceSeen(seen: { serviceName: string; instanceId: string; heartbeatMs: number; at: number }): Promise<void> {
    await this.run(
      `INSERT INTO liveness (service_name, instance_id, heartbeat_ms, last_seen_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (service_name, instance_id) DO UPDATE SET
         heartbeat_ms = excluded.heartbeat_ms,
         gone_at = CASE WHEN excluded.last_seen_at > liveness.last_seen_at THEN NULL ELSE liveness.gone_at END,
         last_seen_at = greatest(liveness.last_seen_at, excluded.last_seen_at)`,
      [seen.serviceName, seen.instanceId, seen.heartbeatMs, seen.at],
    );
  }

  async livenessOf(now: number): Promise<Array<InstanceStart & { serviceName: string }>> {
    const rows = await this.rows<InstanceRow>(
      `SELECT l.service_name AS "serviceName", l.instance_id AS "instanceId", i.started_at AS "startedAt", i.replica_id AS "replicaId",
              l.heartbeat_ms AS "heartbeatMs", l.last_seen_at AS "lastSeenAt"
         FROM liveness l LEFT JOIN instances i ON i.service_name = l.service_name AND i.instance_id = l.instance_id
        WHERE l.gone_at IS NULL AND l.last_seen_at + $1 * l.heartbeat_ms < $2`,
      [MISSED_HEARTBEATS, now],
    );
    return rows.map(instanceOf);
  }

  async markGone(instances: ReadonlyArray<{ serviceName: string; instanceId: string }>, now: number): Promise<void> {
    if (instances.length === 0) return;
    await this.run(
      'UPDATE liveness SET gone_at = $1 FROM unnest($2::text[], $3::text[]) AS g(service_name, instance_id) WHERE liveness.service_name = g.service_name AND liveness.instance_id = g.instance_id',
      [now, instances.map((i) => i.serviceName), instances.map((i) => i.instanceId)],
    );
  }

  async pendingPastDeadline(now: number, limit: number): Promise<StoredExecution[]> {
    // SKIP LOCKED: collectors reconciling at once take disjoint rows, so each decision is made once.
    const rows = await this.rows<ExecutionRow>(
      `SELECT ${EXECUTION_COLUMNS} FROM executions WHERE status = 0 AND deadline <= $1 ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED`,
      [now, limit],
    );
    return rows.map((row) => this.locked(row));
  }

  async pendingOfService(serviceName: string): Promise<StoredExecution[]> {
    const rows = await this.rows<ExecutionRow>(`SELECT ${EXECUTION_COLUMNS} FROM executions WHERE status = 0 AND service = $1 ORDER BY id FOR UPDATE`, [serviceName]);
    return rows.map((row) => this.locked(row));
  }

  private locked(row: ExecutionRow): StoredExecution {
    if (!this.partsOf.has(row.id)) this.partsOf.set(row.id, null);
    return storedExecution(row);
  }

  async deleteFlow(flowId: string, now: number): Promise<boolean> {
    return ((await this.run('UPDATE flows SET deleted_at = $1 WHERE flow_id = $2', [now, flowId])).rowCount ?? 0) > 0;
  }

  async removeStartedBefore(cutoff: number, limit: number): Promise<number> {
    // Whole days first: dropping a partition costs nothing per span.
    await dropPartitionsBefore(this.client, dayOf(cutoff));
    const rows = await this.rows<{ id: number; part: number | null; flow: number; status: number; started_at: number; duration_ms: number | null }>(
      // Per flow, through the list index: no index of its own to keep up on every write.
      `SELECT id, part, flow, status, started_at, duration_ms FROM executions
       WHERE flow = ANY(ARRAY(SELECT id FROM flows)) AND flow IS NOT NULL AND started_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED`,
      [cutoff, limit],
    );
    if (rows.length < limit) await this.removeOrphanOwners(dayOf(cutoff), limit * ORPHANS_PER_EXECUTION);
    if (rows.length === 0) return 0;
    await this.serialise();
    const withSpans = rows.filter((row) => row.part !== null);
    const traces = await this.rows<{ trace_id: Buffer }>(
      `WITH gone AS (
         DELETE FROM spans s USING unnest($1::int[], $2::bigint[]) AS u(part, execution)
         WHERE s.part = u.part AND s.execution = u.execution RETURNING s.trace_id, s.span_id, s.execution)
       DELETE FROM span_owners o USING gone
       WHERE o.trace_id = gone.trace_id AND o.span_id = gone.span_id AND o.execution = gone.execution RETURNING o.trace_id`,
      [withSpans.map((row) => row.part), withSpans.map((row) => row.id)],
    );
    await this.run('DELETE FROM executions WHERE id = ANY($1)', [rows.map((row) => row.id)]);
    await this.run('DELETE FROM search WHERE execution = ANY($1)', [rows.map((row) => row.id)]);
    const rollups = new RollupBatch();
    for (const row of rows) rollups.move(rollupEntryOf(row), undefined);
    await this.applyRollups(rollups);
    const traceIds = [...new Map(traces.map((t) => [t.trace_id.toString('hex'), t.trace_id])).values()];
    if (traceIds.length > 0) {
      // Spans of no execution go with the last execution of their trace.
      await this.run(
        `WITH gone AS (
           DELETE FROM span_owners o WHERE o.trace_id = ANY($1::bytea[]) AND o.execution = 0
           AND NOT EXISTS (SELECT 1 FROM span_owners x WHERE x.trace_id = o.trace_id AND x.execution <> 0) RETURNING o.part, o.span_id)
         DELETE FROM spans s USING gone WHERE s.part = gone.part AND s.execution = 0 AND s.span_id = gone.span_id`,
        [traceIds],
      );
    }
    return rows.length;
  }

  /**
   * Deletes up to `limit` owners of spans that are gone with their day partition: a batch per
   * retention pass, after the executions, so no transaction holds many of them. An owner whose
   * span is still stored (in the default partition, deleted with its execution) stays.
   */
  private async removeOrphanOwners(day: number, limit: number): Promise<void> {
    await this.run(
      `DELETE FROM span_owners WHERE (trace_id, span_id) IN (
         SELECT o.trace_id, o.span_id FROM span_owners o WHERE o.part < $1
         AND NOT EXISTS (SELECT 1 FROM spans s WHERE s.part = o.part AND s.execution = o.execution AND s.span_id = o.span_id)
         LIMIT $2)`,
      [day, limit],
    );
  }

  async enqueueOutbox(entries: readonly OutboxEntry[], now: number): Promise<void> {
    if (entries.length === 0) return;
    // Payloads go as binary parameters: an array of bytea would be sent as hex text, twice the size.
    const values = entries.flatMap(({ destination, contentType, payload }) => [destination, now, contentType, payload.byteLength, payload]);
    const rows = entries.map((_, i) => `($${i * 5 + 1}, $${i * 5 + 2}, $${i * 5 + 3}, $${i * 5 + 4}, $${i * 5 + 5})`);
    await this.run(`INSERT INTO outbox (destination, queued_at, content_type, bytes, payload) VALUES ${rows.join(', ')}`, values);
  }

  async leaseOutbox(destination: string, limit: number, until: number, now: number): Promise<LeasedPayload[]> {
    // SKIP LOCKED: collectors sharing the database lease disjoint payloads without waiting on each other.
    const rows = await this.rows<{ id: number; content_type: string; payload: Buffer }>(
      `UPDATE outbox SET leased_until = $3 WHERE id IN (
         SELECT id FROM outbox WHERE destination = $1 AND leased_until <= $4 ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)
       RETURNING id, content_type, payload`,
      [destination, limit, until, now],
    );
    return rows.sort((a, b) => a.id - b.id).map((row) => ({ id: row.id, contentType: row.content_type, payload: row.payload }));
  }

  async releaseOutbox(ids: readonly number[]): Promise<void> {
    await this.run('UPDATE outbox SET leased_until = 0 WHERE id = ANY($1::bigint[])', [ids]);
  }

  async deleteOutbox(ids: readonly number[]): Promise<void> {
    await this.run('DELETE FROM outbox WHERE id = ANY($1::bigint[])', [ids]);
  }

  async trimOutbox(destination: string, maxBytes: number): Promise<number> {
    // The newest payloads whose bytes add up to at most the cap are kept; the first one past it and older go.
    const result = await this.run(
      `DELETE FROM outbox WHERE destination = $1 AND id <= (
         SELECT id FROM (SELECT id, sum(bytes) OVER (ORDER BY id DESC) AS newer FROM outbox WHERE destination = $1) AS w
         WHERE newer > $2 ORDER BY id DESC LIMIT 1)`,
      [destination, maxBytes],
    );
    return result.rowCount ?? 0;
  }

  async removeOutboxBefore(cutoff: number): Promise<number> {
    return (await this.run('DELETE FROM outbox WHERE queued_at < $1', [cutoff])).rowCount ?? 0;
  }
}

/** Owners of dropped partitions' spans deleted per retention pass, per execution of its batch. */
const ORPHANS_PER_EXECUTION = 20;

/** The day rows of `counts` (this engine's alone) that move with the batch's hour rows. */
function dayCounts(rollups: RollupBatch): Array<{ flowKey: number; grain: number; bucket: number; status: number; n: number }> {
  const days = new Map<string, { flowKey: number; grain: number; bucket: number; status: number; n: number }>();
  for (const c of rollups.counts.values()) {
    if (c.grain !== HOUR) continue;
    const bucket = bucketOf(c.bucket, DAY_GRAIN);
    const key = `${c.flowKey}/${bucket}/${c.status}`;
    const day = days.get(key) ?? { flowKey: c.flowKey, grain: DAY_GRAIN, bucket, status: c.status, n: 0 };
    day.n += c.n;
    days.set(key, day);
  }
  return [...days.values()];
}
