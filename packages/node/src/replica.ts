import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { diag } from '@opentelemetry/api';

/**
 * A replica's identity that survives its restarts, so the collector can tell "this replica
 * started again" (what it left pending was interrupted) from "another replica started" (it was
 * not). Replicas on one machine share a state folder; each owns a numbered slot, held by a lock
 * file naming its process id. A starting process takes the first slot that is free or whose
 * holder is dead — the slot of the run that just ended — and keeps that slot's id.
 *
 * Best effort: two processes starting at the same instant over one stale slot may both take it
 * (each then still has a start id of its own, so neither interrupts the other's executions
 * until one restarts); an unusable folder gives a fresh id, and the collector then relies on the
 * heartbeat alone.
 */
export interface ReplicaIdentity {
  replicaId: string;
  /** Whether the id came from, and was kept in, the state folder. */
  persisted: boolean;
  /** Gives the slot up (at shutdown; a process that exits gives it up by itself). */
  release(): void;
}

const MAX_SLOTS = 256;
const ID = /^[0-9a-f-]{36}$/;

/** The default folder: per user's temp dir and service, so unrelated services never share slots. */
export function defaultStateDir(serviceName: string): string {
  return join(tmpdir(), 'flowtrace', serviceName.replace(/[^\w.-]+/g, '_') || 'service');
}

export function claimReplicaId(dir: string): ReplicaIdentity {
  try {
    mkdirSync(dir, { recursive: true });
    for (let slot = 0; slot < MAX_SLOTS; slot++) {
      const lock = join(dir, `replica-${slot}.lock`);
      if (!takeLock(lock)) continue;
      // Released at shutdown or exit; after a crash the next start finds a dead pid.
      const release = () => {
        process.off('exit', release);
        releaseLock(lock);
      };
      process.once('exit', release);
      return { replicaId: slotId(join(dir, `replica-${slot}.id`)), persisted: true, release };
    }
    diag.warn(`flowtrace: all ${MAX_SLOTS} replica slots in ${dir} are held by live processes; this one gets a fresh replica id`);
  } catch (error) {
    diag.warn(`flowtrace: cannot keep a replica id in ${dir} (${(error as Error).message}); this process gets a fresh one`);
  }
  return { replicaId: randomUUID(), persisted: false, release: () => {} };
}

function takeLock(lock: string): boolean {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lock, String(process.pid), { flag: 'wx' });
      // Another process may have cleared the same stale lock and written its own meanwhile.
      return readFileSync(lock, 'utf8') === String(process.pid);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number(readFileSync(lock, 'utf8'));
      if (Number.isInteger(holder) && holder > 0 && isAlive(holder)) return false;
      removeStale(lock);
    }
  }
  return false;
}

function removeStale(lock: string): void {
  try {
    unlinkSync(lock);
  } catch (error) {
    // Another starting process removed it first.
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

function releaseLock(lock: string): void {
  try {
    if (readFileSync(lock, 'utf8') === String(process.pid)) unlinkSync(lock);
  } catch {
    // already gone
  }
}

function slotId(file: string): string {
  try {
    const id = readFileSync(file, 'utf8').trim();
    if (ID.test(id)) return id;
  } catch {
    // a new slot
  }
  const id = randomUUID();
  writeFileSync(file, id);
  return id;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
