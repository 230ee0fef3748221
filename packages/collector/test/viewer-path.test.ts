import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { findViewerBundle } from '../src/routes/viewer.js';
import { startCollector } from './support/collector.js';

const dirs: string[] = [];
const running: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const collector of running.splice(0)) await collector.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('the viewer bundle installed next to the collector', () => {
  it('is found and served when the install path has a space in it', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'flowtrace-')), 'My Projects', 'node_modules', '@flowtrace', 'viewer', 'dist', 'bundle');
    dirs.push(dir.split('/My Projects')[0]!);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'flowtrace-viewer.js');
    writeFileSync(file, 'customElements.define("x-installed", class extends HTMLElement {});');
    // As import.meta.resolve answers for a package installed there: a file URL, space as %20.
    const found = findViewerBundle(undefined, () => pathToFileURL(file).href);
    expect(found).toBe(file);

    const started = await startCollector({ viewerBundle: found });
    running.push(started);
    const response = await fetch(`${started.url}/viewer/flowtrace-viewer.js`);
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('x-installed');
  });

  it('is the workspace’s built viewer by default', () => {
    expect(findViewerBundle(undefined)).toMatch(/viewer\/dist\/bundle\/flowtrace-viewer\.js$/);
  });
});
