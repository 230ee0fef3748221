import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { Attributes, Span } from '../../otlp/span.js';
import { MISSED_HEARTBEATS, type InstanceStart } from '../../records/aggregate.js';
import type { ExecutionStatus } from '../../records/types.js';
import type { Appended, ExecutionUpdate, IncomingSpan, LeasedPayload, OutboxEntry, SpanHolder, StoredExecution, WriteTx } from '../engine.js';
import { rollupEntryOf, RollupBatch, STATUS_CODE, STATUS_OF, type RollupEntry, type RollupRow } from '../rollups.js';
import { bodyOf, EXECUTION_COLUMNS, instanceOf, ROLE_CODE, startMsOf, stepIndexOf, storedExecution, type ExecutionRow, type InstanceRow, type SpanRow } from '../rows.js';
import { dayOf, dropPartitionsBefore } from './partitions.js';
import { CHANNEL, TRACE_LOCKS } from './schema.js';

/**
 * One transaction on one connection. Caches of keys it creates join the engine's only when it
 * commits: a rolled-back row must not be remembered.
 */
export class PostgresWriteTx implements WriteTx {
  private readonly newFlows = new Map<string, { key: number; name: string }>();
  private readonly newOrigins = new Map<string, number>();
  /** Spans decoded from one scope of one request share their scope object: one lookup for all. */
  private readonly originOfScope = new WeakMap<object, number>();
  /** Executions this transaction created: none of their spans can be stored yet but by it. */
  private readonly created = new Set<number>();
  /** Spans this transaction appended to the executions it created. */
  private readonly appendedToCreated = new Set<string>();
  /** Parts of the executions this transaction locked (null: no span stored yet). */
  private readonly partsOf = new Map<number, number | null>();
  private serialised = false;

  constructor(
    private readonly client: pg.PoolClient,
    private readonly flowKeys: Map<string, { key: number; name: string }>,
    private readonly originKeys: Map<string, number>,
    private readonly decode: (rows: SpanRow[]) => Promise<Span[]>,
  ) {}

  committed(): void {
    for (const [id, flow] of this.newFlows) this.flowKeys.set(id, flow);
    for (const [digest, key] of this.newOrigins) this.originKeys.set(digest, key);
  }

