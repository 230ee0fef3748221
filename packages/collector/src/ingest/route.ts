import type { DecodedRequest } from '../otlp/span.js';
import { executionIdOf, roleOf } from '../records/aggregate.js';
import type { IncomingSpan } from '../store/engine.js';

/** Each decoded span with its role and the execution it belongs to (none for foreign spans). */
export function routeSpans(decoded: DecodedRequest): IncomingSpan[] {
  return decoded.spans.map((span, i) => {
    const role = roleOf(span);
    // Markers about a process belong to no execution.
    const aboutProcess = role === 'instance-start' || role === 'heartbeat';
    const incoming: IncomingSpan = { span, role, executionId: aboutProcess ? undefined : executionIdOf(span) };
    const wire = decoded.wires?.[i];
    if (wire) incoming.wire = wire;
    return incoming;
  });
}
