import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { inject } from 'vitest';
import { PUBLISHED } from './packed.js';

const run = promisify(execFile);
const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc');

export interface HostOptions {
  /** The app's folder, inside a fresh temporary one: a name with a space tests paths. */
  folder?: string;
  devDependencies?: Record<string, string>;
  /** Where npm takes packages the app does not name itself (flowtrace's own come from their tarballs). */
  overrides?: Record<string, string>;
}

export interface Host {
  dir: string;
  /** What `npm install` printed, warnings included. */
  installOutput: string;
  /** Every package name in `npm ls --all`. */
  installed(): Promise<Set<string>>;
  /** Runs `source` as an ES module, or with `'cjs'` as a CommonJS script, in the app's folder. */
  node(source: string, kind?: 'esm' | 'cjs'): Promise<string>;
  /**
   * Type-checks `files` (name → source) with `compilerOptions` by the workspace's TypeScript and
   * returns the errors in the app's files and in flowtrace's declarations; another package's
   * own declaration errors are that package's.
   */
  typecheck(files: Record<string, string>, compilerOptions: Record<string, unknown>): Promise<string[]>;
  remove(): Promise<void>;
}

/**
 * An application directory outside the repository, installed by npm from the given tarballs and
 * the registry (npm's cache first), as a user would install flowtrace.
 */
export async function installHost(dependencies: Record<string, string>, options: HostOptions = {}): Promise<Host> {
  const base = await mkdtemp(join(tmpdir(), 'flowtrace-host-'));
  const dir = join(base, options.folder ?? 'app');
  await mkdir(dir);
  const { devDependencies } = options;
  // flowtrace's packages are not on the registry: those the app does not name come from their tarballs.
  const packed = inject('packed');
  const overrides = {
    ...Object.fromEntries(PUBLISHED.map((name) => [`@flowtrace/${name}`, `file:${packed[name]}`]).filter(([name]) => !(name! in dependencies))),
    ...options.overrides,
  };
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'host', private: true, type: 'module', dependencies, devDependencies, overrides }));
  const install = await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=warn'], {
    cwd: dir,
    env: { ...process.env, npm_config_better_sqlite3_local_prebuilds: packed.prebuilds },
  });
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
    async typecheck(files, compilerOptions) {
      const project = `tsconfig-${Date.now()}.json`;
      for (const [name, source] of Object.entries(files)) await writeFile(join(dir, name), source);
      await writeFile(join(dir, project), JSON.stringify({ compilerOptions: { ...compilerOptions, noEmit: true }, files: Object.keys(files) }));
      const output = await run(process.execPath, [TSC, '-p', project, '--pretty', 'false'], { cwd: dir }).then(
        ({ stdout }) => stdout,
        (error: { stdout: string }) => error.stdout,
      );
      return output.split('\n').filter((line) => /: error TS\d+/.test(line) && (!line.startsWith('node_modules/') || line.startsWith('node_modules/@flowtrace/')));
    },
    remove: () => rm(base, { recursive: true, force: true }),
  };
}
