import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { startPostgres, type PostgresServer } from '@flowtrace/test-servers';
import { afterAll, beforeAll } from 'vitest';
import { startCli } from './cli.js';

/**
 * For a test file of collector processes on PostgreSQL: a server of the file's own, started
 * before its tests, and every collector it started killed and the server removed after them.
 */
export function postgresForCollectors() {
  let server: PostgresServer | undefined;
  const children: ChildProcess[] = [];
  beforeAll(async () => {
    server = await startPostgres();
  }, 120_000);
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await server?.close();
  });
  return {
    get server(): PostgresServer {
      return server!;
    },
    /** Collector processes on one database, started at once. */
    async collectors(count: number, db: string, ...args: string[]) {
      const started = await Promise.all(Array.from({ length: count }, () => startCli(['--db', db, ...args])));
      children.push(...started.map((s) => s.child));
      return started;
    },
  };
}

/** Stops a collector the way an operator does, and waits for it to exit. */
export async function stopCollector(child: ChildProcess): Promise<void> {
  child.kill('SIGINT');
  if (child.exitCode === null) await once(child, 'exit');
}
