import { randomUUID } from 'node:crypto';
import { context, propagation, trace, type Attributes } from '@opentelemetry/api';
import { OTLPTraceExporter as OTLPJsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OTLPProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { StartMarkerSpanProcessor } from './markers.js';
import { ATTR_SERVICE_INSTANCE_ID, ATTR_SERVICE_NAME } from '@flowtrace/tracer/semconv';

export type OtlpProtocol = 'http/json' | 'http/protobuf';

/** One OTLP/HTTP destination, such as Jaeger (`http://localhost:4318`). */
export interface ExporterOptions {
  /** Endpoint; `/v1/traces` is added when the URL has no path. */
  url: string;
  /** Default `http/protobuf`. */
  protocol?: OtlpProtocol;
  headers?: Record<string, string>;
}

/** Queueing of each destination's `BatchSpanProcessor` (the OTel SDK's own). */
export interface BatchOptions {
  /** Spans held while the destination is slow or down; past it new spans are dropped. */
  maxQueueSize?: number;
  maxExportBatchSize?: number;
  /** How long spans wait before being sent. */
  scheduledDelayMillis?: number;
  /** How long one export, with the exporter's retries, may take. */
  exportTimeoutMillis?: number;
}

export interface StartTracingOptions {
  serviceName: string;
  /** Default: a fresh UUID per process, so the collector can tell that the service restarted. */
  serviceInstanceId?: string;
  /** More resource attributes (`service.version`, `deployment.environment.name`, …). */
  resourceAttributes?: Attributes;
  /**
   * The flowtrace collector. Default `FLOWTRACE_COLLECTOR_URL` or `http://localhost:4318`;
   * `false` sends nothing there.
   */
  collectorUrl?: string | false;
  /** Default `http/protobuf`. */
  collectorProtocol?: OtlpProtocol;
  /** Sent as `Authorization: Bearer`. Default `FLOWTRACE_TOKEN`. */
  collectorToken?: string;
  /** Other OTLP/HTTP destinations (Jaeger, any OTLP backend); they never receive markers. */
  exporters?: ExporterOptions[];
  /** Batching of the collector destination. Default: 200 ms delay, 8192 spans queued. */
  collectorBatch?: BatchOptions;
  /** Batching of the other destinations. Default: the SDK's (5 s delay, 2048 spans queued). */
  exporterBatch?: BatchOptions;
  /** Register as the global provider, context manager and propagator. Default `true`. */
  register?: boolean;
}

export interface TracingHandle {
  provider: NodeTracerProvider;
  resource: Resource;
  /** Sends everything still queued. */
  forceFlush(): Promise<void>;
  /** Flushes and stops every destination; unregisters the globals it registered. */
  shutdown(): Promise<void>;
}

const DEFAULT_COLLECTOR_URL = 'http://localhost:4318';
// The Usage tab shows executions live: the collector's pipeline sends soon, and keeps more
// while the collector restarts.
const COLLECTOR_BATCH_DEFAULTS: BatchOptions = { scheduledDelayMillis: 200, maxQueueSize: 8192 };

/**
 * Sets up OpenTelemetry for flowtrace in one call: a `NodeTracerProvider` with an
 * AsyncLocalStorage context manager, one `BatchSpanProcessor` per destination, start markers and
 * an instance-start marker on the collector's pipeline only.
 */
export function startTracing(options: StartTracingOptions): TracingHandle {
  const resource = resourceFromAttributes({
    ...options.resourceAttributes,
    [ATTR_SERVICE_NAME]: options.serviceName,
    [ATTR_SERVICE_INSTANCE_ID]: options.serviceInstanceId ?? randomUUID(),
  });

  const processors: SpanProcessor[] = [];
  let collector: StartMarkerSpanProcessor | undefined;
  const collectorUrl = options.collectorUrl ?? process.env.FLOWTRACE_COLLECTOR_URL ?? DEFAULT_COLLECTOR_URL;
  if (collectorUrl !== false) {
    const token = options.collectorToken ?? process.env.FLOWTRACE_TOKEN;
    const exporter = createExporter({
      url: collectorUrl,
      protocol: options.collectorProtocol,
      headers: token ? { Authorization: `Bearer ${token}` } : undefined,
    });
    collector = new StartMarkerSpanProcessor(
      new BatchSpanProcessor(exporter, { ...COLLECTOR_BATCH_DEFAULTS, ...options.collectorBatch }),
    );
    processors.push(collector);
  }
  for (const destination of options.exporters ?? []) {
    processors.push(new BatchSpanProcessor(createExporter(destination), options.exporterBatch));
  }

  const provider = new NodeTracerProvider({ resource, spanProcessors: processors });
  const register = options.register ?? true;
  if (register) provider.register();
  collector?.announceInstance(resource);

  return {
    provider,
    resource,
    forceFlush: () => provider.forceFlush(),
    async shutdown() {
      await provider.shutdown();
      if (register) {
        // Lets a later startTracing (a restart in the same process, a test) register again.
        trace.disable();
        context.disable();
        propagation.disable();
      }
    },
  };
}

/** An OTel SDK OTLP/HTTP exporter for one destination. */
export function createExporter(options: ExporterOptions): SpanExporter {
  const config = { url: tracesUrl(options.url), headers: options.headers };
  return options.protocol === 'http/json' ? new OTLPJsonTraceExporter(config) : new OTLPProtoTraceExporter(config);
}

/** `http://host:4318` → `http://host:4318/v1/traces`; a URL with a path is kept as given. */
export function tracesUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.pathname === '/' || parsed.pathname === '') parsed.pathname = '/v1/traces';
  return parsed.toString();
}
