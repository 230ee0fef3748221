import { diag } from '@opentelemetry/api';
import { getStringFromEnv, getStringListFromEnv } from '@opentelemetry/core';
import { OTLPTraceExporter as OTLPJsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OTLPProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import type { OTLPExporterNodeConfigBase } from '@opentelemetry/otlp-exporter-base';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';

export type OtlpProtocol = 'http/json' | 'http/protobuf';

/** One OTLP/HTTP destination, such as Jaeger (`http://localhost:4318/v1/traces`). */
export interface ExporterOptions {
  /** The traces endpoint, used as given (like the OTel exporters' `url`): include `/v1/traces`. */
  url: string;
  /** Default `http/protobuf`. */
  protocol?: OtlpProtocol;
  /** Win over `OTEL_EXPORTER_OTLP_HEADERS` / `OTEL_EXPORTER_OTLP_TRACES_HEADERS`, key by key. */
  headers?: Record<string, string>;
}

/**
 * Where one pipeline sends, as both the SDK exporter and the spool's sender are built from it:
 * the flowtrace collector, or a general destination given by options or, when `options` is
 * absent, by the `OTEL_EXPORTER_OTLP_*` variables (which the SDK reads itself).
 */
export interface Destination {
  collector: boolean;
  options?: ExporterOptions;
  protocol: OtlpProtocol;
  /** The exporter's timeout, its own retries included. Default: the SDK's (10 s). */
  timeoutMillis?: number;
}

/**
 * An OTel SDK OTLP/HTTP exporter for one general destination. The URL is used as given; the SDK
 * exporter adds the `OTEL_EXPORTER_OTLP_*` settings the options leave out (headers, timeout,
 * compression, certificates), as it does for any OTLP exporter.
 */
export function createExporter(options: ExporterOptions, timeoutMillis?: number): SpanExporter {
  return destinationExporter({ collector: false, options, protocol: options.protocol ?? 'http/protobuf', timeoutMillis });
}

/** The SDK OTLP/HTTP exporter of a destination. */
export function destinationExporter(destination: Destination): SpanExporter {
  return buildFor(destination, (config) =>
    destination.protocol === 'http/json' ? new OTLPJsonTraceExporter(config) : new OTLPProtoTraceExporter(config),
  );
}

/**
 * Runs `build` with the SDK exporter configuration of `destination`. `OTEL_EXPORTER_OTLP_*`
 * configure the general destination, and the SDK would add their headers (often a backend's API
 * key) to every exporter it builds; for the collector they are hidden while it is built, as the
 * SDK reads them only then.
 */
export function buildFor<T>(destination: Destination, build: (config: OTLPExporterNodeConfigBase) => T): T {
  const { options, timeoutMillis } = destination;
  const config: OTLPExporterNodeConfigBase = options ? { url: options.url, headers: options.headers, timeoutMillis } : { timeoutMillis };
  if (!destination.collector) return build(config);
  const saved: Record<string, string> = {};
  for (const name of Object.keys(process.env)) {
    if (name.startsWith('OTEL_EXPORTER_OTLP_')) {
      saved[name] = process.env[name]!;
      delete process.env[name];
    }
  }
  try {
    return build(config);
  } finally {
    Object.assign(process.env, saved);
  }
}

/**
 * The general destination set by `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as is) or
 * `OTEL_EXPORTER_OTLP_ENDPOINT` (gets `/v1/traces`), or `undefined` when neither is set or
 * `OTEL_TRACES_EXPORTER` says `none`. The SDK reads the endpoint and headers itself; only the
 * protocol is chosen here.
 */
export function destinationFromEnv(timeoutMillis?: number): Destination | undefined {
  if (!getStringFromEnv('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') && !getStringFromEnv('OTEL_EXPORTER_OTLP_ENDPOINT')) {
    return undefined;
  }
  if (getStringListFromEnv('OTEL_TRACES_EXPORTER')?.includes('none')) return undefined;
  const protocol = getStringFromEnv('OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') ?? getStringFromEnv('OTEL_EXPORTER_OTLP_PROTOCOL');
  if (protocol !== undefined && protocol !== 'http/json' && protocol !== 'http/protobuf') {
    diag.warn(`flowtrace: OTLP protocol "${protocol}" is not supported, sending http/protobuf`);
  }
  return { collector: false, protocol: protocol === 'http/json' ? 'http/json' : 'http/protobuf', timeoutMillis };
}
