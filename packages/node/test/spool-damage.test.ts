import { open as openFile } from 'node:fs/promises';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startTracing } from '../src/index.js';
import { FILE_HEADER_BYTES, readRecord, RECORD_HEADER_BYTES } from '../src/spool/segment-format.js';
import { cleanupAfterEach } from './support/cleanup.js';
import { freePort, listExecutions, startCollectorProcess } from './support/collector-process.js';
import { inputsOf, runNumbered } from './support/spooled-flow.js';
import { spoolDiagnostics } from './support/spool-diag.js';
import { until } from './support/until.js';

const seen = spoolDiagnostics();
const cleanup = cleanupAfterEach();

/** Where each record of a segment starts. */
async function recordOffsets(path: string): Promise<number[]> {
  const file = await openFile(path, 'r');
  try {
    const size = statSync(path).size;
    const offsets: number[] = [];
    for (let offset = FILE_HEADER_BYTES; offset < size; ) {
      const record = await readRecord(file, offset, size);
      if (record.kind !== 'record') throw new Error(`no intact record at ${offset}`);
      offsets.push(offset);
      offset = record.end;
    }
    return offsets;
  } finally {
    await file.close();
  }
}

describe('spool: damaged files from a crash', () => {
  it('skips a record with a bad checksum, a cut-off record and a foreign file with diag messages, and sends the rest', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flowtrace-spool-damage-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const port = await freePort();
    const settings = {
      serviceName: 'spool-damage',
      serviceInstanceId: 'damage-1',
      collectorUrl: `http://127.0.0.1:${port}`,
      heartbeatIntervalMs: 0,
      collectorBatch: { exportTimeoutMillis: 300 },
      shutdownTimeoutMillis: 2000,
      spool: { dir: join(dir, 'spool') },
    };
    // First run, collector down: one record per flush (the first also holds the start marker).
    const first = startTracing(settings);
    for (const n of [0, 1, 2]) {
      await runNumbered(n);
      await first.forceFlush();
    }
    await first.shutdown();
    const folder = join(dir, 'spool', 'damage-1', 'collector');
    const [segment] = readdirSync(folder);
    const path = join(folder, segment!);
    const [, second, third] = await recordOffsets(path);
    // A flipped bit in execution 1's record, and execution 2's record cut short by a crash.
    const bytes = readFileSync(path);
    bytes[second! + RECORD_HEADER_BYTES + 20]! ^= 0x40;
    writeFileSync(path, bytes);
    truncateSync(path, statSync(path).size - 7);
    writeFileSync(join(folder, '000000000900.seg'), 'not a spool segment at all');
    expect(third).toBeGreaterThan(second!);

    const collector = await startCollectorProcess(join(dir, 'flowtrace.db'), port);
    cleanup.push(() => collector.stop());
    const again = startTracing({ ...settings, collectorUrl: collector.url });
    cleanup.push(() => again.shutdown());
    await runNumbered(3);
    await again.forceFlush();
    await until(async () => inputsOf(await listExecutions(collector.url, 'numbered')).includes(3));

    expect(inputsOf(await listExecutions(collector.url, 'numbered'))).toEqual([0, 3]);
    expect(seen.matching(/checksum does not match\); skipped/)).toHaveLength(1);
    expect(seen.matching(/ends inside a record at byte \d+ \(a write cut short\); the rest of the file is skipped/)).toHaveLength(1);
    expect(seen.matching(/000000000900\.seg is not a flowtrace spool segment; skipped and removed/)).toHaveLength(1);
    expect(readdirSync(folder).filter((name) => name.endsWith('.seg')).length).toBeLessThanOrEqual(1);
    expect(seen.unhandled).toEqual([]);
  }, 60_000);
});
