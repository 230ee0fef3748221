import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
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
 * from the package's tarball, built for production by their bundler (Vite, esbuild, webpack),
 * which drops every module `sideEffects` calls side-effect free — `customElements.define`
 * included. The bundlers and React come from the registry, pinned, as a user's app has them.
 */
const run = promisify(execFile);
const VIEWER = new URL('..', import.meta.url).pathname;
const ELEMENTS = [
  'flowtrace-usage-tab',
  'flowtrace-execution-list',
  'flowtrace-execution-item',
  'flowtrace-execution-detail',
  'flowtrace-execution-timeline',
  'flowtrace-execution-metrics',
  'flowtrace-execution-compare',
  'flowtrace-execution-rerun',
  'flowtrace-status-dot',
  'flowtrace-json-view',
  'flowtrace-stack-trace',
  'flowtrace-filter-bar',
  'flowtrace-flow-list',
  'flowtrace-pagination',
];

const HOST_DEPENDENCIES = ['esbuild@0.28.2', 'webpack@5.113.0', 'react@19.3.1', 'react-dom@19.3.1'];
/** No collector listens there: the tab must render and say so. */
const NO_COLLECTOR = 'http://127.0.0.1:9';

let host: string;
let browser: Browser;
const servers: Server[] = [];

beforeAll(async () => {
  host = await mkdtemp(join(tmpdir(), 'flowtrace-host-'));
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', host], { cwd: VIEWER });
  const [{ filename }] = JSON.parse(stdout) as [{ filename: string }];
  await writeFile(join(host, 'package.json'), JSON.stringify({ name: 'host-app', private: true, type: 'module' }));
  // Lit comes from the registry (or npm's cache), as it would for a user.
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts', join(host, filename), ...HOST_DEPENDENCIES], { cwd: host });
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  for (const server of servers) server.close();
  await rm(host, { recursive: true, force: true });
});

async function serve(dir: string): Promise<string> {
  const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };
  const server = createServer(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://host').pathname;
    try {
      const body = await readFile(join(dir, path === '/' ? 'index.html' : path));
      res.writeHead(200, { 'content-type': types[extname(path || '.html')] ?? 'text/html' }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A host app's entry that imports the package and puts the tab on the page. */
const PLAIN_ENTRY = `import '@flowtrace/viewer';
document.body.insertAdjacentHTML('beforeend', '<flowtrace-usage-tab flow-id="checkout" api-base="${NO_COLLECTOR}"></flowtrace-usage-tab>');
`;

/** The README's React example, pointed at no collector. */
async function readmeReactExample(): Promise<string> {
  const readme = await readFile(join(VIEWER, 'README.md'), 'utf8');
  const code = /```jsx\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!code) throw new Error('the README has no jsx example');
  return code.replace('http://localhost:4318', NO_COLLECTOR);
}

/** Writes the app into its own folder of the host project (so it resolves the host's node_modules). */
async function app(name: string, files: Record<string, string>): Promise<string> {
  const dir = join(host, name);
  await mkdir(dir, { recursive: true });
  for (const [file, text] of Object.entries(files)) await writeFile(join(dir, file), text);
  return dir;
}

const page = (script: string, extra = '') =>
  `<!doctype html><html><body>${extra}<script ${script}></script></body></html>`;

/** Loads a built app and checks every element is defined and the tab rendered its message. */
async function expectWorking(dir: string) {
  const tab = await browser.newPage();
  const logs: string[] = [];
  tab.on('console', (message) => logs.push(message.text()));
  await tab.goto(await serve(dir));
  await expect.poll(() => tab.evaluate((names) => names.filter((name) => customElements.get(name) !== undefined), ELEMENTS)).toEqual(ELEMENTS);
  // The tab renders and says why it shows nothing (no collector at that address).
  await expect.poll(() => tab.locator('flowtrace-usage-tab [role=alert]').count(), { timeout: 15_000 }).toBeGreaterThan(0);
  return { tab, logs };
}

/** The part of esbuild's API these tests use (its types are the host app's, not ours). */
interface Esbuild {
  build(options: Record<string, unknown>): Promise<unknown>;
}

function hostRequire() {
  return createRequire(join(host, 'package.json'));
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
  it('Vite: defines every element and renders the tab in a production build', async () => {
    const dir = await app('vite', { 'main.js': PLAIN_ENTRY, 'index.html': page('type="module" src="/main.js"') });
    await build({ root: dir, logLevel: 'silent', mode: 'production', build: { outDir: join(dir, 'dist'), emptyOutDir: true } });
    (await expectWorking(join(dir, 'dist'))).tab.close();
  });

  it('esbuild: the same, bundled and minified for production', async () => {
    const esbuild = hostRequire()('esbuild') as Esbuild;
    const dir = await app('esbuild', { 'main.js': PLAIN_ENTRY, 'index.html': page('type="module" src="/out.js"') });
    await esbuild.build({ entryPoints: [join(dir, 'main.js')], bundle: true, minify: true, format: 'esm', outfile: join(dir, 'out.js'), logLevel: 'silent' });
    (await expectWorking(dir)).tab.close();
  });

  it('webpack: the same, in production mode', async () => {
    const webpack = hostRequire()('webpack') as (config: object, done: (error: Error | null, stats?: { hasErrors(): boolean; toString(): string }) => void) => void;
    const dir = await app('webpack', { 'main.js': PLAIN_ENTRY, 'index.html': page('src="/out.js"') });
    await new Promise<void>((resolve, reject) =>
      webpack({ mode: 'production', context: dir, entry: './main.js', output: { path: dir, filename: 'out.js' } }, (error, stats) =>
        error || stats?.hasErrors() ? reject(error ?? new Error(stats!.toString())) : resolve(),
      ),
    );
    (await expectWorking(dir)).tab.close();
  });

  it('React 19: the README’s example works in a production build, and its event prop listens to the element', async () => {
    const esbuild = hostRequire()('esbuild') as Esbuild;
    const dir = await app('react', { 'main.jsx': await readmeReactExample(), 'index.html': page('type="module" src="/out.js"', '<div id="root"></div>') });
    await esbuild.build({
      entryPoints: [join(dir, 'main.jsx')],
      bundle: true,
      minify: true,
      format: 'esm',
      jsx: 'automatic',
      define: { 'process.env.NODE_ENV': '"production"' },
      outfile: join(dir, 'out.js'),
      logLevel: 'silent',
    });
    const { tab, logs } = await expectWorking(dir);
    expect(await tab.locator('#root > flowtrace-usage-tab').getAttribute('flow-id')).toBe('place-order');
    await tab.evaluate(() =>
      document.querySelector('flowtrace-usage-tab')!.dispatchEvent(new CustomEvent('flowtrace-select', { detail: { flowId: 'place-order', executionId: 'e-1' }, bubbles: true })),
    );
    await expect.poll(() => logs).toContain('opened execution e-1');
    await tab.close();
  });
});
