import { hostname } from 'node:os';
import { defaultServiceName } from '@opentelemetry/resources';
import { describe, expect, it } from 'vitest';
import * as attr from '@flowtrace/semconv';
import { startTracing } from '../src/index.js';
import { setEnv } from './support/env.js';
import { isolatedTests } from './support/isolated.js';
import { runTraced } from './support/flow.js';
import { jsonSpans } from './support/otlp-receiver.js';

const receiver = isolatedTests();

const names = (spans: ReturnType<typeof jsonSpans>) => spans.map((s) => s.name).sort();
const isMarker = (span: ReturnType<typeof jsonSpans>[number]) => span.attributes[attr.ATTR_MARKER] !== undefined;

describe('startTracing and the OTel resource variables', () => {
  it('takes the service name and attributes from OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, and detects the SDK, host and process', async () => {
    const collector = await receiver();
    setEnv({
      OTEL_SERVICE_NAME: 'billing',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=staging,service.version=1.4.2,service.instance.id=pod-7',
    });
    await runTraced(startTracing({ collectorUrl: collector.url, collectorProtocol: 'http/json' }));

    const resource = jsonSpans(collector.requests)[0]!.resource;
    expect(resource).toMatchObject({
      'service.name': 'billing',
      'service.version': '1.4.2',
      'service.instance.id': 'pod-7',
      'deployment.environment.name': 'staging',
      'telemetry.sdk.language': 'nodejs',
      'telemetry.sdk.name': 'opentelemetry',
      'host.name': hostname(),
    });
    expect(resource['telemetry.sdk.version']).toMatch(/^\d+\.\d+\.\d+/);
    expect(String(resource['process.pid'])).toBe(String(process.pid));
  });

  it('lets options win over the variables', async () => {
    const collector = await receiver();
    setEnv({ OTEL_SERVICE_NAME: 'billing', OTEL_RESOURCE_ATTRIBUTES: 'service.version=1.4.2,service.instance.id=pod-7,team=payments' });
    await runTraced(
      startTracing({
        serviceName: 'orders',
        serviceInstanceId: 'i-1',
        resourceAttributes: { 'service.version': '2.0.0' },
        collectorUrl: collector.url,
        collectorProtocol: 'http/json',
      }),
    );
    expect(jsonSpans(collector.requests)[0]!.resource).toMatchObject({
      'service.name': 'orders',
      'service.instance.id': 'i-1',
      'service.version': '2.0.0',
      team: 'payments',
    });
  });

  it('names an unnamed service the way the SDK does, with a fresh instance id', async () => {
    const collector = await receiver();
    await runTraced(startTracing({ collectorUrl: collector.url, collectorProtocol: 'http/json' }));
    const resource = jsonSpans(collector.requests)[0]!.resource;
    expect(resource['service.name']).toBe(defaultServiceName());
    expect(resource['service.name']).toMatch(/^unknown_service:/);
    expect(resource['service.instance.id']).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('startTracing and the OTLP exporter variables', () => {
  it('sends to OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces with OTEL_EXPORTER_OTLP_HEADERS, real spans only, and keeps both away from the collector', async () => {
    const collector = await receiver();
    const backend = await receiver();
    setEnv({
      OTEL_EXPORTER_OTLP_ENDPOINT: `${backend.url}/otlp`,
      OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=k1,x-team=payments',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    });
    await runTraced(startTracing({ serviceName: 'orders', collectorUrl: collector.url, collectorProtocol: 'http/json' }));

    expect(backend.requests.length).toBeGreaterThan(0);
    for (const request of backend.requests) {
      expect(request.path).toBe('/otlp/v1/traces');
      expect(request.headers['x-api-key']).toBe('k1');
      expect(request.headers['x-team']).toBe('payments');
    }
    expect(names(jsonSpans(backend.requests))).toEqual(['flow double', 'step multiply']);
    expect(jsonSpans(backend.requests).some(isMarker)).toBe(false);

    expect(collector.requests.length).toBeGreaterThan(0);
    for (const request of collector.requests) {
      expect(request.path).toBe('/v1/traces');
      expect(request.headers['x-api-key']).toBeUndefined();
      expect(request.headers['x-team']).toBeUndefined();
    }
    expect(jsonSpans(collector.requests).some(isMarker)).toBe(true);
  });

  it('uses OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as is, over the base endpoint, with the traces headers winning key by key', async () => {
    const backend = await receiver();
    const other = await receiver();
    setEnv({
      OTEL_EXPORTER_OTLP_ENDPOINT: other.url,
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${backend.url}/api/traces`,
      OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=general,x-team=payments',
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x-api-key=traces',
    });
    await runTraced(startTracing({ serviceName: 'orders', collectorUrl: false }));

    expect(other.requests).toEqual([]);
    expect(backend.requests.length).toBeGreaterThan(0);
    for (const request of backend.requests) {
      expect(request.path).toBe('/api/traces');
      expect(request.headers['content-type']).toBe('application/x-protobuf');
      expect(request.headers['x-api-key']).toBe('traces');
      expect(request.headers['x-team']).toBe('payments');
    }
    expect(Buffer.concat(backend.requests.map((r) => r.body)).includes('step multiply')).toBe(true);
  });

  it('lets the exporters option replace the destination of the variables, its headers winning key by key', async () => {
    const fromEnv = await receiver();
    const fromOptions = await receiver();
    setEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: fromEnv.url, OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=env,x-team=payments' });
    await runTraced(
      startTracing({
        serviceName: 'orders',
        collectorUrl: false,
        exporters: [{ url: `${fromOptions.url}/v1/traces`, protocol: 'http/json', headers: { 'x-api-key': 'option' } }],
      }),
    );

    expect(fromEnv.requests).toEqual([]);
    expect(names(jsonSpans(fromOptions.requests))).toEqual(['flow double', 'step multiply']);
    for (const request of fromOptions.requests) {
      expect(request.headers['x-api-key']).toBe('option');
      expect(request.headers['x-team']).toBe('payments');
    }
  });

  it('sends nowhere but the collector with exporters: [], whatever the variables say', async () => {
    const collector = await receiver();
    const fromEnv = await receiver();
    setEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: fromEnv.url });
    await runTraced(startTracing({ serviceName: 'orders', collectorUrl: collector.url, exporters: [] }));
    expect(fromEnv.requests).toEqual([]);
    expect(collector.requests.length).toBeGreaterThan(0);
  });

  it('sends nowhere but the collector when OTEL_TRACES_EXPORTER is none', async () => {
    const collector = await receiver();
    const fromEnv = await receiver();
    setEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: fromEnv.url, OTEL_TRACES_EXPORTER: 'none' });
    await runTraced(startTracing({ serviceName: 'orders', collectorUrl: collector.url }));
    expect(fromEnv.requests).toEqual([]);
    expect(collector.requests.length).toBeGreaterThan(0);
  });

  it('never sends the collector to the OTLP endpoint of the variables', async () => {
    const collector = await receiver();
    setEnv({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${collector.url}/general` });
    await runTraced(startTracing({ serviceName: 'orders', collectorUrl: collector.url, collectorProtocol: 'http/json' }));
    const toCollector = collector.requests.filter((r) => r.path === '/v1/traces');
    const toGeneral = collector.requests.filter((r) => r.path === '/general');
    expect(jsonSpans(toCollector).some(isMarker)).toBe(true);
    expect(toGeneral.length).toBeGreaterThan(0);
    expect(Buffer.concat(toGeneral.map((r) => r.body)).includes(attr.ATTR_MARKER)).toBe(false);
  });
});

describe('startTracing and the flowtrace variables', () => {
  it('finds the collector and its token in FLOWTRACE_COLLECTOR_URL and FLOWTRACE_TOKEN', async () => {
    const collector = await receiver();
    setEnv({ FLOWTRACE_COLLECTOR_URL: collector.url, FLOWTRACE_TOKEN: 't0ken' });
    await runTraced(startTracing({ serviceName: 'orders', collectorProtocol: 'http/json' }));
    expect(collector.requests.length).toBeGreaterThan(0);
    for (const request of collector.requests) {
      expect(request.path).toBe('/v1/traces');
      expect(request.headers.authorization).toBe('Bearer t0ken');
    }
  });

  it('lets the collector options win over them', async () => {
    const fromEnv = await receiver();
    const fromOptions = await receiver();
    setEnv({ FLOWTRACE_COLLECTOR_URL: fromEnv.url, FLOWTRACE_TOKEN: 'env' });
    await runTraced(startTracing({ serviceName: 'orders', collectorUrl: fromOptions.url, collectorToken: 'option' }));
    expect(fromEnv.requests).toEqual([]);
    expect(fromOptions.requests.length).toBeGreaterThan(0);
    expect(fromOptions.requests.every((r) => r.headers.authorization === 'Bearer option')).toBe(true);
  });
});
