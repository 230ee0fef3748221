import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { diag } from '@opentelemetry/api';
import { holdLock } from './pid-lock.js';

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
      // Released at shutdown or exit; after a crash the next start finds a dead pid.
      const release = holdLock(lock);
      if (!release) continue;
      return { replicaId: slotId(join(dir, `replica-${slot}.id`)), persisted: true, release };
    }
    diag.warn(`flowtrace: all ${MAX_SLOTS} replica slots in ${dir} are held by live processes; this one gets a fresh replica id`);
  } catch (error) {
    diag.warn(`flowtrace: cannot keep a replica id in ${dir} (${(error as Error).message}); this process gets a fresh one`);
  }
  return { replicaId: randomUUID(), persisted: false, release: () => {} };
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
