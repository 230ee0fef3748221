import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { claimReplicaId } from '../src/replica.js';
import { detectResource } from '../src/resource.js';

const dirs: string[] = [];
const releases: Array<() => void> = [];
afterEach(() => {
  for (const release of releases.splice(0)) release();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function stateDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'flowtrace-replica-'));
  dirs.push(dir);
  return dir;
}
function claim(dir: string) {
  const identity = claimReplicaId(dir);
  releases.push(identity.release);
  return identity;
}
/** The pid of a process that has exited. */
function deadPid(): number {
  return Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
}

describe('replica identity', () => {
  it('gives replicas running side by side different ids, and a restart the id of the run that ended', () => {
    const dir = stateDir();
    const first = claim(dir);
    const second = claim(dir);
    expect(first.persisted).toBe(true);
    expect(second.replicaId).not.toBe(first.replicaId);
    first.release();
    expect(claim(dir).replicaId).toBe(first.replicaId);
  });

  it('takes over the slot of a process that died without releasing it', () => {
    const dir = stateDir();
    const crashed = claim(dir);
    // As a SIGKILLed run leaves it: its lock still names its (now dead) process.
    writeFileSync(join(dir, 'replica-0.lock'), String(deadPid()));
    expect(claim(dir).replicaId).toBe(crashed.replicaId);
    expect(readFileSync(join(dir, 'replica-0.lock'), 'utf8')).toBe(String(process.pid));
  });

  it('falls back to a fresh id when the folder cannot be used', () => {
    const file = join(stateDir(), 'not-a-folder');
    writeFileSync(file, '');
    const identity = claim(join(file, 'inside'));
    expect(identity.persisted).toBe(false);
    expect(identity.replicaId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('uses the user’s service.instance.id as the replica id, and a new start id each time', () => {
    const one = detectResource({ serviceName: 'shop', serviceInstanceId: 'shop-7', stateDir: stateDir() });
    const two = detectResource({ serviceName: 'shop', serviceInstanceId: 'shop-7', stateDir: stateDir() });
    releases.push(one.replica.release, two.replica.release);
    expect(one.resource.attributes['flowtrace.replica.id']).toBe('shop-7');
    expect(two.resource.attributes['flowtrace.replica.id']).toBe('shop-7');
    expect(one.resource.attributes['flowtrace.start.id']).not.toBe(two.resource.attributes['flowtrace.start.id']);
  });
});
