import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where the demo's built programs are, so the launcher and the tests start the same things
 * (`../dist/` resolves the same from `src/` and from `dist/`).
 */
export const DEMO_SERVER = fileURLToPath(new URL('../dist/server.js', import.meta.url));
export const DEMO_CLIENT = fileURLToPath(new URL('../dist/client.js', import.meta.url));
export const COLLECTOR_CLI = join(dirname(fileURLToPath(import.meta.resolve('@flowtrace/collector/package.json'))), 'dist', 'cli.js');

export interface Managed {
  name: string;
  child: ChildProcess;
}

// Programs still running when this process exits, however it exits: killed with it.
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/**
 * Starts a Node program with its output prefixed by its name. It runs in a process group of its
 * own: Ctrl-C in a terminal signals the whole foreground group at once, which would stop the
 * collector while the demo still flushes its last spans to it; the supervisor stops each program
 * itself, in order.
 */
export function startProgram(name: string, script: string, args: string[], env: NodeJS.ProcessEnv, quiet = false): Managed {
  const child = spawn(process.execPath, [script, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  live.add(child);
  child.once('exit', () => live.delete(child));
  const prefix = (stream: NodeJS.ReadableStream, out: NodeJS.WritableStream) => {
    let rest = '';
    stream.on('data', (chunk: Buffer) => {
      const lines = (rest + chunk.toString()).split('\n');
      rest = lines.pop() ?? '';
      if (!quiet) for (const line of lines) out.write(`[${name}] ${line.replace(/^\[[\w-]+\] /, '')}\n`);
    });
  };
  prefix(child.stdout!, process.stdout);
  prefix(child.stderr!, process.stderr);
  return { name, child };
}

/** Asks a program to stop (SIGTERM), and kills it if it has not after `graceMs`. */
export async function stopProgram({ child }: Managed, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Resolves once `url` answers, or rejects after `timeoutMs`. */
export async function waitForHttp(url: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const response = await fetch(url, { method: 'GET' });
      await response.body?.cancel();
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`${url} did not answer within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
