import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

interface Service {
  image?: string;
  build?: { context: string; target: string };
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  depends_on?: string[] | Record<string, { condition: string }>;
  volumes?: string[];
  profiles?: string[];
  healthcheck?: { test: string[] | string; interval?: string; timeout?: string; retries?: number };
}

/** The services a service waits for, whichever form `depends_on` takes. */
const dependencies = (service: Service) =>
  Array.isArray(service.depends_on) ? service.depends_on : Object.keys(service.depends_on ?? {});

/** The host port of a published `host-ip:host-port:container-port` mapping. */
const hostPort = (mapping: string) => mapping.split(':').at(-2);
/** The demo server answers only Host headers it allows (DNS-rebinding protection): its client's must be one. */
const allowsClient = (server: Service, client: Service) =>
  String(server.environment?.DEMO_MCP_ALLOWED_HOSTS ?? '')
    .split(',')
    .includes(new URL(String(client.environment?.DEMO_MCP_URL)).host);

/** An nginx config without its comments. */
const stripComments = (config: string) => config.replace(/#[^\n]*/g, '');

/** Bytes of an nginx size such as 16m, 512k or 1024. */
function nginxBytes(size: string): number {
  const match = /^(\d+)([kKmMgG]?)$/.exec(size)!;
  return Number(match[1]) * { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[match[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
}

// No Docker engine runs here: the compose file is checked by reading it.
describe('docker-compose.yml', () => {
  const compose = parse(readFileSync(`${ROOT}docker-compose.yml`, 'utf8')) as { services: Record<string, Service>; volumes: Record<string, unknown> };
  const { services } = compose;
  const defaults = Object.fromEntries(Object.entries(services).filter(([, service]) => !service.profiles));

  it('by default runs Jaeger, the collector forwarding to it, and the demo', () => {
    expect(Object.keys(defaults).sort()).toEqual(['collector', 'demo', 'demo-client', 'jaeger']);
    // Jaeger v2 takes OTLP on 4317/4318 by default; v1's COLLECTOR_OTLP_ENABLED means nothing to it.
    expect(services.jaeger!.image).toMatch(/^jaegertracing\/jaeger:2\.\d+\.\d+$/);
    expect(services.jaeger!.environment).toBeUndefined();
    // The UI, and OTLP/HTTP for apps on the host beside the collector's 4318.
    expect(services.jaeger!.ports).toEqual(['127.0.0.1:16686:16686', '127.0.0.1:14318:4318']);
    expect(services.collector!.environment).toMatchObject({
      FLOWTRACE_HOST: '0.0.0.0',
      FLOWTRACE_FORWARD: 'http://jaeger:4318',
      FLOWTRACE_DB: '/data/flowtrace.db',
    });
    expect(services.collector!.ports).toEqual(['127.0.0.1:4318:4318']);
    expect(services.collector!.volumes).toEqual(['flowtrace-data:/data']);
    expect(Object.keys(compose.volumes).sort()).toEqual(['flowtrace-data', 'flowtrace-pg']);
    expect(services.demo!.environment).toMatchObject({ FLOWTRACE_COLLECTOR_URL: 'http://collector:4318', DEMO_MCP_HOST: '0.0.0.0' });
    expect(services['demo-client']!.environment).toMatchObject({ DEMO_MCP_URL: 'http://demo:3001/mcp' });
    expect(allowsClient(services.demo!, services['demo-client']!)).toBe(true);
    // `docker compose up` without a profile: only these, waiting only for each other.
    expect(dependencies(services.collector!)).toEqual(['jaeger']);
    expect(dependencies(services.demo!)).toEqual(['collector']);
    expect(dependencies(services['demo-client']!)).toEqual(['demo']);
    for (const [name, service] of Object.entries(defaults)) {
      expect(service.profiles, name).toBeUndefined();
      for (const dependency of dependencies(service)) expect(Object.keys(defaults), `${name} → ${dependency}`).toContain(dependency);
    }
  });

  describe('profile "cluster"', () => {
    const cluster = Object.fromEntries(Object.entries(services).filter(([, service]) => service.profiles));
    const postgresUrl = (service: Service) => new URL(service.environment!.FLOWTRACE_DB!);

    it('adds PostgreSQL, two collectors on it, a proxy in front of them and a demo sending through it', () => {
      expect(Object.keys(cluster).sort()).toEqual(['cluster-demo', 'cluster-demo-client', 'collector-a', 'collector-b', 'postgres', 'proxy']);
      for (const [name, service] of Object.entries(cluster)) expect(service.profiles, name).toEqual(['cluster']);
    });

    it('runs PostgreSQL 15 on a named volume, with a readiness check', () => {
      const postgres = services.postgres!;
      expect(postgres.image).toMatch(/^postgres:15\.\d+$/);
      expect(postgres.volumes).toEqual(['flowtrace-pg:/var/lib/postgresql/data']);
      expect(postgres.ports, 'not published').toBeUndefined();
      const test = [postgres.healthcheck!.test].flat().join(' ');
      expect(test).toMatch(/pg_isready -U flowtrace -d flowtrace/);
      expect(postgres.environment).toMatchObject({ POSTGRES_USER: 'flowtrace', POSTGRES_DB: 'flowtrace' });
    });

    it('points both collectors at that PostgreSQL, once it is healthy', () => {
      const postgres = services.postgres!.environment!;
      for (const name of ['collector-a', 'collector-b']) {
        const service = services[name]!;
        expect(service.build, name).toEqual(services.collector!.build);
        const url = postgresUrl(service);
        expect(url.protocol, name).toMatch(/^postgres(ql)?:$/);
        expect(url.hostname, name).toBe('postgres');
        expect(url.port, name).toBe('5432');
        expect(url.username, name).toBe(postgres.POSTGRES_USER);
        expect(decodeURIComponent(url.password), name).toBe(postgres.POSTGRES_PASSWORD);
        expect(url.pathname, name).toBe(`/${postgres.POSTGRES_DB}`);
        expect(service.depends_on, name).toMatchObject({ postgres: { condition: 'service_healthy' } });
        expect(service.environment, name).toMatchObject({ FLOWTRACE_HOST: '0.0.0.0', FLOWTRACE_PORT: '4318', FLOWTRACE_INSECURE: 'true' });
        // Reached through the proxy only.
        expect(service.ports, name).toBeUndefined();
      }
      // Both write to the same database.
      expect(services['collector-a']!.environment!.FLOWTRACE_DB).toBe(services['collector-b']!.environment!.FLOWTRACE_DB);
    });

    it('publishes the proxy on 127.0.0.1:4319, beside every port of the default profile', () => {
      const proxy = services.proxy!;
      expect(proxy.image).toMatch(/^nginx:\d+\.\d+\.\d+(-alpine)?$/);
      expect(proxy.ports).toEqual(['127.0.0.1:4319:4318']);
      expect(dependencies(proxy).sort()).toEqual(['collector-a', 'collector-b']);
      // Services without a profile start with the profile too: no host port may be taken twice.
      const published = Object.values(services).flatMap((service) => (service.ports ?? []).map(hostPort));
      expect(new Set(published).size).toBe(published.length);
      expect(Object.values(cluster).flatMap((service) => service.ports ?? [])).toEqual(['127.0.0.1:4319:4318']);
    });

    it('sends the cluster demo through the proxy', () => {
      expect(services['cluster-demo']!.environment).toMatchObject({ FLOWTRACE_COLLECTOR_URL: 'http://proxy:4318', DEMO_MCP_HOST: '0.0.0.0' });
      expect(services['cluster-demo-client']!.environment).toMatchObject({
        FLOWTRACE_COLLECTOR_URL: 'http://proxy:4318',
        DEMO_MCP_URL: `http://cluster-demo:${services['cluster-demo']!.environment!.DEMO_MCP_PORT}/mcp`,
      });
      expect(allowsClient(services['cluster-demo']!, services['cluster-demo-client']!)).toBe(true);
    });

    describe('the proxy\'s nginx config', () => {
      const mount = services.proxy!.volumes!.find((volume) => volume.endsWith(':/etc/nginx/nginx.conf:ro'));
      const file = mount ? `${ROOT}${mount.split(':')[0]!.replace(/^\.\//, '')}` : '';
      const config = existsSync(file) ? stripComments(readFileSync(file, 'utf8')) : '';

      it('is a file of the repository in deploy/, mounted read-only', () => {
        expect(mount).toMatch(/^\.\/deploy\/[\w.-]+\.conf:/);
        expect(existsSync(file), file).toBe(true);
      });

      it('round-robins over both collectors, with HTTP/1.1 keep-alive to them', () => {
        const upstream = /upstream\s+(\S+)\s*\{([^}]*)\}/.exec(config);
        expect(upstream).not.toBeNull();
        const [, group, body] = upstream!;
        const servers = [...body!.matchAll(/^\s*server\s+([^\s;]+)/gm)].map((match) => match[1]);
        expect(servers.sort()).toEqual(['collector-a:4318', 'collector-b:4318']);
        // Round-robin is nginx's default: no other balancing method.
        expect(body).not.toMatch(/^\s*(ip_hash|hash|least_conn|random)\b/m);
        expect(body).toMatch(/^\s*keepalive\s+\d+;/m);
        expect(config).toMatch(/^\s*proxy_http_version\s+1\.1;/m);
        expect(config).toMatch(/^\s*proxy_set_header\s+Connection\s+"";/m);
        const passes = [...config.matchAll(/proxy_pass\s+([^;]+);/g)].map((match) => match[1]);
        expect(passes.length).toBeGreaterThan(0);
        for (const pass of passes) expect(pass).toBe(`http://${group}`);
      });

      it('listens on the port the proxy publishes', () => {
        const containerPort = services.proxy!.ports![0]!.split(':').at(-1);
        expect(config).toMatch(new RegExp(`^\\s*listen\\s+${containerPort};`, 'm'));
      });

      it('passes the live stream unbuffered and keeps it open', () => {
        const stream = /location\s+(?:=\s*)?\/api\/stream\s*\{([^}]*)\}/.exec(config);
        expect(stream, 'a location for /api/stream').not.toBeNull();
        expect(stream![1]).toMatch(/^\s*proxy_buffering\s+off;/m);
        const timeout = /^\s*proxy_read_timeout\s+(\d+)(s|m|h)?;/m.exec(stream![1]!);
        expect(timeout, 'proxy_read_timeout').not.toBeNull();
        const seconds = Number(timeout![1]) * { s: 1, m: 60, h: 3600 }[(timeout![2] ?? 's') as 's' | 'm' | 'h'];
        // Far longer than the collector's 15 s keep-alive comments.
        expect(seconds).toBeGreaterThanOrEqual(300);
      });

      it('accepts bodies up to the collector\'s limit', () => {
        const source = readFileSync(`${ROOT}packages/collector/src/defaults.ts`, 'utf8');
        const expression = /DEFAULT_MAX_BODY_BYTES\s*=\s*([\d\s*_]+);/.exec(source)![1]!;
        const limit = expression.split('*').reduce((product, factor) => product * Number(factor.trim().replaceAll('_', '')), 1);
        const size = /^\s*client_max_body_size\s+(\S+);/m.exec(config);
        expect(size, 'client_max_body_size').not.toBeNull();
        expect(nginxBytes(size![1]!)).toBe(limit);
      });
    });
  });

  it('builds stages of the Dockerfile that exist, and runs programs the build produces', () => {
    const dockerfile = readFileSync(`${ROOT}Dockerfile`, 'utf8');
    for (const [name, service] of Object.entries(services)) {
      if (!service.build) continue;
      expect(service.build.context, name).toBe('.');
      // The stage: from its FROM line to the next one.
      const stage = new RegExp(`^FROM \\S+ AS ${service.build.target}$([\\s\\S]*?)(?=^FROM |(?![\\s\\S]))`, 'm').exec(dockerfile);
      expect(stage, `${name}: stage ${service.build.target}`).not.toBeNull();
      const cmd = service.command ?? JSON.parse(/^CMD (\[.*\])$/m.exec(stage![1]!)![1]!);
      const script = cmd.find((part: string) => part.endsWith('.js'));
      // The script is built from a source file of the repository.
      const source = `${ROOT}${script.replace('/dist/', '/src/').replace(/\.js$/, '.ts')}`;
      expect(existsSync(source), `${name}: ${source}`).toBe(true);
    }
  });

  it('copies every workspace into the build before npm ci (a missing one fails the install)', () => {
    const dockerfile = readFileSync(`${ROOT}Dockerfile`, 'utf8');
    const beforeInstall = dockerfile.slice(0, dockerfile.indexOf('RUN npm ci'));
    const copied = [...beforeInstall.matchAll(/^COPY (\S+) /gm)].map((m) => m[1]!);
    const { workspaces } = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { workspaces: string[] };
    for (const workspace of workspaces) {
      const folder = workspace.replace(/\/\*$/, '');
      expect(copied.some((path) => path === folder || path.startsWith(`${folder}/`) || folder.startsWith(`${path}/`)), workspace).toBe(true);
    }
  });

  it('only uses environment variables the programs read', () => {
    const sources = ['packages/collector/src/cli-options.ts', 'packages/node/src/setup.ts', 'packages/node/src/exporters.ts', 'examples/mcp-demo/src/server.ts', 'examples/mcp-demo/src/client.ts']
      .map((path) => readFileSync(`${ROOT}${path}`, 'utf8'))
      .join('\n');
    for (const [name, service] of Object.entries(services)) {
      if (!service.build) continue;
      for (const variable of Object.keys(service.environment ?? {})) {
        expect(sources.includes(variable), `${name}: ${variable}`).toBe(true);
      }
    }
  });
});
