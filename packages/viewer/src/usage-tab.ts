import { css, html, nothing, type PropertyValues } from 'lit';
import {
  COMPARE_EVENT,
  FILTER_EVENT,
  PAGE_EVENT,
  RETRY_EVENT,
  SELECT_EVENT,
  STEPS_VIEW_EVENT,
  type FilterDetail,
  type MoreStepsDetail,
  type PageDetail,
  type SelectDetail,
  type StepsView,
} from './events.js';
import './execution-compare.js';
import './execution-detail.js';
import './execution-list.js';
import { filterQuery, matchesFilters, NO_FILTERS, RANGES, type Filters } from './filters.js';
import { DEFAULT_RANGE_MS } from './execution-metrics.js';
import { SourceError, type LiveState } from './source.js';
import { SourcedElement } from './sourced-element.js';
import { theme } from './theme.js';
import { prefixOf, UrlStateController, viewUrl, type ViewState } from './url-state.js';
import type { ExecutionListItem, ExecutionRecord, Page } from './types.js';

const POLL_MS = 2000;

/**
 * The Usage tab: the flow's metrics over the filter bar's date range on top, its executions on
 * the left, the selected one on the right (stacked on narrow screens), kept live from the
 * collector's stream, falling back to polling while rows are pending and the stream is down.
 *
 * @element flowtrace-usage-tab
 * @attr flow-id - the flow whose executions to show
 * @attr api-base - the collector's base URL (default: this page's origin)
 * @attr token - bearer token for the collector
 * @attr page-size - rows per page (default 20, at most 100)
 * @attr trace-url - link template for trace ids, e.g. `http://localhost:16686/trace/{traceId}`
 * @attr execution-id - the execution to open (set it to deep-link)
 * @attr steps-view - `tree` (default) or `timeline`: how the open execution's steps are shown
 * @attr url-state - keep the flow, page, filters and open execution in the page's query string
 *   (back and forward step through them); the value, if any, prefixes the parameters (`url-state="ft"`: `ft-page=2`).
 *   The detail's "Copy link" then copies that address.
 * @prop source - a custom {@link FlowtraceSource} instead of the collector's HTTP API
 * @prop filters - the list's filters (status, date range, search); the filter bar sets them
 * @fires flowtrace-select - `{ flowId, executionId }` when an execution is opened
 * @fires flowtrace-page - `{ page }` when the reader changes page
 * @fires flowtrace-filter - `{ filters }` when the reader changes the filters
 * @csspart metrics - the flowtrace-execution-metrics chart on top; its parts are exported prefixed (metrics-chart, metrics-summary, metrics-plot, metrics-bar, metrics-line, metrics-axis, metrics-table)
 * @csspart list-panel - the left column; its parts are exported too (toolbar, filter, list, …)
 * @csspart compare-panel - the comparison, and compare-bar its note and Close button (with flowtrace-execution-compare's parts: compare-header, params-diff, steps-diff, step-pair, changed-status, delta, changes, result-diff)
 * @csspart live-state - "reconnecting" while the live stream is down
 * @csspart detail-panel - the right column; its parts are exported too (header, duration, node, failing, node-time, …)
 */
export class FlowtraceUsageTab extends SourcedElement {
  static override properties = {
    flowId: { attribute: 'flow-id' },
    pageSize: { type: Number, attribute: 'page-size' },
    traceUrl: { attribute: 'trace-url' },
    executionId: { attribute: 'execution-id', reflect: true },
    urlState: { attribute: 'url-state' },
    stepsView: { attribute: 'steps-view' },
    page: { state: true },
    filters: { attribute: false },
    list: { state: true },
    listLoading: { state: true },
    listError: { state: true },
    listRetry: { state: true },
    record: { state: true },
    detailLoading: { state: true },
    detailError: { state: true },
    live: { state: true },
    metricsRevision: { state: true },
    compareFrom: { state: true },
  };

  declare flowId: string;
  declare pageSize: number;
  declare traceUrl: string | undefined;
  declare executionId: string | undefined;
  declare urlState: string | null | undefined;
  declare stepsView: StepsView;
  declare page: number;
  declare filters: Filters;
  declare list: Page<ExecutionListItem> | undefined;
  declare listLoading: boolean;
  declare listError: string | undefined;
  /** Whether trying again can help (not while the token is refused). */
  declare listRetry: boolean;
  declare record: ExecutionRecord | undefined;
  declare detailLoading: boolean;
  declare detailError: string | undefined;
  declare live: LiveState;
  /** Counts the live changes, so the metrics chart reads its figures again. */
  declare metricsRevision: number;
  /** The execution the reader compares from; the one opened next is compared with it. */
  declare compareFrom: ExecutionRecord | undefined;

