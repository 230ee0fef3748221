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
import { ATTR_SERVICE_INSTANCE_ID, ATTR_SERVICE_NAME } from '@flowtrace/tracer/semconv';

export interface ResourceOptions {
  serviceName?: string;
  serviceInstanceId?: string;
  resourceAttributes?: Attributes;
}

/**
 * The process's resource, built like `@opentelemetry/sdk-node` builds it: the SDK's default
 * (`telemetry.sdk.*`, `service.name=unknown_service:<process>`), then the `host.*` and `process.*`
 * detectors, then `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_SERVICE_NAME`, then the options — each
 * layer wins over the ones before it. `service.instance.id` is a fresh UUID unless set, so the
 * collector can tell that the service restarted.
 */
export function detectResource(options: ResourceOptions): Resource {
  // Detected apart from host and process, whose host.id is read asynchronously: env attributes
  // are needed now, to know whether the user set service.instance.id.
  const fromEnv = detectResources({ detectors: [envDetector] });
  const fromOptions: Attributes = { ...options.resourceAttributes };
  if (options.serviceName !== undefined) fromOptions[ATTR_SERVICE_NAME] = options.serviceName;
  fromOptions[ATTR_SERVICE_INSTANCE_ID] =
    options.serviceInstanceId ??
    options.resourceAttributes?.[ATTR_SERVICE_INSTANCE_ID] ??
    fromEnv.attributes[ATTR_SERVICE_INSTANCE_ID] ??
    randomUUID();
  return defaultResource()
    .merge(detectResources({ detectors: [hostDetector, processDetector] }))
    .merge(fromEnv)
    .merge(resourceFromAttributes(fromOptions));
}
