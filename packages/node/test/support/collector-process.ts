import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../../collector/dist/cli.js', import.meta.url));

/** A loopback port nobody listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface CollectorProcess {
  url: string;
  /** SIGTERM, as an orchestrator stops it; resolves once it has exited. */
  stop(): Promise<void>;
}

/** The real collector CLI (packages/collector, built) in its own process, on `port` with the SQLite file `db`. */
export async function startCollectorProcess(db: string, port: number): Promise<CollectorProcess> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build`);
  const child: ChildProcess = spawn(process.execPath, [CLI, '--db', db, '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/\S+?) /.exec(output);
      if (match) resolve(match[1]!);
    });
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => reject(new Error(`collector exited with ${code}: ${output}`)));
  });
  return {
    url,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}

interface ExecutionItem {
  id: string;
  status: string;
  preview: string;
}

/** Every execution of `flowId` the collector's REST API lists, all pages. */
export async function listExecutions(url: string, flowId: string): Promise<ExecutionItem[]> {
  const items: ExecutionItem[] = [];
  for (let page = 1; ; page++) {
    const response = await fetch(`${url}/api/flows/${encodeURIComponent(flowId)}/executions?limit=100&page=${page}`);
    if (!response.ok) throw new Error(`GET executions answered ${response.status}: ${await response.text()}`);
    const body = (await response.json()) as { items: ExecutionItem[]; totalPages: number };
    items.push(...body.items);
    if (page >= body.totalPages) return items;
  }
}