  private listRequest: AbortController | undefined;
  private detailRequest: AbortController | undefined;
  private subscription: { close(): void } | undefined;
  private poller: ReturnType<typeof setInterval> | undefined;
  /** What the current list and subscription were started for; a change restarts them. */
  private startedFor: unknown[] | undefined;
  /** The live stream dropped and has not come back yet. */
  private lost = false;
  /** Live changes that arrived while the list was loading, applied once it is in. */
  private heldChanges: ExecutionListItem[] = [];

  constructor() {
    super();
    this.flowId = '';
    this.pageSize = 20;
    this.traceUrl = undefined;
    this.executionId = undefined;
    this.urlState = undefined;
    this.stepsView = 'tree';
    this.page = 1;
    this.filters = NO_FILTERS;
    this.list = undefined;
    this.listLoading = false;
    this.listError = undefined;
    this.listRetry = true;
    this.record = undefined;
    this.detailLoading = false;
    this.detailError = undefined;
    this.live = 'connecting';
    this.metricsRevision = 0;
    this.compareFrom = undefined;
    this.addEventListener(PAGE_EVENT, (event) => this.onPage(event));
    this.addEventListener(FILTER_EVENT, (event) => this.onFilter(event));
    this.addEventListener(RETRY_EVENT, () => void this.loadList());
    this.addEventListener(SELECT_EVENT, (event) => this.onSelect(event));
    this.addEventListener(STEPS_VIEW_EVENT, (event) => (this.stepsView = event.detail.view));
    this.addEventListener(COMPARE_EVENT, (event) => {
      if (this.record?.id === event.detail.executionId) this.compareFrom = this.record;
    });
    // It adds itself to the tab's controllers; url-state turns it on.
    new UrlStateController(this);
  }

  /** The view the URL keeps (see url-state). */
  get viewState(): ViewState {
    return { flowId: this.flowId, executionId: this.executionId, page: this.page, filters: this.filters, steps: this.stepsView };
  }

  /** Opens the view a URL names; what it leaves out stays. */
  applyViewState(state: Partial<ViewState>) {
    if (state.flowId !== undefined) this.flowId = state.flowId;
    if ('executionId' in state) this.executionId = state.executionId;
    if (state.page !== undefined) this.page = state.page;
    if (state.filters !== undefined) this.filters = state.filters;
    if (state.steps !== undefined) this.stepsView = state.steps;
  }

  static override styles = [
    theme,
    css`
      :host {
        display: flex;
        flex-direction: column;
        position: relative;
        container-type: inline-size;
        background: var(--_bg);
        border: 1px solid var(--_border);
        border-radius: var(--_radius);
        height: var(--flowtrace-height, 640px);
        overflow: hidden;
      }
      flowtrace-execution-metrics {
        padding: 0.5em 0.75em 0.4em;
        border-bottom: 1px solid var(--_border);
      }
      .columns {
        display: grid;
        grid-template-columns: minmax(16em, 2fr) 3fr;
        flex: 1;
        min-height: 0;
      }
      flowtrace-execution-list {
        border-right: 1px solid var(--_border);
        min-height: 0;
      }
      flowtrace-execution-detail,
      .compare {
        min-height: 0;
      }
      .compare {
        display: flex;
        flex-direction: column;
      }
      .compare > :last-child {
        flex: 1;
        min-height: 0;
      }
      flowtrace-execution-compare {
        padding: 0.75em 1em;
      }
      .compare-bar {
        display: flex;
        gap: 0.75em;
        align-items: center;
        padding: 0.4em 1em;
        background: var(--_surface);
        border-bottom: 1px solid var(--_border);
        font-size: 0.9em;
      }
      .compare-bar button {
        padding: 0.1em 0.7em;
        border: 1px solid var(--_border);
        border-radius: var(--_radius);
        background: var(--_bg);
      }
      .live {
        position: absolute;
        right: 0.75em;
        bottom: 0.4em;
        font-size: 0.75em;
        color: var(--_muted);
      }
      @container (max-width: 720px) {
        .columns {
          grid-template-columns: 1fr;
          grid-template-rows: minmax(14em, 45%) 1fr;
        }
        flowtrace-execution-list {
          border-right: none;
          border-bottom: 1px solid var(--_border);
        }
      }
    `,
  ];

