import { context, diag, DiagConsoleLogger, propagation, trace, type Attributes } from '@opentelemetry/api';
import { diagLogLevelFromString, getStringFromEnv } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { tracesUrl } from '@flowtrace/semconv';
import { destinationExporter, destinationFromEnv, type Destination, type ExporterOptions, type OtlpProtocol } from './exporters.js';
import { dropEndedStartMarkers, StartMarkerSpanProcessor } from './markers.js';
import { ExportThread } from './export-thread/export-thread.js';
import { detectResource } from './resource.js';
import { spoolSettings, type SpoolOptions } from './spool/settings.js';
import { startSpool, type Spool } from './spool/spool.js';

/** Queueing of each destination's `BatchSpanProcessor` (the OTel SDK's own). */
export interface BatchOptions {
  /** Spans held while the destination is slow or down; past it new spans are dropped. */
  maxQueueSize?: number;
  maxExportBatchSize?: number;
  /** How long the first span of a batch waits before the batch is sent. */
  scheduledDelayMillis?: number;
  /**
   * How long one export, with the exporter's retries, may take (the batch processor's and the
   * exporter's timeout). Default: the SDK's (30 s for the batch, 10 s for the exporter). With the
   * spool, it bounds each send from the spool, and the batch processor only waits for the disk.
   */
  exportTimeoutMillis?: number;
}

export interface StartTracingOptions {
  /** Default `OTEL_SERVICE_NAME`, else the SDK's `unknown_service:<process>`. */
  serviceName?: string;
  /**
   * Default: a fresh UUID per process. When set, it is also this replica's stable identity
   * (`flowtrace.replica.id`); otherwise that identity is kept in `stateDir`.
   */
  serviceInstanceId?: string;
  /**
   * Where this replica keeps its id between runs, so a restart is told from another replica's
   * start. Default `FLOWTRACE_STATE_DIR`, else `<tmpdir>/flowtrace/<service name>`.
   */
  stateDir?: string;
  /**
   * How often the collector hears that this process is alive; three missed heartbeats and it
   * interrupts the process's pending executions. Default 10000 ms; 0 sends none (executions of
   * a process that died then wait for their time budget).
   */
  heartbeatIntervalMs?: number;
  /**
   * More resource attributes (`service.version`, `deployment.environment.name`, …); they win over
   * `OTEL_RESOURCE_ATTRIBUTES` and the detected `host.*` / `process.*` attributes.
   */
  resourceAttributes?: Attributes;
  /**
   * The flowtrace collector's address; spans go to its `/v1/traces`. Default
   * `FLOWTRACE_COLLECTOR_URL` or `http://localhost:4318`; `false` sends nothing there. The
   * `OTEL_EXPORTER_OTLP_*` variables never apply to it.
   */
  collectorUrl?: string | false;
  /** Default `http/protobuf`. */
  collectorProtocol?: OtlpProtocol;
  /** Sent as `Authorization: Bearer`. Default `FLOWTRACE_TOKEN`. */
  collectorToken?: string;
  /**
   * General OTLP/HTTP destinations (Jaeger, any OTLP backend); they never receive markers.
   * Default: the one set by `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT`
   * (with `OTEL_EXPORTER_OTLP_[TRACES_]HEADERS` and `_PROTOCOL`), else none. `[]` means none.
   */
  exporters?: ExporterOptions[];
  /** Batching of the collector destination. Default: 50 ms delay, 8192 spans queued. */
  collectorBatch?: BatchOptions;
  /** Batching of the other destinations. Default: the SDK's (5 s delay, 2048 spans queued). */
  exporterBatch?: BatchOptions;
  /** Register as the global provider, context manager and propagator. Default `true`. */
  register?: boolean;
  /**
   * How long `shutdown()` waits for the last spans to be sent before it gives up on them (and
   * says so through OTel `diag`). Default 5000 ms.
   */
  shutdownTimeoutMillis?: number;
  /**
   * A persistent export queue on disk (off unless a folder is given; `FLOWTRACE_SPOOL_DIR` and
   * `FLOWTRACE_SPOOL_MAX_BYTES` when the option leaves them out; `false` turns it off whatever
   * the variables say). Every batch is appended there before it is sent and removed once the
   * destination acknowledged it, so an outage of any length, or a crash, loses no execution.
   */
  spool?: SpoolOptions | false;
  /**
   * Encode and send spans on a worker thread of their own (default `true`), so that the OTLP
   * encoding never runs between the application's own awaits. `false`, or a bundle that left out
   * the worker's file, encodes them on the main thread. With a spool, the spool writes on the
   * main thread.
   */
  exportThread?: boolean;
}

export interface TracingHandle {
  provider: NodeTracerProvider;
  resource: Resource;
  /** Sends everything still queued. */
  forceFlush(): Promise<void>;
  /**
   * Flushes and stops every destination, and unregisters the globals it registered. Resolves
   * even when a destination is down: what could not be sent is reported through OTel `diag`.
   */
  shutdown(): Promise<void>;
}

const DEFAULT_COLLECTOR_URL = 'http://localhost:4318';
// The Usage tab shows executions and steps live. The SDK's BatchSpanProcessor starts its timer
// when a span enters a queue with no timer and sends the batch when it fires (at once when
// maxExportBatchSize spans are queued), one export at a time: a span waits the delay, plus the
// export in flight if there is one. 50 ms keeps start notices and finished spans within the
// ~50 ms the live view allows, and a steady process still sends at most ~20 requests a second,
// each a batch. A larger queue rides out a collector restart.
const COLLECTOR_BATCH_DEFAULTS: BatchOptions = { scheduledDelayMillis: 50, maxQueueSize: 8192 };
const DEFAULT_SHUTDOWN_TIMEOUT_MS = 5000;
const DEFAULT_HEARTBEAT_INTERVAL_MS = 10_000;

