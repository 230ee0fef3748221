import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { PUBLISHED } from './support/packed.js';

const run = promisify(execFile);
const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true }))));

describe.each(PUBLISHED)('the @flowtrace/%s tarball', (name) => {
  it('ships source maps whose sources are all there: inlined, or files of the tarball', async () => {
    const dir = await mkdtemp(join(tmpdir(), `flowtrace-unpacked-${name}-`));
    dirs.push(dir);
    await run('tar', ['-xzf', inject('packed')[name], '-C', dir]);
    const maps = (await readdir(dir, { recursive: true })).filter((file) => file.endsWith('.map'));
    expect(maps.length).toBeGreaterThan(0);
    const missing: string[] = [];
    for (const file of maps) {
      const map = JSON.parse(await readFile(join(dir, file), 'utf8')) as { sources: string[]; sourcesContent?: Array<string | null> };
      map.sources.forEach((source, i) => {
        if (typeof map.sourcesContent?.[i] !== 'string' && !existsSync(resolve(dirname(join(dir, file)), source))) missing.push(`${file}: ${source}`);
      });
    }
    expect(missing).toEqual([]);
  });
});