  override disconnectedCallback() {
    super.disconnectedCallback();
    this.startedFor = undefined;
    this.stopPolling();
    this.subscription?.close();
    this.subscription = undefined;
    this.listRequest?.abort();
    this.detailRequest?.abort();
  }

  protected override willUpdate(changed: PropertyValues<this>) {
    super.willUpdate(changed);
    if (!this.isConnected || !this.flowId) return;
    // Another flow: the open execution was the previous flow's, unless the host names one of the new flow in the same change.
    if (changed.get('flowId') && !changed.has('executionId')) this.executionId = undefined;
    if (this.compareFrom && this.compareFrom.flowId !== this.flowId) this.compareFrom = undefined;
    if (this.record && this.record.flowId !== this.flowId) {
      this.record = undefined;
      this.detailError = undefined;
    }
    const key = [this.flowId, this.apiBase, this.token, this.source];
    if (!this.startedFor || key.some((part, i) => part !== this.startedFor![i])) {
      // Another flow starts at its first page, unless the same change names one (a link, back/forward).
      if (this.startedFor && this.startedFor[0] !== this.flowId && !changed.has('page')) this.page = 1;
      this.restart();
      this.startedFor = [this.flowId, this.apiBase, this.token, this.source];
      return;
    }
    if (changed.has('pageSize') || changed.has('page') || changed.has('filters')) void this.loadList();
    if (changed.has('executionId') && this.executionId !== this.record?.id) void this.loadDetail();
  }

  override render() {
    const list = this.list;
    // A host's own source may have no metrics: then there is no chart.
    return html`${this.data.getMetrics ? this.metricsChart() : nothing}
      <div class="columns">
      <flowtrace-execution-list
        part="list-panel"
        exportparts="toolbar, filter, filter-status, filter-range, filter-from, filter-to, search, search-hint, filter-count, reset, count, list, empty, loading, error, retry, pagination"
        .flowId=${this.flowId}
        .items=${list?.items ?? []}
        .selectedId=${this.executionId}
        .page=${this.page}
        .totalPages=${list?.totalPages ?? 0}
        .total=${list?.total ?? 0}
        .filters=${this.filters}
        .loading=${this.listLoading}
        .error=${this.listError}
        .retryable=${this.listRetry}
      ></flowtrace-execution-list>
      ${this.compareFrom ? this.comparePanel(this.compareFrom) : this.detail()}
    </div>
    ${this.lost && this.live !== 'live' && !this.listError
      ? html`<div part="live-state" class="live" role="status">Live updates paused: reconnecting to the collector…</div>`
      : nothing}`;
  }

  private detail() {
    return html`<flowtrace-execution-detail
        part="detail-panel"
        exportparts="placeholder, header, duration, summary, params, steps, node, failing, node-time, step-number, stack, toggle, folded, result, trace-link, more-steps, export, copy-status, rerun, editor, params-error, run, rerun-status, steps-view, timeline, selected-step, axis, tick, rows, row, selected, bar, bar-time"
        @flowtrace-more-steps=${this.onMoreSteps}
        .record=${this.record}
        .loading=${this.detailLoading}
        .error=${this.detailError}
        .traceUrl=${this.traceUrl}
        .stepsView=${this.stepsView}
        .link=${this.link()}
      ></flowtrace-execution-detail>`;
  }

  /**
   * Comparing: until the reader opens another execution, the one compared from stays open with
   * a note to pick one; then the two side by side.
   */
  private comparePanel(from: ExecutionRecord) {
    const other = this.record && this.record.id !== from.id ? this.record : undefined;
    return html`<section part="compare-panel" class="compare" aria-label="Compare executions">
      <div part="compare-bar" class="compare-bar" role="status">
        <span>${other ? 'Comparing two executions.' : 'Select another execution in the list to compare with this one.'}</span>
        <button type="button" @click=${() => (this.compareFrom = undefined)}>${other ? 'Close comparison' : 'Cancel'}</button>
      </div>
      ${other
        ? html`<flowtrace-execution-compare
            exportparts="header: compare-header, params-diff, steps-diff, step-pair, changed-status, delta, changes, result-diff"
            .left=${from}
            .right=${other}
          ></flowtrace-execution-compare>`
        : this.detail()}
    </section>`;
  }

