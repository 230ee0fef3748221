import { renameSync, writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { stallFile, type StallMark } from './stall-file.js';

/**
 * Loaded into the collector's process by the big-execution bench (`node --import`, the CLI
 * otherwise as deployed): on each SIGUSR2 it writes the event loop's longest delay since the
 * previous signal and starts counting again. Signalled just before the first request and
 * after the last answer, it gives the stall of the ingest alone; /healthz's `eventLoop.maxMs`
 * counts from when the collector listens, so it includes start-up work (the first full GC).
 */
// The collector's own resolution (app.ts), so both figures are read alike.
const delay = monitorEventLoopDelay({ resolution: 10 });
delay.enable();
let marks = 0;
process.on('SIGUSR2', () => {
  marks++;
  const mark: StallMark = { marks, maxMs: delay.max / 1e6 };
  // Renamed into place, so the bench never reads a half-written mark.
  const file = stallFile(process.pid);
  writeFileSync(`${file}.part`, JSON.stringify(mark));
  renameSync(`${file}.part`, file);
  delay.reset();
});
