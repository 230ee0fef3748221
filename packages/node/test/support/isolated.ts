import { afterEach, beforeEach } from 'vitest';
import { clearOtelEnv, restoreEnv } from './env.js';
import { startReceiver } from './otlp-receiver.js';

/**
 * Runs each test of the file from no `OTEL_*` variables (restoring them after it) and returns
 * how to start a loopback OTLP receiver that is closed after the test.
 */
export function isolatedTests(): () => ReturnType<typeof startReceiver> {
  let open: Array<() => Promise<void>> = [];
  beforeEach(clearOtelEnv);
  afterEach(async () => {
    for (const close of open.reverse()) await close();
    open = [];
    restoreEnv();
  });
  return async () => {
    const started = await startReceiver();
    open.push(started.close);
    return started;
  };
}
