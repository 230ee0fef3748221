import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const PACKAGE = fileURLToPath(new URL('../..', import.meta.url));

// An app of its own, from the built package (npm run build): runs `numbered` for each input of
// FROM..FROM+COUNT-1 with the spool on, flushes (into the spool, and on when the collector
// answers), prints "ran", then stays up until it is killed.
const SCRIPT = `
  import { createScope, custom, flow } from '@pumped-fn/core-next';
  import { startTracing } from '@flowtrace/node';
  import { createTracingExtension } from '@flowtrace/tracer';
  const tracing = startTracing({
    serviceName: 'spool-app',
    serviceInstanceId: process.env.REPLICA,
    collectorUrl: process.env.COLLECTOR,
    heartbeatIntervalMs: 0,
    collectorBatch: { exportTimeoutMillis: 300 },
    spool: { dir: process.env.SPOOL },
  });
  const numbered = flow({ name: 'numbered', input: custom(), output: custom() }, async (ctx, { n }) =>
    ctx.exec({ key: 'double', fn: (x) => x * 2, params: [n] }),
  );
  const scope = createScope({ extensions: [createTracingExtension()] });
  for (let n = Number(process.env.FROM); n < Number(process.env.FROM) + Number(process.env.COUNT); n++) {
    await scope.exec({ flow: numbered, input: { n } });
  }
  await tracing.forceFlush();
  console.log('ran');
  setInterval(() => {}, 60_000);
`;

export interface SpoolApp {
  pid: number;
  /** Resolves once the app ran its executions and flushed them. */
  ran: Promise<void>;
  kill(signal: NodeJS.Signals): Promise<void>;
}

export function startSpoolApp(env: { REPLICA: string; COLLECTOR: string; SPOOL: string; FROM: number; COUNT: number }): SpoolApp {
  if (!existsSync(`${PACKAGE}/dist/index.js`)) throw new Error('@flowtrace/node is not built: run npm run build');
  const child: ChildProcess = spawn(process.execPath, ['--input-type=module', '-e', SCRIPT], {
    cwd: PACKAGE,
    env: { ...process.env, ...Object.fromEntries(Object.entries(env).map(([key, value]) => [key, String(value)])) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const ran = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('ran')) resolve();
    });
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code, signal) => reject(new Error(`app exited (${code ?? signal}) before it ran: ${output}`)));
  });
  ran.catch(() => undefined);
  return {
    pid: child.pid!,
    ran,
    async kill(signal) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = signal === 'SIGSTOP' || signal === 'SIGCONT' ? Promise.resolve() : once(child, 'exit');
      child.kill(signal);
      await exited;
    },
  };
}
