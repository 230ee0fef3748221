import { routeSpans } from './route.js';
import type { ExecutionRules } from './rules.js';
import type { StorageEngine } from '../store/engine.js';

/** Executions converted per transaction: small, so ingest keeps flowing in between. */
const CHUNK = 500;

/**
 * Converts history written by an older release in the background: its spans are ingested again
 * in small transactions under the current rules, with progress in the log.
 */
export async function upgradeHistory(engine: StorageEngine, rules: ExecutionRules, now: () => number, log: (m: string) => void): Promise<void> {
  const legacy = engine.legacy();
  if (!legacy) return;
  const total = legacy.total;
  log(`upgrading ${total} executions from the previous storage layout in the background`);
  let done = 0;
  let lastLog = Date.now();
  for (;;) {
    const chunk = await legacy.next(CHUNK);
    if (!chunk) break;
    await rules.ingest(routeSpans({ spans: chunk.spans, rejected: 0, reasons: [] }), now(), chunk.decided);
    done = Math.min(total, done + CHUNK);
    if (Date.now() - lastLog > 5000) {
      log(`upgrade: ${done} of ${total} executions converted`);
      lastLog = Date.now();
    }
  }
  await engine.transaction(() => legacy.finish());
  log(`upgrade finished: ${total} executions converted`);
}
