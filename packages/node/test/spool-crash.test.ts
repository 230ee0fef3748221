import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FILE_HEADER_BYTES } from '../src/spool/segment-format.js';
import { cleanupAfterEach } from './support/cleanup.js';
import { freePort, listExecutions, startCollectorProcess } from './support/collector-process.js';
import { inputsOf } from './support/spooled-flow.js';
import { startSpoolApp } from './support/spool-app.js';
import { until } from './support/until.js';

const cleanup = cleanupAfterEach();

function fixture() {
  const dir = mkdtempSync(join(tmpdir(), 'flowtrace-spool-crash-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  return { dir, spool: join(dir, 'spool'), db: join(dir, 'flowtrace.db') };
}

/** Bytes of batches in a replica's collector folder (segment headers aside). */
function spooledBatchBytes(spool: string, replica: string): number {
  const folder = join(spool, replica, 'collector');
  if (!existsSync(folder)) return 0;
  return readdirSync(folder)
    .filter((name) => name.endsWith('.seg'))
    .reduce((sum, name) => sum + statSync(join(folder, name)).size - FILE_HEADER_BYTES, 0);
}

const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);

describe('spool: an app killed with spans in the spool', () => {
  it('sends them when it is started again', async () => {
    const { spool, db } = fixture();
    const port = await freePort();
    const collectorUrl = `http://127.0.0.1:${port}`;
    const app = startSpoolApp({ REPLICA: 'app-1', COLLECTOR: collectorUrl, SPOOL: spool, FROM: 0, COUNT: 25 });
    cleanup.push(() => app.kill('SIGKILL'));
    await app.ran;
    expect(spooledBatchBytes(spool, 'app-1')).toBeGreaterThan(0);
    await app.kill('SIGKILL');

    const collector = await startCollectorProcess(db, port);
    cleanup.push(() => collector.stop());
    const restarted = startSpoolApp({ REPLICA: 'app-1', COLLECTOR: collectorUrl, SPOOL: spool, FROM: 25, COUNT: 5 });
    cleanup.push(() => restarted.kill('SIGKILL'));
    await until(async () => inputsOf(await listExecutions(collector.url, 'numbered')).length === 30);
    expect(inputsOf(await listExecutions(collector.url, 'numbered'))).toEqual(range(0, 30));
  }, 60_000);

  it('adopts the spool of a dead replica, never that of a live one', async () => {
    const { spool, db } = fixture();
    const port = await freePort();
    const collectorUrl = `http://127.0.0.1:${port}`;
    const dead = startSpoolApp({ REPLICA: 'dead', COLLECTOR: collectorUrl, SPOOL: spool, FROM: 0, COUNT: 10 });
    const live = startSpoolApp({ REPLICA: 'live', COLLECTOR: collectorUrl, SPOOL: spool, FROM: 100, COUNT: 10 });
    cleanup.push(() => dead.kill('SIGKILL'), () => live.kill('SIGKILL'));
    await Promise.all([dead.ran, live.ran]);
    await dead.kill('SIGKILL');
    // Alive, holding its lock, but frozen: its own sender cannot send its spool.
    await live.kill('SIGSTOP');
    cleanup.push(() => live.kill('SIGCONT'));
    const liveBytes = spooledBatchBytes(spool, 'live');
    expect(liveBytes).toBeGreaterThan(0);

    const collector = await startCollectorProcess(db, port);
    cleanup.push(() => collector.stop());
    const newcomer = startSpoolApp({ REPLICA: 'newcomer', COLLECTOR: collectorUrl, SPOOL: spool, FROM: 200, COUNT: 1 });
    cleanup.push(() => newcomer.kill('SIGKILL'));
    await newcomer.ran;
    await until(async () => inputsOf(await listExecutions(collector.url, 'numbered')).length === 11);
    expect(inputsOf(await listExecutions(collector.url, 'numbered'))).toEqual([...range(0, 10), 200]);
    expect(existsSync(join(spool, 'dead'))).toBe(false);
    expect(spooledBatchBytes(spool, 'live')).toBe(liveBytes);
    expect(readFileSync(join(spool, 'live', 'owner.lock'), 'utf8')).toBe(String(live.pid));

    // Thawed, the live replica sends its own.
    await live.kill('SIGCONT');
    await until(async () => inputsOf(await listExecutions(collector.url, 'numbered')).length === 21);
    expect(inputsOf(await listExecutions(collector.url, 'numbered'))).toEqual([...range(0, 10), ...range(100, 10), 200]);
  }, 60_000);
});