/**
 * Sets up OpenTelemetry for flowtrace in one call: a `NodeTracerProvider` with an
 * AsyncLocalStorage context, one `BatchSpanProcessor` per destination, start markers and an
 * instance-start marker on the collector's pipeline only. Options win over `OTEL_*` variables;
 * `OTEL_LOG_LEVEL` (`error`, `warn`, `info`, `debug`, …) sends OTel's diagnostics to the console.
 */
export function startTracing(options: StartTracingOptions = {}): TracingHandle {
  // As @opentelemetry/sdk-node does: OTEL_LOG_LEVEL shows the SDK's and flowtrace's reports
  // (failed exports, a shutdown that could not flush) on the console.
  const logLevel = getStringFromEnv('OTEL_LOG_LEVEL');
  if (logLevel !== undefined) diag.setLogger(new DiagConsoleLogger(), { logLevel: diagLogLevelFromString(logLevel) });
  const { resource, replica } = detectResource(options);

  const collectorUrl = options.collectorUrl ?? process.env.FLOWTRACE_COLLECTOR_URL ?? DEFAULT_COLLECTOR_URL;
  const token = options.collectorToken ?? process.env.FLOWTRACE_TOKEN;
  const collectorDestination: Destination | undefined =
    collectorUrl === false
      ? undefined
      : {
          collector: true,
          options: { url: tracesUrl(collectorUrl), headers: token ? { Authorization: `Bearer ${token}` } : undefined },
          protocol: options.collectorProtocol ?? 'http/protobuf',
          timeoutMillis: options.collectorBatch?.exportTimeoutMillis,
        };
  const timeout = options.exporterBatch?.exportTimeoutMillis;
  const general: Destination[] = options.exporters
    ? options.exporters.map((destination) => ({ collector: false, options: destination, protocol: destination.protocol ?? 'http/protobuf', timeoutMillis: timeout }))
    : [destinationFromEnv(timeout)].filter((destination) => destination !== undefined);
  const destinations = collectorDestination ? [collectorDestination, ...general] : general;
  const spool = openSpool(options.spool, replica.replicaId, destinations);
  const exportThread = !spool && destinations.length > 0 && options.exportThread !== false ? ExportThread.start(destinations) : undefined;
  const exporters = spool?.exporters ?? exportThread?.exporters ?? destinations.map(destinationExporter);

  const processors: SpanProcessor[] = [];
  let collector: StartMarkerSpanProcessor | undefined;
  if (collectorDestination) {
    collector = new StartMarkerSpanProcessor(
      new BatchSpanProcessor(dropEndedStartMarkers(exporters[0]!), processorOptions({ ...COLLECTOR_BATCH_DEFAULTS, ...options.collectorBatch }, spool)),
    );
    processors.push(collector);
  }
  for (const exporter of exporters.slice(collectorDestination ? 1 : 0)) processors.push(new BatchSpanProcessor(exporter, processorOptions(options.exporterBatch, spool)));

  const provider = new NodeTracerProvider({ resource, spanProcessors: processors });
  const register = options.register ?? true;
  if (register) provider.register();
  const heartbeatMs = options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS;
  collector?.announceInstance(resource, heartbeatMs);
  const heartbeats = collector && heartbeatMs > 0 ? setInterval(() => collector.heartbeat(resource, heartbeatMs), heartbeatMs) : undefined;
  // The process may exit with only this timer left.
  heartbeats?.unref();

  return {
    provider,
    resource,
    async forceFlush() {
      await provider.forceFlush();
      await spool?.flush();
    },
    async shutdown() {
      clearInterval(heartbeats);
      replica.release();
      const unsent = spool ? 'what was not sent stays in the spool for the next start' : 'spans still queued were not sent';
      await settleWithin(provider.shutdown(), options.shutdownTimeoutMillis ?? DEFAULT_SHUTDOWN_TIMEOUT_MS, unsent);
      await spool?.close();
      await exportThread?.close();
      if (register) {
        // Lets a later startTracing (a restart in the same process, a test) register again.
        trace.disable();
        context.disable();
        propagation.disable();
      }
    },
  };
}

/**
 * With the spool, the batch processor's export is the append to disk: the export timeout bounds
 * each send from the spool instead, and the processor waits for the disk with the SDK's default.
 */
function processorOptions(batch: BatchOptions | undefined, spool: Spool | undefined): BatchOptions | undefined {
  if (!spool || !batch) return batch;
  const { exportTimeoutMillis: _sendTimeout, ...rest } = batch;
  return rest;
}

/**
 * The spool, when one is configured and its folder can be claimed; otherwise the destinations'
 * plain exporters are used, and an unusable folder is reported.
 */
function openSpool(option: StartTracingOptions['spool'], replicaId: string, destinations: Destination[]): Spool | undefined {
  const settings = spoolSettings(option);
  if (!settings || destinations.length === 0) return undefined;
  try {
    return startSpool(settings, replicaId, destinations);
  } catch (error) {
    diag.error(`flowtrace: cannot use the spool folder ${settings.dir} (${(error as Error).message}); spans are sent without a spool`);
    return undefined;
  }
}

// Best effort: a destination that is down must not turn the host's shutdown into a crash.
async function settleWithin(flush: Promise<void>, timeoutMillis: number, unsent: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMillis);
  });
  try {
    const outcome = await Promise.race([flush, timedOut]);
    if (outcome === 'timeout') {
      diag.error(`flowtrace: shutdown gave up after ${timeoutMillis} ms; ${unsent}`);
      flush.catch(() => undefined);
    }
  } catch (error) {
    diag.error('flowtrace: shutdown could not send every span', error);
  } finally {
    clearTimeout(timer);
  }
}
