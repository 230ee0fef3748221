import type Database from 'better-sqlite3';
import type { Span } from '../../otlp/span.js';
import type { Outcome } from '../../records/aggregate.js';
import type { ExecutionRecord } from '../../records/types.js';
import type { LegacyHistory } from '../engine.js';

/** Renames schema 1's tables out of the way, keeping its process starts for the restart rule. */
export const SCHEMA_1_ASIDE = `
  ALTER TABLE spans RENAME TO v1_spans;
  ALTER TABLE executions RENAME TO v1_executions;
  ALTER TABLE flows RENAME TO v1_flows;
  ALTER TABLE instances RENAME TO v1_instances;
  DROP INDEX IF EXISTS executions_pending_deadline;
  DROP INDEX IF EXISTS executions_pending_service;
`;

export const SCHEMA_1_INSTANCES = 'INSERT OR IGNORE INTO instances SELECT service_name, instance_id, started_at FROM v1_instances';

/**
 * Schema 1's history, read back in chunks for the rules to ingest again: its spans were kept
 * whole as JSON, so every record is re-derived under the current rules.
 */
export class Schema1History implements LegacyHistory {
  private lastExecution = 0;
  private lastForeign: [string, string] = ['', ''];
  private remaining: number;

  constructor(private readonly db: Database.Database) {
    this.remaining = db.prepare('SELECT count(*) FROM v1_executions').pluck().get() as number;
  }

  get total(): number {
    return this.remaining;
  }

  async next(executions: number): Promise<{ spans: Span[]; decided: Map<string, Outcome> } | undefined> {
    const rows = this.db
      .prepare('SELECT rowid, id, record FROM v1_executions WHERE rowid > ? ORDER BY rowid LIMIT ?')
      .raw()
      .all(this.lastExecution, executions) as Array<[number, string, string]>;
    if (rows.length > 0) {
      this.lastExecution = rows.at(-1)![0];
      const bodies = this.db.prepare('SELECT body FROM v1_spans WHERE execution_id = ?').pluck();
      const decided = new Map<string, Outcome>();
      for (const [, id, text] of rows) {
        const record = JSON.parse(text) as ExecutionRecord;
        if (record.status !== 'error' || record.endedAt) continue;
        const outcome: Outcome = { status: 'error', errorMessage: record.errorInfo?.message ?? 'failed' };
        if (record.errorKind) outcome.errorKind = record.errorKind;
        if (record.errorInfo) Object.assign(outcome, { errorType: record.errorInfo.type, errorNodeId: record.errorInfo.nodeId });
        decided.set(id, outcome);
      }
      return { spans: rows.flatMap(([, id]) => (bodies.all(id) as string[]).map((body) => JSON.parse(body) as Span)), decided };
    }
    // Then the spans that belong to no execution, in key order.
    const foreign = this.db
      .prepare('SELECT trace_id, span_id, body FROM v1_spans WHERE execution_id IS NULL AND (trace_id, span_id) > (?, ?) ORDER BY trace_id, span_id LIMIT ?')
      .raw()
      .all(...this.lastForeign, executions * 10) as Array<[string, string, string]>;
    if (foreign.length === 0) return undefined;
    const last = foreign.at(-1)!;
    this.lastForeign = [last[0], last[1]];
    return { spans: foreign.map(([, , body]) => JSON.parse(body) as Span), decided: new Map() };
  }

  async finish(): Promise<void> {
    // Deleted flows stay deleted (ingesting their executions again brought them back).
    this.db.exec(`UPDATE flows SET deleted_at = (SELECT deleted_at FROM v1_flows WHERE v1_flows.flow_id = flows.flow_id)
        WHERE flow_id IN (SELECT flow_id FROM v1_flows WHERE deleted_at IS NOT NULL);
      DROP TABLE v1_spans; DROP TABLE v1_executions; DROP TABLE v1_flows; DROP TABLE v1_instances;`);
  }
}
