import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The MCP conformance suite (@modelcontextprotocol/conformance) needs Node >= 22 and the project
 * runs on Node 20. The exact versions in conformance-cli/package.json and its lockfile, Node
 * included (the `node` package on npm ships the binary), are installed with `npm ci` into
 * node_modules/.cache/flowtrace-conformance/<hash of the lockfile, platform, arch>, once; later
 * runs reuse the folder. Only the npm registry is needed.
 */
const SPEC = fileURLToPath(new URL('./conformance-cli/', import.meta.url));
const CACHE = fileURLToPath(new URL('../../../node_modules/.cache/flowtrace-conformance/', import.meta.url));
const MANIFEST = JSON.parse(readFileSync(join(SPEC, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
export const NODE_VERSION = MANIFEST.dependencies.node!;
export const CONFORMANCE_VERSION = MANIFEST.dependencies['@modelcontextprotocol/conformance']!;

export interface ConformanceCli {
  /** The Node >= 22 binary the suite runs on. */
  node: string;
  /** The suite's CLI script. */
  script: string;
}

export interface Check {
  id: string;
  name: string;
  description: string;
  /** SUCCESS, FAILURE, WARNING, INFO, … */
  status: string;
  timestamp?: string;
  errorMessage?: string;
  details?: unknown;
  specReferences?: unknown;
}

export interface ScenarioResult {
  scenario: string;
  checks: Check[];
}

export interface SuiteRun {
  exitCode: number | null;
  output: string;
  /** Every scenario's checks, in scenario name order. */
  scenarios: ScenarioResult[];
}

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to its end, killing it after `timeoutMs`. */
function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs: number }): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (signal) reject(new Error(`${command} ${args.join(' ')} ended by ${signal} (limit ${options.timeoutMs} ms)\n${stdout}\n${stderr}`));
      else resolve({ code, stdout, stderr });
    });
  });
}

/**
 * The environment for a nested npm: without the npm_* variables of an `npm test` this may run
 * under, which would point it at the workspace root (npm_config_local_prefix) or another command.
 * Settings that only say how to reach the registry are kept.
 */
function npmEnv(): NodeJS.ProcessEnv {
  const keep = /^npm_config_(registry|cache|userconfig|globalconfig|cafile|ca|proxy|https_proxy|noproxy|strict_ssl)$/i;
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name) || keep.test(name)));
}

async function versionOf(command: string, args: string[]): Promise<string> {
  const { code, stdout, stderr } = await run(command, [...args, '--version'], { timeoutMs: 30_000 });
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} --version failed (${code}): ${stderr}`);
  return stdout.trim();
}

async function verified(dir: string): Promise<ConformanceCli> {
  const cli = {
    node: join(dir, 'node_modules', 'node', 'bin', 'node'),
    script: join(dir, 'node_modules', '@modelcontextprotocol', 'conformance', 'dist', 'index.js'),
  };
  const node = await versionOf(cli.node, []);
  if (node !== `v${NODE_VERSION}`) throw new Error(`${cli.node} is ${node}, not v${NODE_VERSION}`);
  const conformance = await versionOf(cli.node, [cli.script]);
  if (conformance !== CONFORMANCE_VERSION) throw new Error(`${cli.script} is ${conformance}, not ${CONFORMANCE_VERSION}`);
  return cli;
}

/** Installs the suite and its Node unless the cache has them; checks both versions either way. */
export async function installConformance(): Promise<ConformanceCli> {
  const hash = createHash('sha256');
  for (const file of ['package.json', 'package-lock.json']) hash.update(readFileSync(join(SPEC, file)));
  hash.update(`${process.platform}-${process.arch}`);
  const dir = join(CACHE, `conformance-${CONFORMANCE_VERSION}-node-${NODE_VERSION}-${hash.digest('hex').slice(0, 12)}`);
  if (!existsSync(join(dir, '.installed'))) {
    // Installed beside the final folder and renamed into place when complete, so a run stopped
    // half-way or another run installing at the same time never leaves a partial folder behind.
    const staging = `${dir}.partial-${process.pid}-${randomUUID().slice(0, 8)}`;
    mkdirSync(staging, { recursive: true });
    try {
      for (const file of ['package.json', 'package-lock.json']) copyFileSync(join(SPEC, file), join(staging, file));
      const { code, stdout, stderr } = await run('npm', ['ci', '--no-audit', '--no-fund'], { cwd: staging, env: npmEnv(), timeoutMs: 10 * 60_000 });
      if (code !== 0) throw new Error(`npm ci of the conformance suite failed (${code}):\n${stdout}\n${stderr}`);
      await verified(staging);
      writeFileSync(join(staging, '.installed'), `${new Date().toISOString()}\n`);
      try {
        renameSync(staging, dir);
      } catch (error) {
        if (!existsSync(join(dir, '.installed'))) throw error;
      }
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  }
  return verified(dir);
}

/** The names of the suite's server scenarios, all suites, from `conformance list --server`. */
export async function listServerScenarios(cli: ConformanceCli): Promise<string[]> {
  const { code, stdout, stderr } = await run(cli.node, [cli.script, 'list', '--server'], { timeoutMs: 60_000 });
  if (code !== 0) throw new Error(`conformance list failed (${code}): ${stderr}`);
  return [...stdout.matchAll(/^\s+- (\S+)/gm)].map((match) => match[1]!);
}

/**
 * Runs every server scenario (`--suite all`: the active ones and those pending) against `url`,
 * and reads the checks.json each scenario writes to results/server-<scenario>-<timestamp>/.
 */
export async function runServerSuite(cli: ConformanceCli, url: string): Promise<SuiteRun> {
  const out = mkdtempSync(join(tmpdir(), 'flowtrace-conformance-'));
  try {
    const { code, stdout, stderr } = await run(cli.node, [cli.script, 'server', '--url', url, '--suite', 'all', '--output-dir', out], { timeoutMs: 5 * 60_000 });
    const scenarios = readdirSync(out)
      .map((name) => {
        const match = /^server-(.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$/.exec(name);
        if (!match) throw new Error(`unexpected result folder ${name}`);
        return { scenario: match[1]!, checks: JSON.parse(readFileSync(join(out, name, 'checks.json'), 'utf8')) as Check[] };
      })
      .sort((a, b) => a.scenario.localeCompare(b.scenario));
    return { exitCode: code, output: stdout + stderr, scenarios };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;
const HTTP_DATE = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/**
 * A run's results without what differs between any two runs: when each check ran, the session
 * ids the server made up, the Date header of its responses. Everything else, statuses, error
 * messages and the responses the suite recorded, is kept.
 */
export function comparable(value: unknown): unknown {
  if (typeof value === 'string') return HTTP_DATE.test(value) ? '<http-date>' : value.replace(UUID, '<uuid>');
  if (Array.isArray(value)) return value.map(comparable);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).filter(([key]) => key !== 'timestamp').map(([key, item]) => [key, comparable(item)]));
  }
  return value;
}
