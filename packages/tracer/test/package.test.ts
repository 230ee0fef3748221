import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TRACER_NAME, TRACER_VERSION } from '../src/index.js';

describe('package metadata', () => {
  it('names spans with the package name and version', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    expect([TRACER_NAME, TRACER_VERSION]).toEqual([pkg.name, pkg.version]);
  });

  it('needs nothing at run time but the wire contract (no dependencies of its own) and its peers: @opentelemetry/api, pumped-fn, and the optional MCP SDK', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    expect(pkg.dependencies).toEqual({ '@flowtrace/semconv': pkg.version });
    const contract = JSON.parse(readFileSync(new URL('../../semconv/package.json', import.meta.url), 'utf8'));
    expect([contract.dependencies, contract.peerDependencies]).toEqual([undefined, undefined]);
    expect(pkg.peerDependencies).toEqual({
      '@opentelemetry/api': '^1.3.0',
      '@pumped-fn/core-next': '0.5.94',
      '@modelcontextprotocol/sdk': expect.any(String),
    });
    expect(pkg.peerDependenciesMeta['@modelcontextprotocol/sdk']).toEqual({ optional: true });
  });
});
