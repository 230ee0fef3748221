import { diag, DiagLogLevel } from '@opentelemetry/api';
import { afterEach, beforeEach } from 'vitest';
import { clearOtelEnv, restoreEnv } from './env.js';

/**
 * Collects OTel `diag` messages (the spool's reports among them) for each test, from no
 * `OTEL_*` variables, and the process's unhandled rejections; both are reset after each test.
 */
export function spoolDiagnostics() {
  const seen = { messages: [] as string[], unhandled: [] as unknown[] };
  const onUnhandled = (reason: unknown) => seen.unhandled.push(reason);
  const keep = (level: string) => (message: string) => seen.messages.push(`${level} ${message}`);
  beforeEach(() => {
    clearOtelEnv();
    seen.messages.length = 0;
    seen.unhandled.length = 0;
    // Debug level: the spool reports each kind once at its level, and the repeats at debug.
    diag.setLogger({ error: keep('error'), warn: keep('warn'), info: keep('info'), debug: keep('debug'), verbose: () => undefined }, DiagLogLevel.DEBUG);
    process.on('unhandledRejection', onUnhandled);
  });
  afterEach(() => {
    process.off('unhandledRejection', onUnhandled);
    diag.disable();
    restoreEnv();
  });
  return {
    ...seen,
    matching: (pattern: RegExp) => seen.messages.filter((message) => pattern.test(message)),
  };
}
