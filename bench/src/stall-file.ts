import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where the stall probe (stall-probe.ts) in process `pid` writes its latest mark. */
export function stallFile(pid: number): string {
  return join(tmpdir(), `flowtrace-stall-${pid}.json`);
}

export interface StallMark {
  /** Signals received so far. */
  marks: number;
  /** The event loop's longest delay between the previous signal and this one. */
  maxMs: number;
}
