import { metrics, type Attributes, type Histogram } from '@opentelemetry/api';
import * as sc from '@flowtrace/semconv';
import { TRACER_NAME, TRACER_VERSION } from '../version.js';

/**
 * The MCP conventions' duration histograms, through the global MeterProvider: a host that set
 * one up gets them, and without one the API's no-op meter makes them free.
 */

/** The buckets the MCP conventions advise for all four histograms, in seconds. */
const BUCKETS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300];

/** The attributes the conventions put on the duration metrics (low cardinality: no ids, no URIs). */
const METRIC_ATTRIBUTES = [
  sc.ATTR_MCP_METHOD_NAME,
  sc.ATTR_ERROR_TYPE,
  sc.ATTR_GEN_AI_TOOL_NAME,
  sc.ATTR_GEN_AI_PROMPT_NAME,
  sc.ATTR_GEN_AI_OPERATION_NAME,
  sc.ATTR_RPC_RESPONSE_STATUS_CODE,
  sc.ATTR_JSONRPC_PROTOCOL_VERSION,
  sc.ATTR_MCP_PROTOCOL_VERSION,
  sc.ATTR_NETWORK_TRANSPORT,
  sc.ATTR_NETWORK_PROTOCOL_NAME,
  sc.ATTR_NETWORK_PROTOCOL_VERSION,
];

export interface McpMetrics {
  /** An operation the peer sent us (`server`) or we sent the peer (`client`). */
  operation(direction: 'server' | 'client', seconds: number, attributes: Attributes): void;
  session(role: 'server' | 'client', seconds: number, attributes: Attributes): void;
}

/** Instruments are looked up per call: a MeterProvider registered after instrumenting still counts. */
export function mcpMetrics(): McpMetrics {
  const histogram = (name: string, description: string): Histogram =>
    metrics
      .getMeter(TRACER_NAME, TRACER_VERSION)
      .createHistogram(name, { unit: 's', description, advice: { explicitBucketBoundaries: BUCKETS } });
  return {
    operation(direction, seconds, attributes) {
      const name = direction === 'server' ? sc.METRIC_MCP_SERVER_OPERATION_DURATION : sc.METRIC_MCP_CLIENT_OPERATION_DURATION;
      const description =
        direction === 'server'
          ? 'MCP request or notification duration as observed on the receiver, from receipt until the result or ack is sent'
          : 'MCP request or notification duration as observed on the sender, from sending until the response or ack is received';
      histogram(name, description).record(seconds, pick(attributes));
    },
    session(role, seconds, attributes) {
      const name = role === 'server' ? sc.METRIC_MCP_SERVER_SESSION_DURATION : sc.METRIC_MCP_CLIENT_SESSION_DURATION;
      histogram(name, `The duration of the MCP session as observed on the MCP ${role}`).record(seconds, pick(attributes));
    },
  };
}

function pick(attributes: Attributes): Attributes {
  const picked: Attributes = {};
  for (const key of METRIC_ATTRIBUTES) if (attributes[key] !== undefined) picked[key] = attributes[key];
  return picked;
}
