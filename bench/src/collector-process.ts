import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { straceArgs } from './write-trace.js';

const CLI = join(dirname(fileURLToPath(import.meta.resolve('@flowtrace/collector/package.json'))), 'dist', 'cli.js');

/**
 * The real collector CLI in its own process (as deployed), so it does not share the bench's
 * event loop. `nodeArgs` go to node before the CLI (a bench's `--import` probe).
 */
export async function startCollectorProcess(args: string[], nodeArgs: string[] = [], { traceWritesTo }: { traceWritesTo?: string } = {}) {
  const command = [process.execPath, ...nodeArgs, CLI, '--port', '0', ...args];
  // Under strace (write-trace.ts) the collector is strace's child: its pid is read once it runs.
  const child = traceWritesTo
    ? spawn('strace', [...straceArgs(traceWritesTo), ...command], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  // Bytes the collector wrote to its stdout/stderr pipes: they count in its `wchar` too.
  let outputBytes = 0;
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      outputBytes += chunk.length;
      output += chunk.toString();
      const match = /listening on (http:\/\/\S+?) /.exec(output);
      if (match) resolve(match[1]!);
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      outputBytes += chunk.length;
      output += chunk.toString();
    });
    child.once('exit', (code) => reject(new Error(`collector exited with ${code}: ${output}`)));
  });
  const pid = traceWritesTo ? Number(readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(' ')[0]) : child.pid!;
  return {
    url,
    pid,
    /** Peak resident memory of the process so far, in MiB (Linux VmHWM). */
    peakRssMiB(): number {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const kib = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN);
      return kib / 1024;
    },
    /**
     * Bytes the process has passed to write(2) and friends so far (Linux `wchar` in
     * /proc/<pid>/io): file, pipe and socket writes alike; writes through mmap (SQLite's -shm)
     * are not in it.
     */
    wcharBytes(): number {
      const io = readFileSync(`/proc/${pid}/io`, 'utf8');
      return Number(/^wchar:\s+(\d+)$/m.exec(io)?.[1] ?? Number.NaN);
    },
    /** Bytes the process wrote to its stdout and stderr so far, as received here. */
    outputBytes(): number {
      return outputBytes;
    },
    async stop(): Promise<void> {
      if (child.exitCode !== null) return;
      const exited = once(child, 'exit');
      // strace ends when its child does.
      process.kill(pid, 'SIGTERM');
      await exited;
    },
  };
}
