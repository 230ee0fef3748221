import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { installHost, type Host } from './support/host.js';
import { COMMONJS_HOST, STRICT_HOSTS } from './support/typescript.js';

// These install from the packed tarballs and the npm registry into directories outside the
// repository, as users do.
const PEER_WARNING = /ERESOLVE|overriding peer|peer dep|EBADENGINE|invalid/i;
const { tracer: tracerTgz, node: nodeTgz } = inject('packed');

/** An ES module that runs a traced flow, then \`after\` (with the flow's \`result\` in scope). */
const flowScript = (after: string) => `
import { createScope, custom, flow } from '@pumped-fn/core-next';
import { createTracingExtension } from '@flowtrace/tracer';
const double = flow({ name: 'double', input: custom(), output: custom() }, async (ctx, n) =>
  ctx.exec({ fn: (x) => x * 2, params: [n], key: 'multiply' }));
const scope = createScope({ extensions: [createTracingExtension()] });
const result = await scope.exec({ flow: double, input: 21 });
${after}
`;
const runFlow = flowScript('console.log(JSON.stringify(result));');

/** An OTLP/JSON receiver for the app's scripts (`createServer` in scope): `spans` collects each span's name and attribute keys. */
const RECEIVER = `const spans = [];
const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    for (const rs of JSON.parse(Buffer.concat(chunks)).resourceSpans)
      for (const ss of rs.scopeSpans) for (const s of ss.spans) spans.push({ name: s.name, keys: s.attributes.map((a) => a.key) });
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
});`;

describe('a host with its own OpenTelemetry setup installs @flowtrace/tracer alone', () => {
  let host: Host;
  beforeAll(async () => {
    // A Node app's TypeScript setup has @types/node: the declarations name AbortController.
    host = await installHost(
      { '@flowtrace/tracer': `file:${tracerTgz}`, '@opentelemetry/api': '^1.10.0', '@pumped-fn/core-next': '0.5.94' },
      { devDependencies: { '@types/node': '^20.19.0' } },
    );
  });
  afterAll(() => host?.remove());

  it('gets neither the SDK nor the exporters, without peer warnings', async () => {
    expect(host.installOutput).not.toMatch(PEER_WARNING);
    const otel = [...(await host.installed())].filter((name) => name.startsWith('@opentelemetry/'));
    expect(otel).toEqual(['@opentelemetry/api']);
  });

  it('type-checks a strict TypeScript app against the shipped declarations, ES module and CommonJS', async () => {
    const app = `import { createScope, custom, flow } from '@pumped-fn/core-next';
import { createTracingExtension, timeoutTag, type TracingExtensionOptions } from '@flowtrace/tracer';
import { ATTR_EXECUTION_ID } from '@flowtrace/tracer/semconv';
const options: TracingExtensionOptions = {};
const double = flow({ name: 'double', input: custom<number>(), output: custom<number>() }, async (ctx, n) => n * 2);
const result: number = await createScope({ extensions: [createTracingExtension(options)] }).exec({ flow: double, input: 21 });
export const used = [result, timeoutTag, ATTR_EXECUTION_ID.length];
`;
    for (const options of Object.values(STRICT_HOSTS)) expect(await host.typecheck({ 'app.ts': app }, { ...options, types: ['node'] })).toEqual([]);
    const cjs = `import tracer = require('@flowtrace/tracer');
const extension = tracer.createTracingExtension();
export = extension;
`;
    expect(await host.typecheck({ 'app.cts': cjs }, { ...COMMONJS_HOST, types: ['node'] })).toEqual([]);
  });

  it('runs traced flows on the current API, and records them on the oldest it accepts (1.3.0) with SDK 1.x', async () => {
    expect(await host.node(runFlow)).toBe('42\n');
    await host.node(`import { execSync } from 'node:child_process';
execSync('npm install --no-audit --no-fund @opentelemetry/api@1.3.0 @opentelemetry/sdk-trace-node@1.30.1 @opentelemetry/sdk-trace-base@1.30.1');`);
    const api = JSON.parse(await readFile(join(host.dir, 'node_modules/@opentelemetry/api/package.json'), 'utf8'));
    expect(api.version).toBe('1.3.0');
    const recorded = await host.node(`
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
const exporter = new InMemorySpanExporter();
const provider = new NodeTracerProvider();
provider.addSpanProcessor(new SimpleSpanProcessor(exporter));
provider.register();
${flowScript(`console.log(JSON.stringify({ result, spans: exporter.getFinishedSpans().map((s) => [s.name, s.parentSpanId !== undefined]).sort() }));`)}
`);
    expect(JSON.parse(recorded)).toEqual({ result: 42, spans: [['flow double', false], ['step multiply', true]] });
  });
});

