import type { ExecutionListItem, ExecutionRecord, ExecutionStatus, FlowMetrics, FlowSummary, MetricsBucketSize, NodePage, Page } from './types.js';

/** What the list asks for: a page, narrowed by the filters in force (see the collector's API). */
export interface ListQuery {
  page: number;
  limit: number;
  /** Any of these statuses. */
  status?: ExecutionStatus[];
  /** Started at or after (ISO time). */
  from?: string;
  /** Started before (ISO time). */
  to?: string;
  /** Text in the initial parameters, 3 characters or more. */
  q?: string;
}

/** What the metrics chart asks for: the collector's `from`, `to` (ISO times) and `bucket`. */
export interface MetricsQuery {
  from: string;
  to: string;
  bucket: MetricsBucketSize;
}

export type LiveState = 'connecting' | 'live' | 'down';

export interface LiveHandlers {
  /** A record of the flow was created or changed. */
  onChange(item: ExecutionListItem): void;
  /** The live feed connected (`live`) or lost its connection (`down`). */
  onState(state: LiveState): void;
  /**
   * The feed cannot say what changed while the reader was away (the server's `reset` event: the
   * gap is longer than it replays, or its database was reset): everything shown must be read again.
   */
  onReset?(): void;
}

/**
 * Where the usage tab gets its data. The default reads the collector's HTTP API; a host app
 * can pass its own (its fetch, its auth, its cache) as the tab's `source` property.
 */
export interface FlowtraceSource {
  listExecutions(flowId: string, query: ListQuery, signal?: AbortSignal): Promise<Page<ExecutionListItem>>;
  getExecution(flowId: string, executionId: string, signal?: AbortSignal): Promise<ExecutionRecord>;
  /** The next steps of a large execution, from a record's `nodesNext` or a page's `next`. */
  getNodes?(executionId: string, cursor: string, signal?: AbortSignal): Promise<NodePage>;
  /** Live changes of a flow (of every flow for ''); without it the tab polls while rows are pending. */
  subscribe?(flowId: string, handlers: LiveHandlers): { close(): void };
  /** The flows with their execution counts, deleted ones too when asked (for flowtrace-flow-list). */
  listFlows?(options: { includeDeleted: boolean }, signal?: AbortSignal): Promise<{ items: FlowSummary[] }>;
  /** Executions per time bucket by status, with duration percentiles (for flowtrace-execution-metrics). */
  getMetrics?(flowId: string, query: MetricsQuery, signal?: AbortSignal): Promise<FlowMetrics>;
}

/**
 * Why a read failed, so the tab can tell the host developer what to do and knows when trying
 * again helps: `forbidden-origin` (the collector's CORS does not list this page's origin),
 * `unauthorized` (no token or a wrong one), `unreachable` (down, or a wrong api-base),
 * `unavailable` (restarting or busy: 502/503/504), `http` (anything else).
 */
export type FailureKind = 'forbidden-origin' | 'unauthorized' | 'unreachable' | 'unavailable' | 'http';

/** An error the source could not recover from, with a message fit to show a person. */
export class SourceError extends Error {
  override name = 'SourceError';
  constructor(
    message: string,
    readonly status?: number,
    readonly kind: FailureKind = 'http',
  ) {
    super(message);
  }
}

export interface HttpSourceOptions {
  /** Base URL of the collector, e.g. `http://localhost:4318`. Default: this page's origin. */
  apiBase?: string;
  /** Sent as `Authorization: Bearer`. */
  token?: string;
  fetch?: typeof fetch;
}

const RECONNECT_MIN_MS = 500;
/** Steps asked for at a time when a reader goes through a large execution. */
const NODES_PAGE = 1000;
const RECONNECT_MAX_MS = 10_000;

/**
 * The collector's HTTP API: `/api/flows/:flowId/executions` for pages and records, and
 * `/api/stream` (Server-Sent Events, read with fetch so the token header can be sent) for live
 * changes, reconnecting with `Last-Event-ID` so nothing is missed.
 */
export class HttpSource implements FlowtraceSource {
  private readonly base: string;
  private readonly fetch: typeof fetch;

