import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { installHost, type Host } from './support/host.js';
import { STRICT_HOSTS } from './support/typescript.js';

const run = promisify(execFile);

/** Starts the installed `flowtrace-collector` command in the app's folder; resolves with the URL it prints. */
function startCommand(host: Host, args: string[]): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(join(host.dir, 'node_modules', '.bin', 'flowtrace-collector'), args, { cwd: host.dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/\S+?) /.exec(output);
      if (match) resolve({ child, url: match[1]! });
    });
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => reject(new Error(`flowtrace-collector exited with ${code}: ${output}`)));
  });
}

describe('npm install @flowtrace/collector alone, in a folder whose path has a space', () => {
  let host: Host;
  beforeAll(async () => {
    host = await installHost(
      { '@flowtrace/collector': `file:${inject('packed').collector}` },
      { folder: 'My Projects', devDependencies: { '@types/node': '^20.19.0' } },
    );
  });
  afterAll(() => host?.remove());

  it('brings the viewer and the wire contract with it, without peer warnings, and neither pumped-fn nor the OTel SDK', async () => {
    expect(host.installOutput).not.toMatch(/ERESOLVE|overriding peer|peer dep|EBADENGINE|invalid/i);
    expect(host.dir).toContain(' ');
    const installed = [...(await host.installed())];
    expect(installed.filter((name) => name.startsWith('@flowtrace/')).sort()).toEqual(['@flowtrace/collector', '@flowtrace/semconv', '@flowtrace/viewer']);
    expect(installed.filter((name) => name.startsWith('@opentelemetry/') || name.startsWith('@pumped-fn/'))).toEqual([]);
  });

  it('answers `npx flowtrace-collector --help`', async () => {
    const { stdout } = await run('npx', ['--no-install', 'flowtrace-collector', '--help'], { cwd: host.dir });
    expect(stdout).toContain('Usage: flowtrace-collector [options]');
  });

  it('started by its command, serves the Usage page and the viewer bundle it found in node_modules', async () => {
    const { child, url } = await startCommand(host, ['--port', '0', '--db', 'flowtrace.db']);
    try {
      const page = await fetch(`${url}/`);
      expect(page.status).toBe(200);
      const html = await page.text();
      expect(html).toContain('<flowtrace-flow-list');
      expect(html).toContain('<script type="module" src="/viewer/flowtrace-viewer.js">');
      const bundle = await fetch(`${url}/viewer/flowtrace-viewer.js`);
      expect(bundle.status).toBe(200);
      expect(bundle.headers.get('content-type')).toMatch(/^text\/javascript/);
      const shipped = await readFile(join(host.dir, 'node_modules/@flowtrace/viewer/dist/bundle/flowtrace-viewer.js'), 'utf8');
      expect(await bundle.text()).toBe(shipped);
      expect(existsSync(join(host.dir, 'flowtrace.db'))).toBe(true);
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  });

  it('type-checks a strict TypeScript app against the shipped declarations, with only its dependencies installed', async () => {
    const app = `import { createCollector, SqliteEngine, type CollectorOptions, type ExecutionRecord } from '@flowtrace/collector';
import type { ExecutionListItem, Page } from '@flowtrace/collector/types';
const options: CollectorOptions = { db: ':memory:', viewerBundle: false };
const collector = createCollector(options);
collector.app.use(async (ctx, next) => {
  ctx.set('x-host', 'mine');
  await next();
});
const url: string = await collector.listen(0, '127.0.0.1');
const page = (await (await fetch(url + '/api/flows/f/executions')).json()) as Page<ExecutionListItem>;
const record: ExecutionRecord | undefined = undefined;
await collector.close();
export const used = [page.total, record, SqliteEngine];
`;
    for (const options of Object.values(STRICT_HOSTS)) expect(await host.typecheck({ 'app.ts': app }, { ...options, types: ['node'] })).toEqual([]);
  });

  it('its viewer declares the record types the collector serves', async () => {
    const same = `import type * as Served from '@flowtrace/collector/types';
import type * as Viewer from '@flowtrace/viewer';
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
// Each line fails to compile unless the two types accept each other's values.
export const executionRecord: Same<Viewer.ExecutionRecord, Served.ExecutionRecord> = true;
export const executionNode: Same<Viewer.ExecutionNode, Served.ExecutionNode> = true;
export const executionListItem: Same<Viewer.ExecutionListItem, Served.ExecutionListItem> = true;
export const nodePage: Same<Viewer.NodePage, Served.NodePage> = true;
export const flowSummary: Same<Viewer.FlowSummary, Served.FlowSummary> = true;
export const executionStatus: Same<Viewer.ExecutionStatus, Served.ExecutionStatus> = true;
export const nodeStatus: Same<Viewer.NodeStatus, Served.NodeStatus> = true;
export const errorKind: Same<Viewer.ErrorKind, Served.ErrorKind> = true;
export const page: Same<Viewer.Page<Viewer.ExecutionListItem>, Served.Page<Served.ExecutionListItem>> = true;
`;
    expect(await host.typecheck({ 'same.ts': same }, { ...STRICT_HOSTS.node16, lib: ['ES2023', 'DOM'], types: ['node'] })).toEqual([]);
  });
});
