import { randomUUID } from 'node:crypto';
import type { Attributes } from '@opentelemetry/api';
import {
  defaultResource,
  detectResources,
  envDetector,
  hostDetector,
  processDetector,
  resourceFromAttributes,
  type Resource,
} from '@opentelemetry/resources';
import { ATTR_REPLICA_ID, ATTR_SERVICE_INSTANCE_ID, ATTR_SERVICE_NAME, ATTR_START_ID } from '@flowtrace/semconv';
import { claimReplicaId, defaultStateDir, type ReplicaIdentity } from './replica.js';

export interface ResourceOptions {
  serviceName?: string;
  serviceInstanceId?: string;
  resourceAttributes?: Attributes;
  /** Where the replica id is kept between runs (see replica.ts). */
  stateDir?: string;
}

/**
 * The process's resource, built like `@opentelemetry/sdk-node` builds it: the SDK's default
 * (`telemetry.sdk.*`, `service.name=unknown_service:<process>`), then the `host.*` and `process.*`
 * detectors, then `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_SERVICE_NAME`, then the options — each
 * layer wins over the ones before it. `service.instance.id` is a fresh UUID unless set.
 * `flowtrace.replica.id` is the user's `service.instance.id` when set (an id meant to be stable),
 * else the one this replica keeps on disk; `flowtrace.start.id` is new on every start.
 */
export function detectResource(options: ResourceOptions): { resource: Resource; replica: ReplicaIdentity } {
  // Detected apart from host and process, whose host.id is read asynchronously: env attributes
  // are needed now, to know whether the user set service.instance.id.
  const fromEnv = detectResources({ detectors: [envDetector] });
  const fromOptions: Attributes = { ...options.resourceAttributes };
  if (options.serviceName !== undefined) fromOptions[ATTR_SERVICE_NAME] = options.serviceName;
  const instanceId = options.serviceInstanceId ?? options.resourceAttributes?.[ATTR_SERVICE_INSTANCE_ID] ?? fromEnv.attributes[ATTR_SERVICE_INSTANCE_ID];
  fromOptions[ATTR_SERVICE_INSTANCE_ID] = instanceId ?? randomUUID();
  const resource = defaultResource()
    .merge(detectResources({ detectors: [hostDetector, processDetector] }))
    .merge(fromEnv)
    .merge(resourceFromAttributes(fromOptions));
  const serviceName = String(resource.attributes[ATTR_SERVICE_NAME] ?? 'unknown_service');
  const replica: ReplicaIdentity =
    instanceId !== undefined
      ? { replicaId: String(instanceId), persisted: false, release: () => {} }
      : claimReplicaId(options.stateDir ?? process.env.FLOWTRACE_STATE_DIR ?? defaultStateDir(serviceName));
  return { resource: resource.merge(resourceFromAttributes({ [ATTR_REPLICA_ID]: replica.replicaId, [ATTR_START_ID]: randomUUID() })), replica };
}
