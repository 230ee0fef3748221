import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCollector, type CollectorOptions } from '../../src/app.js';

/** A real collector on a loopback port with a real SQLite file in a fresh temp directory. */
export async function startCollector(options: CollectorOptions = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'flowtrace-test-'));
  const db = join(dir, 'flowtrace.db');
  const collector = createCollector({ db, reconcileIntervalMs: 0, log: () => {}, ...options });
  const url = await collector.listen(0, '127.0.0.1');
  return {
    collector,
    url,
    db,
    dir,
    async close() {
      await collector.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function getJson(url: string, init?: RequestInit): Promise<{ status: number; body: any }> {
  const response = await fetch(url, init);
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}
