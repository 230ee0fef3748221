import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** `npm pack` of a built workspace package into `destination`; returns the tarball's path. */
export async function pack(packageDir: string, destination: string): Promise<string> {
  if (!existsSync(join(packageDir, 'dist', 'index.js'))) throw new Error(`${packageDir} is not built: run npm run build`);
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', destination], { cwd: packageDir });
  const [packed] = JSON.parse(stdout) as Array<{ filename: string }>;
  return join(destination, packed!.filename);
}

export interface Host {
  dir: string;
  /** What `npm install` printed, warnings included. */
  installOutput: string;
  /** Every package name in `npm ls --all`. */
  installed(): Promise<Set<string>>;
  /** Runs an ES module in the host and returns its stdout. */
  /** Runs `source` as an ES module, or with `'cjs'` as a CommonJS script, in the app's folder. */
  node(source: string, kind?: 'esm' | 'cjs'): Promise<string>;
  remove(): Promise<void>;
}

/**
 * An application directory outside the repository, installed by npm from the registry and the
 * given tarballs, as a user would install flowtrace.
 */
export async function installHost(dependencies: Record<string, string>): Promise<Host> {
  const dir = await mkdtemp(join(tmpdir(), 'flowtrace-host-'));
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'host', private: true, type: 'module', dependencies }));
  const install = await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=warn'], { cwd: dir });
  return {
    dir,
    installOutput: install.stdout + install.stderr,
    async installed() {
      // `npm ls` exits non-zero on a missing or invalid peer: that fails the test, as it should.
      const { stdout } = await run('npm', ['ls', '--all', '--json'], { cwd: dir });
      const names = new Set<string>();
      const walk = (deps: Record<string, { dependencies?: Record<string, unknown> }> | undefined) => {
        for (const [name, node] of Object.entries(deps ?? {})) {
          names.add(name);
          walk(node.dependencies as never);
        }
      };
      walk((JSON.parse(stdout) as { dependencies?: never }).dependencies);
      return names;
    },
    async node(source: string, kind = 'esm') {
      const file = join(dir, `script-${Date.now()}.${kind === 'cjs' ? 'cjs' : 'mjs'}`);
      await writeFile(file, source);
      const { stdout } = await run(process.execPath, [file], { cwd: dir });
      return stdout;
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
