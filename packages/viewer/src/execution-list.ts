import { css, html, LitElement, nothing } from 'lit';
import { repeat } from 'lit/directives/repeat.js';
import { emit, RETRY_EVENT, SELECT_EVENT, type SelectDetail } from './events.js';
import './execution-item.js';
import './filter-bar.js';
import { activeFilters, NO_FILTERS, type Filters } from './filters.js';
import type { FlowtraceExecutionItem } from './execution-item.js';
import './pagination.js';
import { theme } from './theme.js';
import type { ExecutionListItem } from './types.js';

/**
 * The executions of a flow, newest first, with the filter bar and page numbers. Arrow keys move
 * through the rows, Home and End jump, Enter or Space opens one.
 *
 * @element flowtrace-execution-list
 * @prop items - the rows of the current page
 * @prop filters - the filters in force (an empty list then says no execution matches them)
 * @attr flow-id, selected-id, page, total-pages, total, loading, error, retryable
 * @fires flowtrace-select - `{ flowId, executionId }` when a row is opened
 * @fires flowtrace-filter - from the filter bar
 * @fires flowtrace-page - from the pagination
 * @fires flowtrace-retry - when the reader asks to try loading again
 * @csspart toolbar, filter (the filter bar, its parts exported too), count, list, empty, loading, error, retry, pagination
 */
export class FlowtraceExecutionList extends LitElement {
  static override properties = {
    items: { attribute: false },
    flowId: { attribute: 'flow-id' },
    selectedId: { attribute: 'selected-id' },
    page: { type: Number },
    totalPages: { type: Number, attribute: 'total-pages' },
    total: { type: Number },
    filters: { attribute: false },
    loading: { type: Boolean, reflect: true },
    error: {},
    retryable: { type: Boolean },
  };

  declare items: ExecutionListItem[];
  declare flowId: string;
  declare selectedId: string | undefined;
  declare page: number;
  declare totalPages: number;
  declare total: number;
  declare filters: Filters;
  declare loading: boolean;
  declare error: string | undefined;
  /** Offers Retry with the error (not when only a change of configuration can help). */
  declare retryable: boolean;
  /** Index of the row that takes Tab focus (roving tabindex). */
  private active = 0;

  constructor() {
    super();
    this.items = [];
    this.flowId = '';
    this.selectedId = undefined;
    this.page = 1;
    this.totalPages = 0;
    this.total = 0;
    this.filters = NO_FILTERS;
    this.loading = false;
    this.error = undefined;
    this.retryable = true;
  }

  static override styles = [
    theme,
    css`
      :host {
        display: flex;
        flex-direction: column;
        min-height: 0;
      }
      .toolbar {
        display: flex;
        flex-wrap: wrap;
        justify-content: space-between;
        align-items: center;
        gap: 0.5em;
        padding: 0.5em 0.75em;
        border-bottom: 1px solid var(--_border);
        color: var(--_muted);
        font-size: 0.9em;
      }
      /* The filters take the toolbar's width; the count goes under them. */
      flowtrace-filter-bar {
        flex: 1 1 100%;
      }
      [role='listbox'] {
        flex: 1;
        overflow: auto;
        outline: none;
      }
      .state {
        padding: 2em 1em;
        text-align: center;
        color: var(--_muted);
      }
      .error {
        color: var(--_error-text);
      }
      .retry {
        margin-top: 0.5em;
        padding: 0.3em 0.9em;
        border: 1px solid var(--_border);
        border-radius: var(--_radius);
        background: var(--_bg);
      }
      flowtrace-pagination {
        padding: 0.5em;
        border-top: 1px solid var(--_border);
      }
    `,
  ];

  override render() {
    return html`
      <div part="toolbar" class="toolbar">
        <flowtrace-filter-bar
          part="filter"
          exportparts="filter-status, filter-range, filter-from, filter-to, search, search-hint, filter-count, reset"
          .filters=${this.filters}
        ></flowtrace-filter-bar>
        ${this.error ? nothing : html`<span part="count" aria-live="polite">${this.countText()}</span>`}
      </div>
      ${this.body()}
      <flowtrace-pagination part="pagination" .page=${this.page} .totalPages=${this.totalPages}></flowtrace-pagination>
    `;
  }

  /** Nothing while the first page loads: "0 executions" would be a claim not yet known. */
  private countText(): string {
    if (this.loading && this.items.length === 0) return '';
    const count = `${this.total} execution${this.total === 1 ? '' : 's'}`;
    return activeFilters(this.filters) > 0 ? `${count} match` : count;
  }

  private body() {
    if (this.error) {
      return html`<div part="error" class="state error" role="alert">
        <div>${this.error}</div>
        ${this.retryable ? html`<button part="retry" class="retry" @click=${() => emit(this, RETRY_EVENT, undefined)}>Retry</button>` : nothing}
      </div>`;
    }
    if (this.loading && this.items.length === 0) {
      return html`<div part="loading" class="state" role="status" aria-busy="true">Loading executions…</div>`;
    }
    if (this.items.length === 0) {
      // Two different news: the flow never ran, or the filters hide what it did.
      return activeFilters(this.filters) > 0
        ? html`<div part="empty" class="state empty" role="status" data-reason="filtered">No executions match these filters.</div>`
        : html`<div part="empty" class="state empty" role="status" data-reason="none">This flow has not run yet. Its executions will appear here as they start.</div>`;
    }
    this.active = Math.min(this.active, this.items.length - 1);
    return html`<div part="list" role="listbox" aria-label="Executions of ${this.flowId}" aria-busy=${this.loading ? 'true' : 'false'} @keydown=${this.onKey}>
      ${repeat(
        this.items,
        (item) => item.id,
        (item, index) => html`<flowtrace-execution-item
          role="option"
          tabindex=${index === this.active ? '0' : '-1'}
          aria-selected=${item.id === this.selectedId ? 'true' : 'false'}
          ?selected=${item.id === this.selectedId}
          .item=${item}
          @click=${() => this.open(index)}
          @focus=${() => (this.active = index)}
        ></flowtrace-execution-item>`,
      )}
    </div>`;
  }

  private rows(): FlowtraceExecutionItem[] {
    return [...(this.renderRoot.querySelectorAll('flowtrace-execution-item') ?? [])];
  }

  private onKey(event: KeyboardEvent) {
    const last = this.items.length - 1;
    const moves: Record<string, number> = { ArrowDown: this.active + 1, ArrowUp: this.active - 1, Home: 0, End: last };
    if (event.key in moves) {
      event.preventDefault();
      this.focusRow(Math.max(0, Math.min(last, moves[event.key]!)));
    } else if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      this.open(this.active);
    }
  }

  private focusRow(index: number) {
    this.active = index;
    const rows = this.rows();
    rows.forEach((row, i) => row.setAttribute('tabindex', i === index ? '0' : '-1'));
    rows[index]?.focus();
  }

  private open(index: number) {
    const item = this.items[index];
    if (!item) return;
    this.active = index;
    emit<SelectDetail>(this, SELECT_EVENT, { flowId: item.flowId, executionId: item.id });
  }
}

customElements.get('flowtrace-execution-list') ?? customElements.define('flowtrace-execution-list', FlowtraceExecutionList);

declare global {
  interface HTMLElementTagNameMap {
    'flowtrace-execution-list': FlowtraceExecutionList;
  }
}
