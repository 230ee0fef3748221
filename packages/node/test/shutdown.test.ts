import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { diag, DiagLogLevel, type DiagLogger } from '@opentelemetry/api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTracing } from '../src/index.js';
import { clearOtelEnv, restoreEnv } from './support/env.js';
import { runTraced } from './support/flow.js';

/** A loopback URL nothing listens on: connections to it are refused. */
async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

let errors: string[] = [];
let unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
const logger: DiagLogger = {
  error: (message, ...args) => errors.push([message, ...args.map(String)].join(' ')),
  warn: () => undefined,
  info: () => undefined,
  debug: () => undefined,
  verbose: () => undefined,
};

beforeEach(() => {
  clearOtelEnv();
  errors = [];
  unhandled = [];
  diag.setLogger(logger, DiagLogLevel.ERROR);
  process.on('unhandledRejection', onUnhandled);
});
afterEach(() => {
  process.off('unhandledRejection', onUnhandled);
  diag.disable();
  restoreEnv();
});

describe('shutdown with a destination down', () => {
  it('resolves after the flush fails, and reports the failure through diag', async () => {
    const dead = await deadUrl();
    const handle = startTracing({
      serviceName: 'orders',
      collectorUrl: dead,
      collectorBatch: { exportTimeoutMillis: 300 },
      exporters: [{ url: `${dead}/v1/traces` }],
      exporterBatch: { exportTimeoutMillis: 300 },
    });
    await expect(runTraced(handle)).resolves.toBeUndefined();
    expect(errors.some((e) => e.includes('flowtrace: shutdown could not send every span'))).toBe(true);
    expect(unhandled).toEqual([]);
  });

  it('gives up after shutdownTimeoutMillis while the exporter still retries, and says so', async () => {
    const dead = await deadUrl();
    const handle = startTracing({ serviceName: 'orders', collectorUrl: dead, shutdownTimeoutMillis: 500 });
    const started = Date.now();
    await expect(runTraced(handle)).resolves.toBeUndefined();
    // The exporter retries a refused connection for ~13 s; shutdown returned long before.
    expect(Date.now() - started).toBeLessThan(5000);
    expect(errors.some((e) => e.includes('flowtrace: shutdown gave up after 500 ms'))).toBe(true);
    expect(unhandled).toEqual([]);
  });

  it('lets the process end normally, the report on stderr when OTEL_LOG_LEVEL asks for it', async () => {
    // A process of its own: DiagConsoleLogger writes with the console methods of its load time,
    // and the exit code shows that nothing was left unhandled.
    const dead = await deadUrl();
    const script = `
      import { createScope, custom, flow } from '@pumped-fn/core-next';
      import { startTracing } from '@flowtrace/node';
      import { createTracingExtension } from '@flowtrace/tracer';
      const tracing = startTracing({ serviceName: 'orders', collectorUrl: '${dead}', collectorBatch: { exportTimeoutMillis: 300 } });
      const one = flow({ name: 'one', input: custom(), output: custom() }, async () => 1);
      await createScope({ extensions: [createTracingExtension()] }).exec({ flow: one, input: 0 });
      await tracing.shutdown();
      console.log('shut down');
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      env: { ...process.env, OTEL_LOG_LEVEL: 'error' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const [code] = await once(child, 'exit');
    expect(stdout).toContain('shut down');
    expect(stderr).toContain('flowtrace: shutdown could not send every span');
    expect(code).toBe(0);
  }, 20_000);
});
