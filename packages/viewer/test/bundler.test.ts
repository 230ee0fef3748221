import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { promisify } from 'node:util';
import type { Browser } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './support/browser.js';

/**
 * The way most users embed the viewer: `import '@flowtrace/viewer'` in their own app, installed
 * from the package's tarball, built for production by their bundler (Vite here), which drops
 * every module `sideEffects` calls side-effect free — `customElements.define` included.
 */
const run = promisify(execFile);
const VIEWER = new URL('..', import.meta.url).pathname;
const ELEMENTS = [
  'flowtrace-usage-tab',
  'flowtrace-execution-list',
  'flowtrace-execution-item',
  'flowtrace-execution-detail',
  'flowtrace-status-dot',
  'flowtrace-json-view',
  'flowtrace-stack-trace',
  'flowtrace-filter-bar',
  'flowtrace-flow-list',
  'flowtrace-pagination',
];

let host: string;
let browser: Browser;
let server: Server | undefined;

beforeAll(async () => {
  host = await mkdtemp(join(tmpdir(), 'flowtrace-host-'));
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', host], { cwd: VIEWER });
  const [{ filename }] = JSON.parse(stdout) as [{ filename: string }];
  await writeFile(join(host, 'package.json'), JSON.stringify({ name: 'host-app', private: true, type: 'module' }));
  // Lit comes from the registry (or npm's cache), as it would for a user.
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts', join(host, filename)], { cwd: host });
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  server?.close();
  await rm(host, { recursive: true, force: true });
});

async function serve(dir: string): Promise<string> {
  const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };
  server = createServer(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://host').pathname;
    try {
      const body = await readFile(join(dir, path === '/' ? 'index.html' : path));
      res.writeHead(200, { 'content-type': types[extname(path || '.html')] ?? 'text/html' }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server!.address() as AddressInfo).port}`;
}

describe('the packed package', () => {
  it('ships the Custom Elements Manifest it names, and every module that manifest names', async () => {
    const root = join(host, 'node_modules', '@flowtrace', 'viewer');
    const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { customElements: string };
    const manifest = JSON.parse(await readFile(join(root, pkg.customElements), 'utf8')) as {
      modules: { path: string; declarations?: { tagName?: string }[] }[];
    };
    const tags = manifest.modules.flatMap((m) => (m.declarations ?? []).flatMap((d) => d.tagName ?? []));
    expect(tags.sort()).toEqual([...ELEMENTS].sort());
    for (const module of manifest.modules) await expect(readFile(join(root, module.path))).resolves.toBeInstanceOf(Buffer);
  });
});

describe('embedded through a bundler', () => {
  it('defines every element and renders the tab in a production build of a host app', async () => {
    await writeFile(
      join(host, 'main.js'),
      `import '@flowtrace/viewer';
document.body.insertAdjacentHTML('beforeend', '<flowtrace-usage-tab flow-id="checkout" api-base="http://127.0.0.1:9"></flowtrace-usage-tab>');
`,
    );
    await writeFile(join(host, 'index.html'), '<!doctype html><html><body><script type="module" src="/main.js"></script></body></html>');
    await build({ root: host, logLevel: 'silent', mode: 'production', build: { outDir: join(host, 'dist'), emptyOutDir: true } });

    const page = await browser.newPage();
    // Module scripts run before the load event that goto waits for.
    await page.goto(await serve(join(host, 'dist')));
    const defined = await page.evaluate((names) => names.filter((name) => customElements.get(name) !== undefined), ELEMENTS);
    expect(defined).toEqual(ELEMENTS);
    // The tab renders and says why it shows nothing (no collector at that address).
    await expect.poll(() => page.locator('flowtrace-usage-tab [role=alert]').count(), { timeout: 15_000 }).toBeGreaterThan(0);
    await page.close();
  });
});
