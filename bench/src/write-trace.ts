import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import Database from 'better-sqlite3';

/**
 * Bytes a process wrote to a SQLite file and its rollback journal, told apart by the table or
 * index each page belongs to. Linux counts a process's writes (`wchar`) but not per file, let
 * alone per table; `strace` logs each `pwrite64` with its file, offset and size, and SQLite's
 * own `dbstat` table says which b-tree owns each page. So the "the search index is
 * reported separately" is measured, not estimated.
 *
 * A database page's number is its offset / page size + 1. A journal record is the page's number
 * (4 bytes), the page as it was before the transaction, and a checksum (4 bytes), written as
 * three calls: the record is counted for the page whose number was written just before it.
 * Pages are attributed to the b-tree that owns them when the run ends; a page freed and reused
 * meanwhile counts for its last owner (the runs here free next to nothing).
 */

/** Only writes stop the traced process (seccomp filter); each line starts with pid and time. */
export function straceArgs(output: string): string[] {
  return ['-f', '-qq', '--seccomp-bpf', '-e', 'trace=pwrite64', '-y', '-xx', '-s', '4', '-ttt', '-o', output];
}

/** strace is installed and may trace here (a container may forbid ptrace): it traces `true`. */
export function straceAvailable(): boolean {
  return spawnSync('strace', [...straceArgs('/dev/null'), 'true'], { stdio: 'ignore' }).status === 0;
}

export interface WritesByTree {
  /** Bytes a b-tree's pages took, in the database file and in the journal. */
  trees: Map<string, number>;
  total: number;
}

const PWRITE = /^\d+\s+([\d.]+)\s+pwrite64\(\d+<((?:\\x[0-9a-f]{2})+)>, "((?:\\x[0-9a-f]{2})*)"(?:\.\.\.)?, (\d+), (\d+)\) = (\d+)/;
const JOURNAL_RECORD_EXTRA = 8;

/** Writes logged in `traceFile` to `dbPath` and its journal at or after `since` (Unix seconds). */
export function writesByTree(traceFile: string, dbPath: string, since = 0): WritesByTree {
  const db = new Database(dbPath, { readonly: true });
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  const owner = new Map(db.prepare('SELECT pageno, name FROM dbstat').raw().all() as Array<[number, string]>);
  db.close();
  const trees = new Map<string, number>();
  const add = (tree: string, bytes: number) => trees.set(tree, (trees.get(tree) ?? 0) + bytes);
  // Journal offset of a record's page image → the page number written just before it.
  const pageAt = new Map<number, number>();
  for (const line of readFileSync(traceFile, 'utf8').split('\n')) {
    const match = PWRITE.exec(line);
    if (!match || Number(match[1]) < since) continue;
    const file = unhex(match[2]!);
    const offset = Number(match[5]);
    const bytes = Number(match[6]);
    if (file === dbPath) {
      add(owner.get(Math.floor(offset / pageSize) + 1) ?? '(free pages)', bytes);
    } else if (file === `${dbPath}-journal`) {
      if (bytes === 4) {
        pageAt.set(offset + 4, Number.parseInt(match[3]!.replace(/\\x/g, ''), 16));
        continue;
      }
      const page = pageAt.get(offset);
      pageAt.delete(offset);
      if (bytes === pageSize && page !== undefined) add(owner.get(page) ?? '(free pages)', bytes + JOURNAL_RECORD_EXTRA);
      else add('(journal headers)', bytes);
    }
  }
  // A record's page number and checksum (4-byte writes, skipped above) count with its page.
  return { trees, total: [...trees.values()].reduce((sum, n) => sum + n, 0) };
}

function unhex(escaped: string): string {
  return Buffer.from(escaped.replace(/\\x/g, ''), 'hex').toString('utf8');
}
