import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';

/** Where `npm pack` put each published package, and the better-sqlite3 prebuild folder. */
export interface Packed {
  semconv: string;
  tracer: string;
  node: string;
  collector: string;
  viewer: string;
  /** A folder prebuild-install reads before downloading (see below). */
  prebuilds: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    packed: Packed;
  }
}

/** The published packages, by folder under packages/ (and name after `@flowtrace/`). */
export const PUBLISHED = ['semconv', 'tracer', 'node', 'collector', 'viewer'] as const;

const run = promisify(execFile);
const PACKAGES = fileURLToPath(new URL('../../../../packages/', import.meta.url));

/**
 * Packs the published packages once for all test files. They are this workspace's devDependencies so
 * that turbo builds them before these tests run; a package that is not built fails here.
 */
export default async function setup(project: TestProject) {
  const dir = await mkdtemp(join(tmpdir(), 'flowtrace-tarballs-'));
  const pack = async (name: string) => {
    const packageDir = join(PACKAGES, name);
    if (!existsSync(join(packageDir, 'dist', 'index.js'))) throw new Error(`${packageDir} is not built: run npm run build`);
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: packageDir });
    return join(dir, (JSON.parse(stdout) as Array<{ filename: string }>)[0]!.filename);
  };
  const [semconv, tracer, node, collector, viewer] = await Promise.all(PUBLISHED.map(pack));
  project.provide('packed', { semconv: semconv!, tracer: tracer!, node: node!, collector: collector!, viewer: viewer!, prebuilds: await betterSqlitePrebuild(dir) });
  return () => rm(dir, { recursive: true, force: true });
}

/**
 * better-sqlite3's install script asks prebuild-install for a prebuilt addon, downloaded from
 * GitHub — unreachable here — then compiles SQLite from source, minutes of CPU per install. The
 * workspace's own copy is the same version, already built: it is offered as the local prebuild
 * prebuild-install looks for first, so a host's install still runs that script, and compiles
 * only if the versions differ.
 */
async function betterSqlitePrebuild(dir: string): Promise<string> {
  const require = createRequire(join(PACKAGES, 'collector', 'package.json'));
  const root = dirname(require.resolve('better-sqlite3/package.json'));
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  const libc = (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header.glibcVersionRuntime ? '' : '-musl';
  const prebuilds = join(dir, 'prebuilds');
  await mkdir(prebuilds);
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}${libc}-${process.arch}.tar.gz`;
  await run('tar', ['-czf', join(prebuilds, name), '-C', root, 'build/Release/better_sqlite3.node']);
  return prebuilds;
}
