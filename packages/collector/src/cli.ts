#!/usr/bin/env node
import { createCollector } from './app.js';
import { HELP, parseCli, UsageError } from './cli-options.js';
import { describeDb } from './store/open.js';
import { PostgresEngine } from './store/postgres/engine.js';
import { DatabaseInUseError } from './store/sqlite/engine.js';

async function main(): Promise<void> {
  let config;
  try {
    config = parseCli(process.argv.slice(2), process.env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`flowtrace-collector: ${error.message}\nRun with --help for the options.\n`);
    process.exit(2);
  }
  if (config.help) {
    process.stdout.write(HELP);
    return;
  }
  let collector;
  try {
    collector = createCollector(config.options);
  } catch (error) {
    // Creating the collector opens the database: a path that cannot be one is the user's to fix.
    const message = error instanceof DatabaseInUseError ? error.message : `cannot open the database ${describeDb(config.options.db)}: ${(error as Error).message}`;
    process.stderr.write(`flowtrace-collector: ${message}\nRun with --help for the options.\n`);
    process.exit(1);
  }
  let url: string;
  try {
    url = await collector.listen(config.port, config.host);
  } catch (error) {
    process.stderr.write(`flowtrace-collector: cannot listen on ${config.host}:${config.port}: ${(error as Error).message}\n`);
    await collector.close();
    process.exit(1);
  }
  process.stdout.write(`flowtrace collector listening on ${url} (OTLP/HTTP at ${url}/v1/traces, database ${describeDb(config.options.db)})\n`);
  if (collector.engine instanceof PostgresEngine) {
    collector.engine.ready().catch((error: unknown) =>
      process.stderr.write(`flowtrace-collector: PostgreSQL is not ready (${(error as Error).message}); answering 503 until it is\n`),
    );
  }
  for (const target of config.options.forward) process.stdout.write(`forwarding to ${target}\n`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`${signal}: stopping…\n`);
    collector.close().then(
      () => process.exit(0),
      (error) => {
        process.stderr.write(`flowtrace-collector: error while stopping: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

await main();