describe('a host that lets @flowtrace/node set OpenTelemetry up', () => {
  let host: Host;
  beforeAll(async () => {
    host = await installHost({ '@flowtrace/node': `file:${nodeTgz}`, '@flowtrace/tracer': `file:${tracerTgz}`, '@pumped-fn/core-next': '0.5.94' });
  });
  afterAll(() => host?.remove());

  it('installs the SDK and exporters without peer warnings, with an API they accept', async () => {
    expect(host.installOutput).not.toMatch(PEER_WARNING);
    const installed = await host.installed();
    for (const name of ['@opentelemetry/sdk-trace-node', '@opentelemetry/exporter-trace-otlp-proto', '@opentelemetry/api']) {
      expect(installed.has(name)).toBe(true);
    }
    const api = JSON.parse(await readFile(join(host.dir, 'node_modules/@opentelemetry/api/package.json'), 'utf8'));
    expect(api.version).toMatch(/^1\.9\./);
  });

  // The batch leaves at shutdown, when both spans have ended: their start markers are not sent
  // (only markers of spans still running when their batch leaves are), the instance marker is.
  it('sends a traced flow and its instance-start marker to an OTLP endpoint', async () => {
    const output = await host.node(`
import { createServer } from 'node:http';
import { startTracing } from '@flowtrace/node';
${RECEIVER}
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const tracing = startTracing({ serviceName: 'host', collectorUrl: 'http://127.0.0.1:' + server.address().port, collectorProtocol: 'http/json', collectorBatch: { scheduledDelayMillis: 60000 } });
${flowScript(`
await tracing.shutdown();
server.close();
console.log(JSON.stringify({ result, names: spans.map((s) => s.name).sort() }));
`)}
`);
    expect(JSON.parse(output)).toEqual({
      result: 42,
      names: ['flow double', 'flowtrace instance-start', 'step multiply'],
    });
  });

  it('type-checks a strict TypeScript app that sets tracing up, against the shipped declarations', async () => {
    const app = `import { startTracing, type StartTracingOptions, type TracingHandle } from '@flowtrace/node';
const options: StartTracingOptions = { serviceName: 'host', collectorUrl: 'http://127.0.0.1:4318' };
const tracing: TracingHandle = startTracing(options);
await tracing.shutdown();
`;
    for (const options of Object.values(STRICT_HOSTS)) expect(await host.typecheck({ 'app.ts': app }, options)).toEqual([]);
  });

  it('works from a CommonJS app too: require() loads the ES modules (their `default` export condition, Node 20.19+)', async () => {
    // pumped-fn ships a CommonJS build of its own: the app's flows come from it, while the tracer
    // imports the ES build. Spans must come out the same, with no pumped-fn internals as tags.
    const output = await host.node(
      `
const { createServer } = require('node:http');
const { startTracing } = require('@flowtrace/node');
const { createTracingExtension } = require('@flowtrace/tracer');
const { createScope, custom, flow } = require('@pumped-fn/core-next');
${RECEIVER}
server.listen(0, '127.0.0.1', async () => {
  const tracing = startTracing({ serviceName: 'cjs-host', collectorUrl: 'http://127.0.0.1:' + server.address().port, collectorProtocol: 'http/json', collectorBatch: { scheduledDelayMillis: 60000 } });
  const double = flow({ name: 'double', input: custom(), output: custom() }, async (ctx, n) => ctx.exec({ fn: (x) => x * 2, params: [n], key: 'multiply' }));
  const result = await createScope({ extensions: [createTracingExtension()] }).exec({ flow: double, input: 21 });
  await tracing.shutdown();
  server.close();
  const tags = spans.flatMap((s) => s.keys.filter((k) => k.startsWith('flowtrace.tag')));
  console.log(JSON.stringify({ result, names: spans.map((s) => s.name).sort(), tags }));
});
`,
      'cjs',
    );
    expect(JSON.parse(output)).toEqual({
      result: 42,
      names: ['flow double', 'flowtrace instance-start', 'step multiply'],
      tags: [],
    });
  });
});
