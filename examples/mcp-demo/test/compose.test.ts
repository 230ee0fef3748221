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
  depends_on?: string[];
  volumes?: string[];
}

// No Docker engine runs here: the compose file is checked by reading it.
describe('docker-compose.yml', () => {
  const compose = parse(readFileSync(`${ROOT}docker-compose.yml`, 'utf8')) as { services: Record<string, Service>; volumes: Record<string, unknown> };
  const { services } = compose;

  it('runs Jaeger, the collector forwarding to it, and the demo', () => {
    expect(Object.keys(services).sort()).toEqual(['collector', 'demo', 'demo-client', 'jaeger']);
    expect(services.jaeger!.image).toMatch(/^jaegertracing\/all-in-one:\d+\.\d+\.\d+$/);
    expect(services.jaeger!.environment).toMatchObject({ COLLECTOR_OTLP_ENABLED: 'true' });
    expect(services.jaeger!.ports).toEqual(['127.0.0.1:16686:16686']);
    expect(services.collector!.environment).toMatchObject({
      FLOWTRACE_HOST: '0.0.0.0',
      FLOWTRACE_FORWARD: 'http://jaeger:4318',
      FLOWTRACE_DB: '/data/flowtrace.db',
    });
    expect(services.collector!.ports).toEqual(['127.0.0.1:4318:4318']);
    expect(services.collector!.volumes).toEqual(['flowtrace-data:/data']);
    expect(Object.keys(compose.volumes)).toEqual(['flowtrace-data']);
    expect(services.demo!.environment).toMatchObject({ FLOWTRACE_COLLECTOR_URL: 'http://collector:4318', DEMO_MCP_HOST: '0.0.0.0' });
    expect(services['demo-client']!.environment).toMatchObject({ DEMO_MCP_URL: 'http://demo:3001/mcp' });
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

  it('only uses environment variables the programs read', () => {
    const sources = ['packages/collector/src/cli-options.ts', 'packages/tracer/src/setup.ts', 'examples/mcp-demo/src/server.ts', 'examples/mcp-demo/src/client.ts']
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
