import type { Tracer } from '@opentelemetry/api';
import type { Flow } from '@pumped-fn/core-next';
import type { RedactFn } from './data.js';

/** Options of {@link createTracingExtension}. */
export interface TracingExtensionOptions {
  /** Tracer to create spans with. Default: the global provider's `@flowtrace/tracer` tracer. */
  tracer?: Tracer;
  /** Record inputs, fn params and outputs as JSON attributes. Default `true`. */
  captureData?: boolean;
  /** Cap of each captured JSON value, in UTF-8 bytes. Default 8192. */
  maxDataBytes?: number;
  /**
   * Which values to hide as `"[REDACTED]"`: extra key names (added to
   * `DEFAULT_REDACTED_KEYS`), a predicate that replaces the defaults, or `false` for none.
   */
  redact?: readonly string[] | RedactFn | false;
  /** Grouping id of a flow in the Usage tab. Default: the flow's name. */
  flowId?: (definition: FlowDefinition) => string;
  /**
   * Which tags become `flowtrace.tag.<label>` attributes: a list of labels, or a predicate.
   * Default: every labelled tag whose value is a scalar or serialisable to JSON.
   */
  tags?: readonly string[] | ((label: string, value: unknown) => boolean);
}

export type FlowDefinition = Flow.Definition<unknown, unknown>;