  constructor(private readonly options: HttpSourceOptions = {}) {
    this.base = (options.apiBase ?? '').replace(/\/+$/, '');
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  listExecutions(flowId: string, query: ListQuery, signal?: AbortSignal): Promise<Page<ExecutionListItem>> {
    const params = new URLSearchParams({ page: String(query.page), limit: String(query.limit) });
    if (query.status?.length) params.set('status', query.status.join(','));
    if (query.from) params.set('from', query.from);
    if (query.to) params.set('to', query.to);
    if (query.q) params.set('q', query.q);
    return this.json(`/api/flows/${encodeURIComponent(flowId)}/executions?${params}`, signal);
  }

  getExecution(flowId: string, executionId: string, signal?: AbortSignal): Promise<ExecutionRecord> {
    return this.json(`/api/flows/${encodeURIComponent(flowId)}/executions/${encodeURIComponent(executionId)}`, signal);
  }

  listFlows({ includeDeleted }: { includeDeleted: boolean }, signal?: AbortSignal): Promise<{ items: FlowSummary[] }> {
    return this.json(`/api/flows${includeDeleted ? '?includeDeleted=true' : ''}`, signal);
  }

  getMetrics(flowId: string, query: MetricsQuery, signal?: AbortSignal): Promise<FlowMetrics> {
    const params = new URLSearchParams({ from: query.from, to: query.to, bucket: query.bucket });
    return this.json(`/api/flows/${encodeURIComponent(flowId)}/metrics?${params}`, signal);
  }

  getNodes(executionId: string, cursor: string, signal?: AbortSignal): Promise<NodePage> {
    const params = new URLSearchParams({ cursor, limit: String(NODES_PAGE) });
    return this.json(`/api/executions/${encodeURIComponent(executionId)}/nodes?${params}`, signal);
  }

  subscribe(flowId: string, handlers: LiveHandlers): { close(): void } {
    const controller = new AbortController();
    let lastEventId: string | undefined;
    let delay = RECONNECT_MIN_MS;
    const connect = async (): Promise<void> => {
      while (!controller.signal.aborted) {
        handlers.onState('connecting');
        try {
          const headers: Record<string, string> = { ...this.headers(), accept: 'text/event-stream' };
          if (lastEventId) headers['last-event-id'] = lastEventId;
          const response = await this.fetch(`${this.base}/api/stream${flowId ? `?flowId=${encodeURIComponent(flowId)}` : ''}`, {
            headers,
            signal: controller.signal,
          });
          if (!response.ok || !response.body) throw new SourceError(`live updates unavailable (HTTP ${response.status})`);
          handlers.onState('live');
          delay = RECONNECT_MIN_MS;
          await readEvents(response.body, (event) => {
            if (event.id) lastEventId = event.id;
            if (event.event === 'execution') handlers.onChange(JSON.parse(event.data) as ExecutionListItem);
            else if (event.event === 'reset') handlers.onReset?.();
          });
        } catch {
          if (controller.signal.aborted) return;
        }
        if (controller.signal.aborted) return;
        handlers.onState('down');
        await sleep(delay, controller.signal);
        delay = Math.min(delay * 2, RECONNECT_MAX_MS);
      }
    };
    void connect();
    return { close: () => controller.abort() };
  }

  private headers(): Record<string, string> {
    return this.options.token ? { authorization: `Bearer ${this.options.token}` } : {};
  }

  private async json<T>(path: string, signal?: AbortSignal): Promise<T> {
    let response: Response;
    try {
      response = await this.fetch(`${this.base}${path}`, { headers: this.headers(), signal });
    } catch (error) {
      if ((error as Error).name === 'AbortError') throw error;
      throw await this.unreached(signal);
    }
    if (!response.ok) {
      const body = (await response.json().catch(() => undefined)) as { message?: string } | undefined;
      throw failure(response.status, body?.message, Boolean(this.options.token));
    }
    return (await response.json()) as T;
  }

  /**
   * A browser reports a collector that is down and one whose CORS refuses this page the same way.
   * A `no-cors` request tells them apart: it is sent (and answered opaquely) only when the
   * collector is there.
   */
  private async unreached(signal?: AbortSignal): Promise<SourceError> {
    const where = this.base || globalThis.location?.origin;
    const origin = globalThis.location?.origin;
    if (this.base && origin && new URL(this.base, origin).origin !== origin) {
      try {
        await this.fetch(`${this.base}/healthz`, { mode: 'no-cors', signal });
        return new SourceError(
          `The collector at ${where} does not allow this page's origin (${origin}). Start it with --cors-origin ${origin} (or add it to FLOWTRACE_CORS_ORIGINS).`,
          undefined,
          'forbidden-origin',
        );
      } catch {
        // Not there either: down, or a wrong api-base.
      }
    }
    return new SourceError(
      `Cannot reach the flowtrace collector at ${where}. Check that it is running and that api-base points to it; the tab reconnects by itself.`,
      undefined,
      'unreachable',
    );
  }
}

/** The message and kind of an HTTP failure, saying what to change where the cause is known. */
function failure(status: number, message: string | undefined, hasToken: boolean): SourceError {
  if (status === 401) {
    return new SourceError(
      hasToken
        ? "The collector refused the token. Set the tab's token attribute to the collector's --token (FLOWTRACE_TOKEN)."
        : "The collector needs a token. Set the tab's token attribute to the collector's --token (FLOWTRACE_TOKEN).",
      status,
      'unauthorized',
    );
  }
  if (status === 502 || status === 503 || status === 504) {
    return new SourceError(`The collector is restarting or busy (HTTP ${status}); the tab tries again by itself.`, status, 'unavailable');
  }
  return new SourceError(message ?? `the collector answered HTTP ${status}`, status);
}

interface StreamEvent {
  id?: string;
  event: string;
  data: string;
}

/** Reads a text/event-stream body until it ends, calling `onEvent` for each dispatched event. */
async function readEvents(body: ReadableStream<Uint8Array>, onEvent: (event: StreamEvent) => void): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event: StreamEvent = { event: 'message', data: '' };
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line === '' || line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'data') data.push(text);
        else if (field === 'event') event.event = text;
        else if (field === 'id') event.id = text;
      }
      if (data.length > 0) onEvent({ ...event, data: data.join('\n') });
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}
