import { createHash } from 'node:crypto';
import type pg from 'pg';

/** Past this many distinct texts, new ones go unnamed: each connection keeps every statement it prepared. */
const MAX_NAMED = 1000;
/** What PostgreSQL can prepare; utility statements (BEGIN, LISTEN, DDL) it cannot. */
const PREPARABLE = /^\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b/i;

/**
 * Names the engine's statements, so that each connection parses (and, once PostgreSQL settles
 * on a generic plan, plans) a statement once rather than on every call. The engine's texts are
 * made of fixed fragments with every value bound, so there are few of them. A text's name is
 * derived from the text itself: the same name always means the same statement, on any
 * connection and in any collector.
 *
 * Off (`enabled: false`) for a pooler that cannot follow named statements across server
 * connections (PgBouncer before 1.21, or with `max_prepared_statements = 0`).
 */
export class StatementNames {
  private readonly names = new Map<string, string>();

  constructor(private readonly enabled: boolean) {}

  /** The query to send for `text` with `values`: named when it can be. */
  config(text: string, values: unknown[] = []): pg.QueryConfig {
    const name = this.enabled ? this.nameOf(text) : undefined;
    return name === undefined ? { text, values } : { name, text, values };
  }

  private nameOf(text: string): string | undefined {
    const known = this.names.get(text);
    if (known !== undefined || this.names.size >= MAX_NAMED || !PREPARABLE.test(text)) return known;
    const name = `flowtrace_${createHash('sha256').update(text).digest('base64url').slice(0, 22)}`;
    this.names.set(text, name);
    return name;
  }
}