  /** With url-state, the address of this view with the open execution: the detail's "Copy link". */
  private link(): string | undefined {
    const prefix = prefixOf(this.urlState);
    return prefix === undefined || !this.executionId ? undefined : viewUrl(prefix, this.viewState);
  }

  /** The flow's metrics over the filter bar's date range (the last 24 hours without one). */
  private metricsChart() {
    const { range, from, to } = this.filters;
    return html`<flowtrace-execution-metrics
      part="metrics"
      exportparts="chart: metrics-chart, summary: metrics-summary, plot: metrics-plot, bar: metrics-bar, duration-line: metrics-line, axis: metrics-axis, table: metrics-table"
      .source=${this.data}
      .flowId=${this.flowId}
      .from=${range === 'custom' ? from : undefined}
      .to=${range === 'custom' ? to : undefined}
      .span=${range && range !== 'custom' ? RANGES[range].ms : DEFAULT_RANGE_MS}
      .revision=${this.metricsRevision}
    ></flowtrace-execution-metrics>`;
  }

  /** (Re)loads everything for the current flow and (re)subscribes to its live changes. */
  private restart() {
    this.subscription?.close();
    this.subscription = undefined;
    this.list = undefined;
    this.heldChanges = [];
    void this.loadList();
    if (this.executionId) void this.loadDetail();
    const source = this.data;
    if (source.subscribe) {
      this.subscription = source.subscribe(this.flowId, {
        onChange: (item) => this.onLiveChange(item),
        onState: (state) => {
          if (state === 'down') this.lost = true;
          if (state === 'live') {
            // The stream sends what changes once it is connected: read again what was committed
            // before that (or while it was down), and what failed to load meanwhile.
            void this.loadList({ quiet: !this.listError });
            if (this.executionId && (this.lost || this.detailError)) void this.loadDetail({ quiet: true });
            this.lost = false;
          }
          this.live = state;
          this.updatePolling();
        },
        onReset: () => {
          void this.loadList({ quiet: true });
          if (this.executionId) void this.loadDetail({ quiet: true });
        },
      });
    } else {
      this.live = 'down';
    }
  }

  private async loadList({ quiet = false } = {}) {
    if (!this.flowId) return;
    this.listRequest?.abort();
    const request = (this.listRequest = new AbortController());
    if (!quiet) this.listLoading = true;
    try {
      const limit = Math.max(1, Math.min(100, this.pageSize || 20));
      const query = { page: this.page, limit, ...filterQuery(this.filters, Date.now()) };
      this.list = await this.data.listExecutions(this.flowId, query, request.signal);
      this.listError = undefined;
    } catch (error) {
      if (request.signal.aborted) return;
      this.listError = messageOf(error, 'The executions could not be loaded.');
      this.listRetry = !(error instanceof SourceError && error.kind === 'unauthorized');
    } finally {
      if (this.listRequest === request) {
        this.listLoading = false;
        this.listRequest = undefined;
      }
    }
    if (this.list) for (const item of this.heldChanges.splice(0)) this.onLiveChange(item);
    this.updatePolling();
  }

  private async loadDetail({ quiet = false } = {}) {
    const id = this.executionId;
    this.detailRequest?.abort();
    if (!id) {
      this.record = undefined;
      return;
    }
    const request = (this.detailRequest = new AbortController());
    if (!quiet) {
      this.detailLoading = true;
      if (this.record?.id !== id) this.record = undefined;
    }
    try {
      this.record = await this.data.getExecution(this.flowId, id, request.signal);
      this.detailError = undefined;
    } catch (error) {
      if (request.signal.aborted) return;
      // One just started (a re-run) may not have reached the collector yet: the live stream reloads it when it does.
      this.detailError =
        error instanceof SourceError && error.status === 404
          ? `Execution ${id} is not in the collector yet; it opens here when it arrives.`
          : messageOf(error, 'The execution could not be loaded.');
    } finally {
      if (this.detailRequest === request) this.detailLoading = false;
    }
    this.updatePolling();
  }