  private async rows<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
    return (await this.client.query<R>(text, values)).rows;
  }

  /** Takes the change counter's row lock: from here to commit, writers go one at a time. */
  private async serialise(): Promise<void> {
    if (this.serialised) return;
    await this.client.query('SELECT seq FROM changes FOR UPDATE');
    this.serialised = true;
  }

  async executions(ids: readonly string[], firstSeen?: ReadonlyMap<string, number>): Promise<Map<string, StoredExecution>> {
    const found = new Map<string, StoredExecution>();
    if (ids.length === 0) return found;
    const sorted = [...ids].sort();
    // Sorted, so two collectors lock the executions they share in one order. A new execution's
    // partition is the day of its earliest span.
    const created = await this.rows<{ id: number }>(
      `INSERT INTO executions (execution_id, part, summary) SELECT id, part, '{"steps":0}' FROM unnest($1::text[], $2::int[]) AS t(id, part)
       ORDER BY id ON CONFLICT (execution_id) DO NOTHING RETURNING id`,
      [sorted, sorted.map((id) => (firstSeen?.has(id) ? dayOf(firstSeen.get(id)!) : null))],
    );
    for (const { id } of created) this.created.add(id);
    const rows = await this.rows<ExecutionRow & { part: number | null }>(
      `SELECT ${EXECUTION_COLUMNS}, part FROM executions WHERE execution_id = ANY($1) ORDER BY execution_id FOR UPDATE`,
      [sorted],
    );
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
      await this.client.query('UPDATE executions SET part = u.part FROM unnest($1::bigint[], $2::int[]) AS u(id, part) WHERE executions.id = u.id', [
        entries.map(([key]) => key),
        entries.map(([, part]) => part),
      ]);
      for (const [key, part] of entries) {
        this.partsOf.set(key, part);
      }
    }
    const result = await this.claims(spans, executionOf, keys);
    // Spans of an execution this transaction created cannot be stored already for it, but by
    // this transaction: they are checked here and inserted plainly. The others go through ON CONFLICT.
    const fresh = new Array<boolean>(spans.length).fill(false);
    const plain: number[] = [];
    const checked: number[] = [];
    spans.forEach(({ span }, i) => {
      if (result[i] !== undefined) return;
      const key = executionOf[i]!;
      if (key === 0 || !this.created.has(key)) return void checked.push(i);
      const identity = `${key}/${span.spanId}`;
      if (this.appendedToCreated.has(identity)) return;
      this.appendedToCreated.add(identity);
      fresh[i] = true;
      plain.push(i);
    });
    if (plain.length > 0) await this.insertSpans(spans, executionOf, plain, false);
    if (checked.length > 0) {
      const inserted = await this.insertSpans(spans, executionOf, checked, true);
      const stored = new Set(inserted.map((row) => `${row.execution}/${row.span_id.toString('hex')}`));
      // The first of several copies in one request is the new one.
      for (const i of checked) fresh[i] = stored.delete(`${executionOf[i]}/${spans[i]!.span.spanId}`);
    }
    return spans.map((_, i) => result[i] ?? (fresh[i] ? 'new' : 'again'));
  }

  /**
   * What is stored already of each span under another execution (or none), and which copies in
   * this request name a second execution: those are not inserted, the rules decide. Unlike
   * SQLite's, this table cannot hold a unique (trace, span) key (it is partitioned by execution
   * day), so the check reads the identity index, after locking the traces (two-key advisory
   * locks, in one order) so that two collectors cannot both store copies of one span.
   */
  private async claims(spans: readonly IncomingSpan[], executionOf: readonly number[], keys: ReadonlyMap<string, number>): Promise<Array<Appended | undefined>> {
    const idOf = new Map([...keys].map(([id, key]) => [key, id]));
    const traces = [...new Set(spans.map(({ span }) => traceLockOf(span.traceId)))].sort((a, b) => a - b);
    await this.client.query('SELECT pg_advisory_xact_lock($1, t) FROM unnest($2::int[]) AS t', [TRACE_LOCKS, traces]);
    const identities = Buffer.alloc(spans.length * 24);
    spans.forEach(({ span }, i) => {
      identities.write(span.traceId, i * 24, 16, 'hex');
      identities.write(span.spanId, i * 24 + 16, 8, 'hex');
    });
    const held = await this.rows<{ i: number; execution: number; execution_id: string | null }>(
      `SELECT u.i::int AS i, s.execution, e.execution_id
       FROM generate_series(1, $2::int) AS u(i)
       JOIN spans s ON s.trace_id = substring($1::bytea FROM u.i * 24 - 23 FOR 16) AND s.span_id = substring($1::bytea FROM u.i * 24 - 7 FOR 8)
       LEFT JOIN executions e ON e.id = s.execution`,
      [identities, spans.length],
    );
    const holders = new Map<number, SpanHolder[]>();
    for (const row of held) {
      const list = holders.get(row.i - 1) ?? [];
      list.push(row.execution_id === null ? { key: row.execution } : { key: row.execution, id: row.execution_id });
      holders.set(row.i - 1, list);
    }
    const result = new Array<Appended | undefined>(spans.length);
    /** The execution of the first copy of each span this request will insert. */
    const first = new Map<string, number>();
    spans.forEach(({ span }, i) => {
      const key = executionOf[i]!;
      const stored = holders.get(i) ?? [];
      if (stored.some((h) => h.key === key) || (key === 0 && stored.length > 0)) return void (result[i] = 'again');
      const [holder] = stored.sort((a, b) => (a.id === undefined ? 1 : b.id === undefined ? -1 : a.id < b.id ? -1 : 1));
      if (holder) return void (result[i] = key === 0 ? 'again' : { heldBy: holder });
      const identity = `${span.traceId}/${span.spanId}`;
      const earlier = first.get(identity);
      if (earlier === undefined) return void first.set(identity, key);
      if (earlier === key) return;
      if (key === 0) return void (result[i] = 'again');
      result[i] = { heldBy: earlier === 0 ? { key: 0 } : { key: earlier, id: idOf.get(earlier)! } };
    });
    return result;
  }

  async moveSpan(incoming: IncomingSpan, to: number): Promise<void> {
    const { span } = incoming;
    await this.client.query('DELETE FROM spans WHERE trace_id = $1 AND span_id = $2', [Buffer.from(span.traceId, 'hex'), Buffer.from(span.spanId, 'hex')]);
    await this.insertSpans([incoming], [to], [0], false);
  }

  async executionSpans(key: number): Promise<Span[]> {
    const part = this.partOf(key);
    if (part === undefined || part === null) return [];
    return this.decode(await this.rows<SpanRow>('SELECT origin, format, body FROM spans WHERE part = $1 AND execution = $2', [part, key]));
  }

  /**
   * Inserts the spans at `which`. Ids and bodies travel as two binary parameters cut apart by
   * the database: an array of bytea would be sent as hex text, twice the bytes, parsed again.
   */
  private async insertSpans(
    spans: readonly IncomingSpan[],
    executionOf: readonly number[],
    which: readonly number[],
    checked: boolean,
  ): Promise<Array<{ execution: number; span_id: Buffer }>> {
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
      const startMs = startMsOf(span);
      const { format, body } = bodyOf(span, wire);
      columns.part[j] = key === 0 ? dayOf(startMs) : this.partOf(key)!;
      columns.execution[j] = key;
      ids.write(span.spanId, j * 32, 8, 'hex');
      ids.write(span.traceId, j * 32 + 8, 16, 'hex');
      columns.hasParent[j] = Boolean(span.parentSpanId);
      if (span.parentSpanId) ids.write(span.parentSpanId, j * 32 + 24, 8, 'hex');
      columns.role[j] = ROLE_CODE[role];
      columns.stepIndex[j] = stepIndexOf(span);
      columns.startMs[j] = startMs;
      columns.origin[j] = await this.originKey(span.resource, span.scope);
      columns.format[j] = format;
      columns.length[j] = body.byteLength;
      bodies.push(body);
    }
    return this.rows<{ execution: number; span_id: Buffer }>(
      `INSERT INTO spans (part, execution, span_id, trace_id, role, parent_id, step_index, start_ms, origin, format, body)
       SELECT u.part, u.execution, substring($10::bytea FROM u.i::int * 32 - 31 FOR 8), substring($10::bytea FROM u.i::int * 32 - 23 FOR 16),
              u.role, CASE WHEN u.has_parent THEN substring($10::bytea FROM u.i::int * 32 - 7 FOR 8) END, u.step_index, u.start_ms,
              u.origin, u.format, substring($11::bytea FROM u.at FOR u.length)
       FROM (SELECT *, (1 + sum(length) OVER (ORDER BY i) - length)::int AS at
             FROM unnest($1::int[], $2::bigint[], $3::smallint[], $4::bool[], $5::int[], $6::float8[], $7::int[], $8::smallint[], $9::int[])
                  WITH ORDINALITY AS t(part, execution, role, has_parent, step_index, start_ms, origin, format, length, i)) u
       ${checked ? 'ON CONFLICT (part, execution, span_id) DO NOTHING RETURNING execution, span_id' : ''}`,
      [columns.part, columns.execution, columns.role, columns.hasParent, columns.stepIndex, columns.startMs, columns.origin, columns.format,
        columns.length, ids, Buffer.concat(bodies)],
    );
  }

  private partOf(key: number): number | null | undefined {
    return this.partsOf.get(key);
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
      await this.client.query('UPDATE executions SET summary = u.summary FROM unnest($1::bigint[], $2::text[]) AS u(id, summary) WHERE executions.id = u.id', [
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
    const searched = values.filter((v) => v.search !== null);
    if (searched.length > 0) {
      await this.client.query(
        `INSERT INTO search (execution, params) SELECT * FROM unnest($1::bigint[], $2::text[]) ORDER BY 1
         ON CONFLICT (execution) DO UPDATE SET params = excluded.params`,
        [searched.map((v) => v.key), searched.map((v) => v.search)],
      );
    }
    const previous = new Map(before.map((row) => [row.id, row]));
    const rollups = new RollupBatch();
    for (const v of values) {
      const old = previous.get(v.key);
      const after: RollupEntry = { flowKey: v.flow, startedAtMs: v.startedAt, status: STATUS_OF[v.status]! };
      if (v.durationMs !== null) after.durationMs = v.durationMs;
      rollups.move(old ? rollupEntryOf(old) : undefined, after);
    }
    await this.applyRollups(rollups);
    await this.client.query('SELECT pg_notify($1, $2)', [CHANNEL, String(last)]);
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
    await this.client.query('DELETE FROM search WHERE execution = ANY($1)', [updates.map((u) => u.key)]);
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
    const counts = [...rollups.counts.values()].filter((c) => c.n !== 0);
    if (counts.length > 0) {
      await this.client.query(
        `INSERT INTO counts (flow, grain, bucket, status, n)
         SELECT * FROM unnest($1::int[], $2::int[], $3::float8[], $4::smallint[], $5::bigint[]) ORDER BY 1, 2, 3, 4
         ON CONFLICT (flow, grain, bucket, status) DO UPDATE SET n = counts.n + excluded.n`,
        [counts.map((c) => c.flowKey), counts.map((c) => c.grain), counts.map((c) => c.bucket), counts.map((c) => c.status), counts.map((c) => c.n)],
      );
    }
    const durations = [...rollups.durations.values()].filter((d) => d.n !== 0);
    if (durations.length > 0) {
      await this.client.query(
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
      await this.client.query(
        `UPDATE flows SET pending = pending + u.p, fulfilled = fulfilled + u.f, error = error + u.e
         FROM unnest($1::int[], $2::bigint[], $3::bigint[], $4::bigint[]) AS u(id, p, f, e) WHERE flows.id = u.id`,
        [changed.map(([id]) => id), changed.map(([, n]) => n.pending), changed.map(([, n]) => n.fulfilled), changed.map(([, n]) => n.error)],
      );
    }
  }

  async addInstanceStart(start: InstanceStart & { serviceName: string }): Promise<void> {
    await this.client.query(
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
    await this.client.query(
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
    await this.client.query(
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
    return ((await this.client.query('UPDATE flows SET deleted_at = $1 WHERE flow_id = $2', [now, flowId])).rowCount ?? 0) > 0;
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
    if (rows.length === 0) return 0;
    await this.serialise();
    const withSpans = rows.filter((row) => row.part !== null);
    const traces = await this.rows<{ trace_id: Buffer }>(
      `DELETE FROM spans s USING unnest($1::int[], $2::bigint[]) AS u(part, execution)
       WHERE s.part = u.part AND s.execution = u.execution RETURNING s.trace_id`,
      [withSpans.map((row) => row.part), withSpans.map((row) => row.id)],
    );
    await this.client.query('DELETE FROM executions WHERE id = ANY($1)', [rows.map((row) => row.id)]);
    await this.client.query('DELETE FROM search WHERE execution = ANY($1)', [rows.map((row) => row.id)]);
    const rollups = new RollupBatch();
    for (const row of rows) rollups.move(rollupEntryOf(row), undefined);
    await this.applyRollups(rollups);
    const traceIds = [...new Map(traces.map((t) => [t.trace_id.toString('hex'), t.trace_id])).values()];
    if (traceIds.length > 0) {
      // Spans of no execution go with the last execution of their trace.
      await this.client.query(
        `DELETE FROM spans s WHERE s.execution = 0 AND s.trace_id = ANY($1::bytea[])
         AND NOT EXISTS (SELECT 1 FROM spans o WHERE o.trace_id = s.trace_id AND o.execution <> 0)`,
        [traceIds],
      );
    }
    return rows.length;
  }

  async enqueueOutbox(entries: readonly OutboxEntry[], now: number): Promise<void> {
    if (entries.length === 0) return;
    // Payloads go as binary parameters: an array of bytea would be sent as hex text, twice the size.
    const values = entries.flatMap(({ destination, contentType, payload }) => [destination, now, contentType, payload.byteLength, payload]);
    const rows = entries.map((_, i) => `($${i * 5 + 1}, $${i * 5 + 2}, $${i * 5 + 3}, $${i * 5 + 4}, $${i * 5 + 5})`);
    await this.client.query(`INSERT INTO outbox (destination, queued_at, content_type, bytes, payload) VALUES ${rows.join(', ')}`, values);
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
    await this.client.query('UPDATE outbox SET leased_until = 0 WHERE id = ANY($1::bigint[])', [ids]);
  }

  async deleteOutbox(ids: readonly number[]): Promise<void> {
    await this.client.query('DELETE FROM outbox WHERE id = ANY($1::bigint[])', [ids]);
  }

  async trimOutbox(destination: string, maxBytes: number): Promise<number> {
    // The newest payloads whose bytes add up to at most the cap are kept; the first one past it and older go.
    const result = await this.client.query(
      `DELETE FROM outbox WHERE destination = $1 AND id <= (
         SELECT id FROM (SELECT id, sum(bytes) OVER (ORDER BY id DESC) AS newer FROM outbox WHERE destination = $1) AS w
         WHERE newer > $2 ORDER BY id DESC LIMIT 1)`,
      [destination, maxBytes],
    );
    return result.rowCount ?? 0;
  }

  async removeOutboxBefore(cutoff: number): Promise<number> {
    return (await this.client.query('DELETE FROM outbox WHERE queued_at < $1', [cutoff])).rowCount ?? 0;
  }
}

/** A trace's advisory lock: 32 bits of its id (a shared lock now and then only waits a little). */
function traceLockOf(traceId: string): number {
  return Number.parseInt(traceId.slice(0, 8), 16) | 0;
}
