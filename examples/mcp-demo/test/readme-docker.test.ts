import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';

// The README tells users which ports `docker compose up` gives them; this keeps it true.
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const readme = readFileSync(`${ROOT}README.md`, 'utf8');
const { services } = parse(readFileSync(`${ROOT}docker-compose.yml`, 'utf8')) as {
  services: Record<string, { ports?: string[]; profiles?: string[] }>;
};

/** The service publishing `hostPort` on the host, and the container port it leads to. */
function published(hostPort: string): { service: string; containerPort: string } | undefined {
  for (const [service, { ports }] of Object.entries(services)) {
    for (const mapping of ports ?? []) {
      const parts = mapping.split(':');
      if (parts.at(-2) === hostPort) return { service, containerPort: parts.at(-1)! };
    }
  }
  return undefined;
}

/** The README's paragraphs that speak of `docker compose`. */
const dockerParagraphs = readme.split(/\n\s*\n/).filter((paragraph) => paragraph.includes('docker compose'));
/** The number after `localhost:` in `text` following `label`. */
const portAfter = (text: string, label: RegExp) => new RegExp(`${label.source}\\s+<?http://localhost:(\\d+)`).exec(text)?.[1];

describe('the README and docker-compose.yml', () => {
  it('name only profiles the compose file has', () => {
    const commands = [...readme.matchAll(/docker compose[^`\n]*/g)].map((match) => match[0]);
    expect(commands.length).toBeGreaterThan(0);
    const profiles = new Set(Object.values(services).flatMap((service) => service.profiles ?? []));
    for (const command of commands) for (const [, profile] of command.matchAll(/--profile (\S+)/g)) expect(profiles, command).toContain(profile);
  });

  it('give every localhost port the Docker paragraphs mention to a published service', () => {
    const ports = dockerParagraphs.flatMap((paragraph) => [...paragraph.matchAll(/localhost:(\d+)/g)].map((match) => match[1]!));
    expect(ports.length).toBeGreaterThan(0);
    for (const port of ports) expect(published(port), `localhost:${port}`).toBeDefined();
  });

  it('agree on which service each of those ports reaches', () => {
    const text = dockerParagraphs.join('\n\n');
    expect(published(portAfter(text, /Usage tab on/)!)).toEqual({ service: 'collector', containerPort: '4318' });
    expect(published(portAfter(text, /Jaeger on/)!)).toEqual({ service: 'jaeger', containerPort: '16686' });
    expect(published(portAfter(text, /OTLP\/HTTP from apps on this machine on/)!)).toEqual({ service: 'jaeger', containerPort: '4318' });
    expect(published(portAfter(text, /nginx in front of both on/)!)).toEqual({ service: 'proxy', containerPort: '4318' });
  });

  it('send the example app\'s spans to the collector and to Jaeger on different ports', () => {
    const example = /startTracing\(\{[\s\S]*?\}\);/.exec(readme)![0];
    const collector = new URL(/collectorUrl: '([^']+)'/.exec(example)![1]!);
    const jaeger = new URL(/exporters: \[\{ url: '([^']+)' \}\]/.exec(example)![1]!);
    expect(jaeger.host).not.toBe(collector.host);
    expect(published(collector.port)).toEqual({ service: 'collector', containerPort: '4318' });
    expect(published(jaeger.port)).toEqual({ service: 'jaeger', containerPort: '4318' });
  });

  it('never have a collector forward to its own port', () => {
    const commands = [...readme.matchAll(/flowtrace-collector [^`\n]*--forward[^`\n]*/g)].map((match) => match[0]);
    expect(commands.length).toBeGreaterThan(0);
    for (const command of commands) {
      const port = /--port (\d+)/.exec(command)?.[1] ?? '4318';
      for (const [, target] of command.matchAll(/--forward (\S+)/g)) {
        const url = new URL(target!);
        if (['localhost', '127.0.0.1'].includes(url.hostname)) expect(url.port || '80', command).not.toBe(port);
      }
    }
  });
});