  /** The next page of a large execution's steps, appended to the record shown. */
  private onMoreSteps = async (event: CustomEvent<MoreStepsDetail>) => {
    const record = this.record;
    if (!record || record.id !== event.detail.executionId || !this.data.getNodes) return;
    const request = this.detailRequest;
    this.detailLoading = true;
    try {
      const page = await this.data.getNodes(record.id, event.detail.cursor, request?.signal);
      if (this.record !== record) return;
      const next: ExecutionRecord = { ...record, nodes: [...record.nodes, ...page.items] };
      if (page.next) next.nodesNext = page.next;
      else delete next.nodesNext;
      this.record = next;
      this.detailError = undefined;
    } catch (error) {
      if (!request?.signal.aborted) this.detailError = messageOf(error, 'More steps could not be loaded.');
    } finally {
      this.detailLoading = false;
    }
  };

  /** A record changed: update its row in place, or put a new one where it sorts on this page. */
  private onLiveChange(item: ExecutionListItem) {
    if (item.flowId !== this.flowId) return;
    this.metricsRevision++;
    if (this.listRequest || !this.list) {
      // The page being read may have been read before this change: apply it after.
      this.heldChanges.push(item);
      return;
    }
    const list = this.list;
    const matches = matchesFilters(item, this.filters, Date.now());
    if (matches === undefined) {
      // A search: only the collector knows whether this row matches.
      void this.loadList({ quiet: true });
      if (item.id === this.executionId) void this.loadDetail({ quiet: true });
      return;
    }
    const index = list.items.findIndex((row) => row.id === item.id);
    if (index >= 0) {
      const items = matches ? list.items.map((row) => (row.id === item.id ? item : row)) : list.items.filter((row) => row.id !== item.id);
      const total = matches ? list.total : list.total - 1;
      this.list = { ...list, items, total, totalPages: Math.ceil(total / list.limit) };
    } else if (matches) {
      const total = list.total + 1;
      // Newest first: it goes before the first row that started earlier. Rows arrive in commit
      // order, not start order, so a new row is not always the newest.
      const started = Date.parse(item.startedAt);
      const at = list.items.findIndex((row) => Date.parse(row.startedAt) <= started);
      const position = at < 0 ? list.items.length : at;
      const fits = (this.page === 1 || position > 0) && position < list.limit;
      const items = fits ? [...list.items.slice(0, position), item, ...list.items.slice(position)].slice(0, list.limit) : list.items;
      this.list = { ...list, items, total, totalPages: Math.ceil(total / list.limit) };
      // Times here are whole milliseconds; the collector orders by finer ones. When a row started
      // in the same millisecond as one shown, only the collector knows which came first: ask it.
      if (list.items.some((row) => Date.parse(row.startedAt) === started)) void this.loadList({ quiet: true });
    }
    if (item.id === this.executionId) void this.loadDetail({ quiet: true });
  }

  // The list's and pagination's events are composed: they go on to the host page as they are.
  private onSelect(event: CustomEvent<SelectDetail>) {
    this.executionId = event.detail.executionId;
  }

  private onPage(event: CustomEvent<PageDetail>) {
    this.page = event.detail.page;
  }

  private onFilter(event: CustomEvent<FilterDetail>) {
    this.filters = event.detail.filters;
    this.page = 1;
  }

  private get hasPending(): boolean {
    return (this.list?.items.some((row) => row.status === 'pending') ?? false) || this.record?.status === 'pending';
  }

  /** Polls while something visible is pending and live updates are not flowing. */
  private updatePolling() {
    const needed = this.live !== 'live' && this.hasPending && this.isConnected;
    if (needed && !this.poller) {
      this.poller = setInterval(() => {
        void this.loadList({ quiet: true });
        if (this.record?.status === 'pending') void this.loadDetail({ quiet: true });
      }, POLL_MS);
    } else if (!needed) {
      this.stopPolling();
    }
  }

  private stopPolling() {
    clearInterval(this.poller);
    this.poller = undefined;
  }
}

function messageOf(error: unknown, fallback: string): string {
  return error instanceof Error && error.message ? error.message : fallback;
}

customElements.get('flowtrace-usage-tab') ?? customElements.define('flowtrace-usage-tab', FlowtraceUsageTab);

declare global {
  interface HTMLElementTagNameMap {
    'flowtrace-usage-tab': FlowtraceUsageTab;
  }
}
