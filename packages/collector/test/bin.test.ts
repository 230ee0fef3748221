import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

/**
 * `flowtrace-collector` as npm links it: at install, which in a fresh checkout comes before the
 * build, so the linked file must exist in the source and reach the built CLI when run.
 */
const run = promisify(execFile);
const ROOT = new URL('..', import.meta.url).pathname;
const { bin } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
const command = join(ROOT, bin['flowtrace-collector']!);

describe('the flowtrace-collector command', () => {
  it('is a source file, not a build output, and runs the built CLI', async () => {
    expect(bin['flowtrace-collector']).not.toMatch(/^\.?\/?dist\//);
    const { stdout } = await run(process.execPath, [command, '--help']);
    expect(stdout).toContain('Usage: flowtrace-collector [options]');
  });

  it('is committed as an executable file with a node shebang, so the link npm makes at install runs', async () => {
    const { stdout: staged } = await run('git', ['ls-files', '--stage', '--error-unmatch', bin['flowtrace-collector']!], { cwd: ROOT });
    expect(staged.split(' ')[0]).toBe('100755');
    expect(readFileSync(command, 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
    // The checkout's link, made by `npm install`, which is what `npx flowtrace-collector` runs;
    // run as a shell runs it: by its path, not through node.
    const linked = join(ROOT, '..', '..', 'node_modules', '.bin', 'flowtrace-collector');
    expect(realpathSync(linked)).toBe(realpathSync(command));
    const { stdout } = await run(linked, ['--help']);
    expect(stdout).toContain('Usage: flowtrace-collector [options]');
  });

  it('says how to build it when run before the build', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flowtrace-unbuilt-'));
    try {
      mkdirSync(join(dir, 'bin'));
      writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
      copyFileSync(command, join(dir, 'bin', 'flowtrace-collector.js'));
      const failed = await run(process.execPath, [join(dir, 'bin', 'flowtrace-collector.js'), '--help']).catch((error: { code: number; stderr: string }) => error);
      expect(failed).toMatchObject({ code: 1, stderr: expect.stringContaining('not built yet; run `npm run build`') });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
