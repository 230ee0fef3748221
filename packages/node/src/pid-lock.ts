import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';

/**
 * A lock file naming the process that holds it. A holder that died (crash, `kill -9`) never
 * removed its file, so a lock whose process is gone counts as free and is taken over. Used for
 * replica slots (replica.ts) and for spool directories (spool/ownership.ts).
 */

/** Locks this process holds: a lock naming this pid but not in here was left by an earlier process
 * that had the same pid (a container's pid 1 after a restart), so it is stale. */
const held = new Set<string>();

/**
 * Takes `lock` for this process, and gives it up when the process exits; returns the release
 * function, or `undefined` when a live process holds it. Throws on file-system errors.
 */
export function holdLock(lock: string): (() => void) | undefined {
  const path = resolve(lock);
  if (!takeLock(path)) return undefined;
  held.add(path);
  const release = () => {
    process.off('exit', release);
    held.delete(path);
    releaseLock(path);
  };
  process.once('exit', release);
  return release;
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
      const stale = holder === process.pid ? !held.has(lock) : !(Number.isInteger(holder) && holder > 0 && isAlive(holder));
      if (!stale) return false;
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

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
