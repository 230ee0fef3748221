import { afterAll, beforeAll } from 'vitest';
import { PostgresEngine } from '../src/store/postgres/engine.js';
import { engineContract } from './support/engine-contract.js';
import { startPostgres, type PostgresServer } from '@flowtrace/postgres-server';

let server: PostgresServer;
beforeAll(async () => {
  server = await startPostgres();
}, 120_000);
afterAll(async () => {
  await server?.close();
});

engineContract('PostgreSQL', async () => {
  const engine = new PostgresEngine({ url: await server.createDatabase() });
  return { engine, cleanup: async () => {} };
});
