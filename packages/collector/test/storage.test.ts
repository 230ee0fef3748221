import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DatabaseInUseError, SqliteEngine } from '../src/store/sqlite/engine.js';
import { engineContract } from './support/engine-contract.js';

function sqliteFile(options: { recentIdents?: number; searchBatch?: number } = {}) {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flowtrace-engine-'));
    return { engine: new SqliteEngine({ path: join(dir, 'flowtrace.db'), ...options }), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
  };
}

engineContract('SQLite file', sqliteFile());
// New ids merged into their indexes, and search texts moved into the FTS5 index, after every
// commit: reads find them there as well as where they wait (a plain file leaves most waiting).
engineContract('SQLite file, ids and search texts indexed after every commit', sqliteFile({ recentIdents: 1, searchBatch: 1 }));

describe('one writer per SQLite file', () => {
  it('refuses a second engine on the same file with a clear message, and opens it once the first is closed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flowtrace-lock-'));
    const path = join(dir, 'flowtrace.db');
    const first = new SqliteEngine({ path });
    expect(() => new SqliteEngine({ path })).toThrow(DatabaseInUseError);
    expect(() => new SqliteEngine({ path })).toThrow(/in use by another process .* give this one another --db/);
    await first.close();
    const again = new SqliteEngine({ path });
    await again.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lets exactly one of two collectors started at once on a new file run; the other exits with the reason', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flowtrace-lock-'));
    const cli = new URL('../dist/cli.js', import.meta.url).pathname;
    const start = () => {
      const child = spawn(process.execPath, [cli, '--port', '0', '--db', join(dir, 'shared.db')], { stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      return { child, output: () => output };
    };
    const a = start();
    const b = start();
    const winner = await new Promise<'a' | 'b'>((resolve) => {
      a.child.once('exit', () => resolve('b'));
      b.child.once('exit', () => resolve('a'));
    });
    const [running, refused] = winner === 'a' ? [a, b] : [b, a];
    expect(refused.child.exitCode).toBe(1);
    expect(refused.output()).toContain('is in use by another process');
    await expect.poll(() => running.output(), { timeout: 45_000 }).toContain('listening on');
    running.child.kill('SIGTERM');
    await once(running.child, 'exit');
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);
});
