import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { getJson, startCollector } from './support/collector.js';

/**
 * Replicas of one service, as real processes with the real tracer set-up: a restart of a replica
 * interrupts what its previous run left pending at once; another replica's start interrupts
 * nothing; a process killed outright is taken as gone once its heartbeats stop.
 */
const SERVICE = new URL('./fixtures/hanging-service.mjs', import.meta.url).pathname;

const children: ChildProcess[] = [];
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** Starts a replica of `shop` and resolves with its replica id once its execution was sent. */
function startReplica(collector: string, stateDir: string, label: string, heartbeatMs: number): Promise<{ child: ChildProcess; replicaId: string }> {
  const child = spawn(process.execPath, [SERVICE], {
    env: { ...process.env, SERVICE: 'shop', COLLECTOR: collector, STATE_DIR: stateDir, HEARTBEAT_MS: String(heartbeatMs), LABEL: label },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /started (\S+)/.exec(output);
      if (match) resolve({ child, replicaId: match[1]! });
    });
    child.once('exit', (code) => reject(new Error(`replica ${label} exited with ${code}`)));
  });
}

interface Item {
  status: string;
  errorKind?: string;
  errorMessage?: string;
  preview: string;
}

async function executionOf(url: string, label: string): Promise<Item | undefined> {
  const { body } = await getJson(`${url}/api/flows/hang/executions?limit=100`);
  return (body?.items as Item[] | undefined)?.find((item) => item.preview.includes(label));
}

async function until(url: string, label: string, ready: (item: Item) => boolean): Promise<Item> {
  for (;;) {
    const item = await executionOf(url, label);
    if (item && ready(item)) return item;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const killed = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });

describe('replicas of one service', () => {
  it('a restart interrupts its predecessor at once, another replica’s start does not, a killed one is gone after its heartbeats stop', async () => {
    const started = await startCollector({ reconcileIntervalMs: 50 });
    cleanups.push(() => started.close());
    const stateDir = mkdtempSync(join(tmpdir(), 'flowtrace-replicas-'));
    cleanups.push(() => rmSync(stateDir, { recursive: true, force: true }));
    const { url } = started;

    // Replica A beats once a minute: only the restart rule can interrupt its execution in this test.
    const a = await startReplica(url, stateDir, 'run-a1', 60_000);
    await until(url, 'run-a1', (item) => item.status === 'pending');
    // Replica B runs beside it, from the same folder: another slot, another replica.
    const b = await startReplica(url, stateDir, 'run-b1', 1000);
    expect(b.replicaId).not.toBe(a.replicaId);
    await until(url, 'run-b1', (item) => item.status === 'pending');
    expect((await executionOf(url, 'run-a1'))?.status).toBe('pending');

    // A crashes and starts again: same replica, new run.
    await killed(a.child);
    const again = await startReplica(url, stateDir, 'run-a2', 60_000);
    expect(again.replicaId).toBe(a.replicaId);
    const interrupted = await until(url, 'run-a1', (item) => item.status !== 'pending');
    expect(interrupted).toMatchObject({ status: 'error', errorKind: 'interrupted' });
    expect(interrupted.errorMessage).toContain('restarted');
    expect((await executionOf(url, 'run-b1'))?.status).toBe('pending');
    expect((await executionOf(url, 'run-a2'))?.status).toBe('pending');

    // B is killed and never comes back: three missed heartbeats (3 s here), not the 5-minute budget.
    await killed(b.child);
    const gone = await until(url, 'run-b1', (item) => item.status !== 'pending');
    expect(gone).toMatchObject({ status: 'error', errorKind: 'interrupted' });
    expect(gone.errorMessage).toContain('no heartbeat');
    expect((await executionOf(url, 'run-a2'))?.status).toBe('pending');
  }, 60_000);
});
