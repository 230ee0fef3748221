import type { Attributes, AttributeValue, Span } from '@opentelemetry/api';
import { custom, flowMeta, tag, type ExecutionContext, type Tag } from '@pumped-fn/core-next';
import { abortKind, type AbortWatch } from './abort-kind.js';
import { CaptureCache, captureJson, createRedactor, REDACTED, redactCardNumbers, type CaptureOptions, type RedactFn } from './data.js';
import {
  ATTR_ABORT_KIND,
  ATTR_ABORT_REASON,
  ATTR_CANCELLED,
  ATTR_FLOW_ID,
  ATTR_FLOW_NAME,
  ATTR_FLOW_VERSION,
  ATTR_TAG_JSON_PREFIX,
  ATTR_TAG_PREFIX,
  ATTR_TIMEOUT_MS,
  TIMEOUT_MS_MAX,
  TIMEOUT_MS_MIN,
} from '@flowtrace/semconv';
import type { FlowDefinition, TracingExtensionOptions } from './types.js';

const DEFAULT_MAX_DATA_BYTES = 8192;

/** Tag labels owned by pumped-fn itself (depth, flow name, journal, …), never user data. */
const INTERNAL_TAG_KEYS = new Set<symbol>(Object.values(flowMeta).map((t) => t.key));
const INTERNAL_LABEL = /^(flow\.|pumped-fn\/)/;

/** Turns what an operation carries into span attributes, according to the user's options. */
export class AttributeMapper {
  readonly captureData: boolean;
  private readonly redact: RedactFn;
  /** `redact: false` turns off the card-number scan of text too; a predicate only replaces the key rules. */
  private readonly cardNumbers: boolean;
  private readonly flowIdOf: (definition: FlowDefinition) => string;
  private readonly tagFilter: (label: string, value: unknown) => boolean;
  /** How values are captured; a step's output is usually the next step's input: its JSON is written once (see CaptureCache). */
  private readonly capture: CaptureOptions;

  constructor(options: TracingExtensionOptions) {
    this.captureData = options.captureData ?? true;
    this.redact = createRedactor(options.redact);
    this.cardNumbers = options.redact !== false;
    this.capture = { maxBytes: options.maxDataBytes ?? DEFAULT_MAX_DATA_BYTES, redact: this.redact, cache: new CaptureCache(), cardNumbers: this.cardNumbers };
    this.flowIdOf = options.flowId ?? ((definition) => definition.name);
    const tags = options.tags;
    this.tagFilter =
      typeof tags === 'function' ? tags : tags ? (label) => tags.includes(label) : () => true;
  }

  /** `flowtrace.flow.*` of a flow definition. */
  flow(target: Attributes, definition: FlowDefinition): void {
    target[ATTR_FLOW_ID] = this.flowId(definition);
    target[ATTR_FLOW_NAME] = definition.name;
    if (definition.version !== undefined) target[ATTR_FLOW_VERSION] = definition.version;
  }

  /** As {@link flow}, set on `span` itself. */
  flowOn(span: Span, definition: FlowDefinition): void {
    span.setAttribute(ATTR_FLOW_ID, this.flowId(definition));
    span.setAttribute(ATTR_FLOW_NAME, definition.name);
    if (definition.version !== undefined) span.setAttribute(ATTR_FLOW_VERSION, definition.version);
  }

  flowId(definition: FlowDefinition): string {
    try {
      return this.flowIdOf(definition);
    } catch {
      // A throwing user callback must not break the flow; fall back to the name.
      return definition.name;
    }
  }

  /** Captures `value` as JSON under `name`, with `truncatedName=true` when it was cut. */
  data(target: Attributes, name: string, truncatedName: string, value: unknown): void {
    if (!this.captureData) return;
    const captured = this.json(value);
    if (!captured) return;
    target[name] = captured.json;
    if (captured.truncated) target[truncatedName] = true;
  }

  /** As {@link data}, set on `span` itself. */
  spanData(span: Span, name: string, truncatedName: string, value: unknown): void {
    if (!this.captureData) return;
    const captured = this.json(value);
    if (!captured) return;
    span.setAttribute(name, captured.json);
    if (captured.truncated) span.setAttribute(truncatedName, true);
  }

  /** Redacted, capped JSON of any value (the MCP part uses it for arguments and results). */
  json(value: unknown): { json: string; truncated: boolean } | undefined {
    try {
      return captureJson(value, this.capture);
    } catch {
      return { json: '"[Unserializable]"', truncated: false };
    }
  }

