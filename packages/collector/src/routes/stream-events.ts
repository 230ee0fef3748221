import type { ExecutionChange } from '../store/engine.js';

/**
 * The live stream's wire format. An event id is `<history>-<seq>`: the id of the database's
 * history (StorageEngine.historyId), then the change's sequence number. A replaced or reset
 * database numbers its changes from 1 again; the history part keeps its ids from passing for
 * ours.
 */

/** Where a client's `Last-Event-ID` says it stopped. `history` is absent in a plain number, the form before histories. */
export interface ResumePoint {
  history: string | undefined;
  seq: number;
}

const EVENT_ID = /^(?:([0-9a-z]{1,64})-)?(\d{1,15})$/;

/** The point a `Last-Event-ID` names; undefined when it is not an id of this stream's form. */
export function resumePointOf(id: string): ResumePoint | undefined {
  const match = EVENT_ID.exec(id);
  return match ? { history: match[1], seq: Number(match[2]) } : undefined;
}

export function executionEvent(history: string, change: ExecutionChange): string {
  return `id: ${history}-${change.seq}\nevent: execution\ndata: ${JSON.stringify(change.item)}\n\n`;
}

/** Tells the client to read everything again, then follow on from `seq`. */
export function resetEvent(history: string, seq: number, reason: string): string {
  return `id: ${history}-${seq}\nevent: reset\ndata: ${JSON.stringify({ reason })}\n\n`;
}

export const CONNECTED = 'retry: 2000\n: connected\n\n';
export const KEEP_ALIVE = Buffer.from(': keep-alive\n\n');
