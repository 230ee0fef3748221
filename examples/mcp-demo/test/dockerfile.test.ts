import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { COLLECTOR_CLI, DEMO_SERVER, startProgram, stopProgram, waitForHttp, type Managed } from '../src/processes.js';
import { dockerfileStages, execForm, type Stage } from './dockerfile-stages.js';
import { freePort, tempDb } from './support.js';

// No Docker engine runs here: the rules hadolint would check are checked by reading the file,
// and the images' health checks are run for real against the programs the images run.
const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const stages = dockerfileStages(`${ROOT}Dockerfile`);
const stage = (name: string) => stages.find((candidate) => candidate.name === name)!;
const args = (s: Stage, keyword: string) => s.instructions.filter((instruction) => instruction.keyword === keyword).map((instruction) => instruction.args);
const copiedFrom = (s: Stage) => args(s, 'COPY').map((copy) => /--from=(\S+)/.exec(copy)?.[1]);
/** Stages no other stage builds on or copies from: the images. */
const finals = stages.filter((s) => !stages.some((other) => other.from === s.name || copiedFrom(other).includes(s.name)));

describe('Dockerfile', () => {
  it('builds, as its final stages, the images docker-compose.yml runs', () => {
    const { services } = parse(readFileSync(`${ROOT}docker-compose.yml`, 'utf8')) as { services: Record<string, { build?: { target: string } }> };
    const targets = new Set(Object.values(services).flatMap((service) => (service.build ? [service.build.target] : [])));
    expect(finals.map((s) => s.name).sort()).toEqual([...targets].sort());
  });

  it('starts every stage from an image pinned to a full version (never latest), or from an earlier stage', () => {
    for (const [index, s] of stages.entries()) {
      if (stages.slice(0, index).some((earlier) => earlier.name === s.from)) continue;
      expect(s.from, s.name).toMatch(/^[\w./-]+:\d+\.\d+\.\d+(-[\w.-]+)?$/);
    }
    // The native addon compiled in the build stage runs in the final ones: the same Node and libc.
    const images = new Set(stages.filter((s) => !stages.some((earlier) => earlier.name === s.from)).map((s) => s.from));
    expect(images.size).toBe(1);
  });

  it('runs every image as a user other than root, from an absolute WORKDIR, with a JSON-form CMD', () => {
    for (const s of finals) {
      const user = args(s, 'USER').at(-1);
      expect(user, s.name).toBeDefined();
      expect(user, s.name).not.toMatch(/^(root|0)(:|$)/);
      for (const dir of args(s, 'WORKDIR')) expect(dir, s.name).toMatch(/^\//);
      expect(() => execForm(args(s, 'CMD').at(-1)!), s.name).not.toThrow();
    }
  });

  it('gives every image a health check in exec form; the collector\'s asks /healthz', () => {
    for (const s of finals) {
      const [check] = args(s, 'HEALTHCHECK');
      expect(check, s.name).toMatch(/^(--\w+(-\w+)*=\S+\s+)*CMD \[/);
      expect(execForm(check!)[0], s.name).toBe('node');
    }
    expect(execForm(args(stage('collector'), 'HEALTHCHECK')[0]!).join(' ')).toContain('/healthz');
  });

  it('installs Debian packages without recommends, in the RUN that updates the lists and removes them', () => {
    const installs = stages.flatMap((s) => args(s, 'RUN')).filter((command) => /apt-get\s+install/.test(command));
    expect(installs.length).toBeGreaterThan(0);
    for (const command of installs) {
      expect(command).toMatch(/apt-get update\s*&&/);
      expect(command).toMatch(/apt-get install -y --no-install-recommends /);
      expect(command).toMatch(/rm -rf \/var\/lib\/apt\/lists\/\*/);
    }
  });

  it('keeps secrets out of ENV and ARG (they stay in the image\'s history)', () => {
    const names = stages.flatMap((s) => [...args(s, 'ENV'), ...args(s, 'ARG')]).flatMap((value) => [...value.matchAll(/(\w+)=/g)].map((match) => match[1]!));
    expect(names.length).toBeGreaterThan(0);
    expect(names.filter((name) => /TOKEN|PASSWORD|SECRET|API_?KEY|CREDENTIAL/i.test(name))).toEqual([]);
  });

  it('puts production dependencies only into the images: copied from a pruned stage, nothing built or installed in them', () => {
    for (const s of finals) {
      const sources = copiedFrom(s);
      expect(sources.length, s.name).toBeGreaterThan(0);
      for (const source of sources) {
        expect(source, `${s.name}: a COPY from the build context`).toBeDefined();
        expect(args(stage(source!), 'RUN').join('\n'), source).toMatch(/npm (prune|ci) --omit=dev/);
      }
      expect(args(s, 'RUN').join('\n'), s.name).not.toMatch(/\bnpm\b|\bnpx\b/);
    }
  });

  it('copies of each workspace only package.json, dist and bin, for every workspace the images run', () => {
    const prune = args(stage('production'), 'RUN').join('\n');
    const copied = /for workspace in ([^;]+);/.exec(prune)![1]!.trim().split(/\s+/);
    expect(new Set([...prune.matchAll(/"\$workspace\/([\w.]+)"/g)].map((match) => match[1]))).toEqual(new Set(['package.json', 'dist', 'bin']));
    // The demo and the collector, with every workspace they depend on at run time.
    const { workspaces } = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { workspaces: string[] };
    const folders = new Map(
      workspaces
        .flatMap((pattern) => (pattern.endsWith('/*') ? readdirSync(`${ROOT}${pattern.slice(0, -2)}`).map((entry) => `${pattern.slice(0, -1)}${entry}`) : [pattern]))
        .filter((folder) => existsSync(`${ROOT}${folder}/package.json`))
        .map((folder) => [(JSON.parse(readFileSync(`${ROOT}${folder}/package.json`, 'utf8')) as { name: string }).name, folder]),
    );
    const needed = new Set<string>();
    const visit = (name: string) => {
      const folder = folders.get(name)!;
      if (needed.has(folder)) return;
      needed.add(folder);
      const manifest = JSON.parse(readFileSync(`${ROOT}${folder}/package.json`, 'utf8')) as Record<string, Record<string, string> | undefined>;
      for (const dependency of Object.keys({ ...manifest.dependencies, ...manifest.peerDependencies })) if (folders.has(dependency)) visit(dependency);
    };
    visit('@flowtrace/mcp-demo');
    visit('@flowtrace/collector');
    expect(copied.sort()).toEqual([...needed].sort());
  });

  it('keeps the collector\'s database on a volume its user owns', () => {
    const collector = stage('collector');
    expect(args(collector, 'VOLUME')).toEqual(['/data']);
    expect(args(collector, 'ENV').join(' ')).toMatch(/FLOWTRACE_DB=\/data\//);
    expect(args(collector, 'RUN').join('\n')).toMatch(/chown node:node \/data/);
    expect(args(collector, 'USER').at(-1)).toBe('node');
  });

  describe('health checks, run as the images run them', () => {
    const running: Managed[] = [];
    afterEach(async () => {
      for (const program of running.splice(0)) await stopProgram(program);
    });

    /** Runs a stage's HEALTHCHECK command with `env`; resolves with its exit code. */
    const check = (name: string, env: Record<string, string>) => {
      const [command, ...rest] = execForm(args(stage(name), 'HEALTHCHECK')[0]!);
      expect(command).toBe('node');
      return run(process.execPath, rest, { cwd: ROOT, env: { ...process.env, ...env } }).then(
        () => 0,
        (error: { code: number }) => error.code,
      );
    };

    it('the collector\'s passes while the collector answers, and fails once it is gone', async () => {
      const port = String(await freePort());
      const collector = startProgram('collector', COLLECTOR_CLI, ['--db', tempDb()], { ...process.env, FLOWTRACE_PORT: port }, true);
      running.push(collector);
      await waitForHttp(`http://127.0.0.1:${port}/healthz`);
      expect(await check('collector', { FLOWTRACE_PORT: port })).toBe(0);
      await stopProgram(collector);
      expect(await check('collector', { FLOWTRACE_PORT: port })).toBe(1);
    });

    it('the demo\'s passes while the demo server listens, and fails once it is gone', async () => {
      const port = String(await freePort());
      const server = startProgram('demo-server', DEMO_SERVER, [], { ...process.env, DEMO_MCP_PORT: port, DEMO_TRACING: 'off' }, true);
      running.push(server);
      await waitForHttp(`http://127.0.0.1:${port}/`);
      expect(await check('demo', { DEMO_MCP_PORT: port })).toBe(0);
      await stopProgram(server);
      expect(await check('demo', { DEMO_MCP_PORT: port })).toBe(1);
    });
  });
});