  /**
   * `flowtrace.tag.<label>` for the labelled tags of `ctx`. An execution's own span (`inherited`)
   * gets every tag visible from it: the scope's, then each context's from the root down, so an
   * inner value wins; a nested flow's span only those of its own context. `flowTags` (those given
   * to `flow()`) come before the contexts'. `flowtrace.timeout_ms` is set from the tag of that label.
   */
  tags(target: Attributes, ctx: ExecutionContext.Context, flowTags: readonly Tag.Tagged[] | undefined, inherited: boolean): void {
    const found = collectTags(ctx, flowTags, inherited);
    if (!found) return;
    for (const [label, value] of found) {
      if (label === ATTR_TIMEOUT_MS) {
        if (typeof value === 'number' && Number.isFinite(value)) target[ATTR_TIMEOUT_MS] = value;
        continue;
      }
      if (INTERNAL_LABEL.test(label) || !this.safeFilter(label, value)) continue;
      const attribute = this.tagValue(label, value);
      if (attribute !== undefined) target[(attribute.json ? ATTR_TAG_JSON_PREFIX : ATTR_TAG_PREFIX) + label] = attribute.value;
    }
  }

  private tagValue(label: string, value: unknown): { value: AttributeValue; json?: true } | undefined {
    if (this.redact(label, value)) return { value: REDACTED };
    if (typeof value === 'boolean') return { value };
    // Scalars keep their type; a card number in them is hidden as in captured data.
    if (typeof value === 'string') return { value: this.cardNumbers ? redactCardNumbers(value) : value };
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) return { value: String(value) };
      return { value: this.cardNumbers && redactCardNumbers(String(value)) !== String(value) ? REDACTED : value };
    }
    if (value === undefined || typeof value === 'function' || typeof value === 'symbol') return undefined;
    const json = this.json(value)?.json;
    return json === undefined ? undefined : { value: json, json: true };
  }

  private safeFilter(label: string, value: unknown): boolean {
    try {
      return this.tagFilter(label, value);
    } catch {
      return false;
    }
  }
}

/**
 * Labelled tags of `ctx` (with `inherited`, also of the scope and its ancestors), outermost
 * first; `undefined` when there are none, the common case of a nested flow, which then costs no
 * allocation.
 */
function collectTags(ctx: ExecutionContext.Context, flowTags: readonly Tag.Tagged[] | undefined, inherited: boolean): Map<string, unknown> | undefined {
  let found: Map<string, unknown> | undefined;
  if (inherited) for (const tagged of ctx.scope.tags ?? []) found = addTag(found, tagged.key, tagged.value);
  if (flowTags) for (const tagged of flowTags) found = addTag(found, tagged.key, tagged.value);
  if (!inherited) return addContextTags(found, ctx);
  const chain: ExecutionContext.Context[] = [];
  for (let c: ExecutionContext.Context | undefined = ctx; c; c = c.parent) chain.push(c);
  for (let i = chain.length - 1; i >= 0; i--) found = addContextTags(found, chain[i]!);
  return found;
}

function addContextTags(found: Map<string, unknown> | undefined, ctx: ExecutionContext.Context): Map<string, unknown> | undefined {
  for (const tagged of ctx.tags ?? []) found = addTag(found, tagged.key, tagged.value);
  // Values set with `ctx.set(tag, value)` live in the context's private tag map; core-next
  // 0.5.94 (its last release) offers no way to list them, and our tests pin this field.
  const written = (ctx as unknown as { tagData?: unknown }).tagData;
  if (written instanceof Map) for (const [key, value] of written) if (typeof key === 'symbol') found = addTag(found, key, value);
  return found;
}

function addTag(found: Map<string, unknown> | undefined, key: symbol, value: unknown): Map<string, unknown> | undefined {
  // Most tags a flow's context holds are pumped-fn's own: a set lookup rules them out before
  // the slower `description` read.
  if (INTERNAL_TAG_KEYS.has(key)) return found;
  const label = key.description;
  if (!label) return found;
  (found ??= new Map()).set(label, value);
  return found;
}

/** `flowtrace.cancelled`, `flowtrace.abort_reason` and `flowtrace.abort_kind` once the watched context aborted. */
export function abortAttributes(target: Attributes, watch: AbortWatch | undefined): void {
  if (watch?.firedAt === undefined) return;
  target[ATTR_CANCELLED] = true;
  const reason = watch.reason;
  target[ATTR_ABORT_REASON] = reason instanceof Error ? reason.message : String(reason ?? 'aborted');
  target[ATTR_ABORT_KIND] = abortKind(watch);
}

/**
 * Declares an execution's time budget to the collector (`flowtrace.timeout_ms`), which marks
 * it `error`/`timeout` once it runs past it. Attach it to a flow definition's or an exec's
 * `tags`; pass the same number as `timeout` to `scope.exec` to also abort the signal.
 * Throws a RangeError for a budget outside [1 ms, 7 days]: a configuration error is found where
 * the flow is defined, not when the collector would have to correct it.
 */
export const timeoutTag: Tag.Tag<number, false> = tag(custom<number>(checkTimeoutMs), { label: ATTR_TIMEOUT_MS });

function checkTimeoutMs(ms: unknown): number {
  if (typeof ms !== 'number' || !(ms >= TIMEOUT_MS_MIN && ms <= TIMEOUT_MS_MAX)) {
    throw new RangeError(`a timeout must be a number of ms from ${TIMEOUT_MS_MIN} ms to ${TIMEOUT_MS_MAX} ms (7 days); got ${String(ms)}`);
  }
  return ms;
}
