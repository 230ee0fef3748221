import { mkdirSync } from 'node:fs';
import { readdir, rename, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { holdLock } from '../pid-lock.js';
import type { SpoolReports } from './reports.js';
import { segmentName, segmentSeqs } from './segment-queue.js';

/**
 * Who owns which files under a spool root shared by replicas: `<root>/<replica>/<destination>/`,
 * each replica folder held by an `owner.lock` naming its process (pid-lock.ts). A process writes
 * only in its own folder; a starting process adopts the folders of dead predecessors — those whose
 * lock names no live process — and never a live replica's.
 */

const LOCK = 'owner.lock';
const MAX_SUFFIX = 16;

export interface OwnFolder {
  dir: string;
  release(): void;
}

/**
 * This replica's folder: `<root>/<replica id>`, where a restart of the same replica finds what
 * its earlier run left. If a live process holds it (two processes given one
 * `service.instance.id`), the first free `<replica id>-<n>`. Throws when the root is unusable.
 */
export function claimOwnFolder(root: string, replicaId: string): OwnFolder {
  const base = replicaId.replace(/[^\w.-]+/g, '_') || 'replica';
  for (let n = 1; n <= MAX_SUFFIX; n++) {
    const dir = join(root, n === 1 ? base : `${base}-${n}`);
    mkdirSync(dir, { recursive: true });
    const release = holdLock(join(dir, LOCK));
    if (release) return { dir, release };
  }
  throw new Error(`live processes hold the spool folders of replica "${replicaId}" and ${MAX_SUFFIX - 1} alternatives`);
}

/**
 * Moves the segments of every dead predecessor's folder under `root` into this process's own
 * destination folders, after the segments already there (so they are sent first, in their order),
 * and removes the emptied folders. A predecessor's destination this process does not send to
 * stays where it is, for a process that does.
 */
export async function adoptDeadFolders(root: string, own: OwnFolder, destinations: string[], reports: SpoolReports): Promise<void> {
  for (const entry of await readdir(root, { withFileTypes: true })) {
    const dir = join(root, entry.name);
    if (!entry.isDirectory() || dir === own.dir) continue;
    let release: (() => void) | undefined;
    try {
      release = holdLock(join(dir, LOCK));
      if (!release) continue;
      let kept = 0;
      for (const sub of await readdir(dir, { withFileTypes: true })) {
        if (!sub.isDirectory()) continue;
        if (!destinations.includes(sub.name)) {
          kept++;
          continue;
        }
        await moveSegments(join(dir, sub.name), join(own.dir, sub.name));
      }
      release();
      release = undefined;
      if (kept === 0) await rmdir(dir).catch(() => undefined);
    } catch (error) {
      reports.problem('adoption', `cannot adopt the spool folder ${dir} of a stopped process; it stays for a later start`, error);
    } finally {
      release?.();
    }
  }
}

async function moveSegments(from: string, to: string): Promise<void> {
  mkdirSync(to, { recursive: true });
  let seq = (await segmentSeqs(to)).at(-1) ?? 0;
  for (const old of await segmentSeqs(from)) await rename(join(from, segmentName(old)), join(to, segmentName(++seq)));
  await rmdir(from).catch(() => undefined);
}
