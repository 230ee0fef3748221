import { css, html, LitElement, nothing, type PropertyValues } from 'lit';
import { emit, FILTER_EVENT, type FilterDetail } from './events.js';
import { activeFilters, MIN_SEARCH, NO_FILTERS, RANGES, searchable, STATUSES, type Filters, type RangePreset } from './filters.js';
import { STATUS } from './status.js';
import { theme } from './theme.js';
import type { ExecutionStatus } from './types.js';

/** Long enough to type a word, short enough to feel live. */
const SEARCH_DEBOUNCE_MS = 300;

/**
 * The list's filters: statuses (several at once), a date range (presets or custom), a search
 * over the initial parameters (debounced, from 3 characters), how many filters are on, and a
 * reset.
 *
 * @element flowtrace-filter-bar
 * @prop filters - the filters in force
 * @fires flowtrace-filter - `{ filters }` when the reader changes them
 * @csspart filter-status, filter-range, filter-from, filter-to, search, search-hint, filter-count, reset
 */
export class FlowtraceFilterBar extends LitElement {
  static override properties = {
    filters: { attribute: false },
    text: { state: true },
  };

  declare filters: Filters;
  /** The search box as typed; it reaches `filters` once the reader pauses. */
  declare text: string;
  private debounce: ReturnType<typeof setTimeout> | undefined;

  constructor() {
    super();
    this.filters = NO_FILTERS;
    this.text = '';
  }

  static override styles = [
    theme,
    css`
      :host {
        display: flex;
        flex-wrap: wrap;
        gap: 0.4em 0.75em;
        align-items: center;
      }
      fieldset {
        display: flex;
        gap: 0.5em;
        border: none;
        margin: 0;
        padding: 0;
      }
      legend {
        float: left;
        margin-right: 0.3em;
      }
      label {
        display: inline-flex;
        align-items: center;
        gap: 0.25em;
      }
      input,
      select {
        font: inherit;
        color: inherit;
        padding: 0.15em 0.3em;
        border: 1px solid var(--_border);
        border-radius: var(--_radius);
        background: var(--_bg);
      }
      input[type='search'] {
        min-width: 0;
        width: 12em;
      }
      .search {
        display: flex;
        flex-direction: column;
      }
      .hint {
        font-size: 0.8em;
      }
      .count {
        margin-left: auto;
      }
      button {
        padding: 0.15em 0.6em;
        border: 1px solid var(--_border);
        border-radius: var(--_radius);
        background: var(--_bg);
      }
      button:disabled {
        cursor: default;
        opacity: 0.45;
      }
    `,
  ];

  protected override willUpdate(changed: PropertyValues<this>) {
    // The search in force changed (a reset, a link): the box shows it. Other changes keep what is typed.
    if (changed.has('filters') && (changed.get('filters') as Filters | undefined)?.q !== this.filters.q) this.text = this.filters.q;
  }

  override disconnectedCallback() {
    super.disconnectedCallback();
    clearTimeout(this.debounce);
  }

  override render() {
    const filters = this.filters;
    const active = activeFilters(filters);
    const short = this.text !== '' && !searchable(this.text);
    return html`
      <fieldset part="filter-status">
        <legend>Status</legend>
        ${STATUSES.map(
          (status) => html`<label>
            <input type="checkbox" value=${status} .checked=${filters.status.includes(status)} @change=${this.onStatus} />${STATUS[status].label}
          </label>`,
        )}
      </fieldset>
      <label>Started
        <select part="filter-range" .value=${filters.range} @change=${this.onRange}>
          <option value="">Any time</option>
          ${Object.entries(RANGES).map(([id, range]) => html`<option value=${id}>${range.label}</option>`)}
          <option value="custom">Custom…</option>
        </select>
      </label>
      ${filters.range === 'custom'
        ? html`<label>From <input part="filter-from" type="datetime-local" .value=${localInput(filters.from)} @change=${(e: Event) => this.onCustom('from', e)} /></label>
            <label>To <input part="filter-to" type="datetime-local" .value=${localInput(filters.to)} @change=${(e: Event) => this.onCustom('to', e)} /></label>`
        : nothing}
      <span class="search">
        <label>Search
          <input
            part="search"
            type="search"
            placeholder="in parameters"
            aria-describedby="search-hint"
            .value=${this.text}
            @input=${this.onSearch}
            @keydown=${(e: KeyboardEvent) => e.key === 'Enter' && this.applySearch()}
          />
        </label>
        <span id="search-hint" part="search-hint" class="hint" ?hidden=${!short} aria-live="polite">${short ? `Type at least ${MIN_SEARCH} characters to search.` : ''}</span>
      </span>
      <span part="filter-count" class="count" aria-live="polite">${active === 0 ? 'No filters' : `${active} filter${active === 1 ? '' : 's'}`}</span>
      <button part="reset" type="button" ?disabled=${active === 0 && this.text === ''} @click=${this.reset}>Reset</button>
    `;
  }

  private change(next: Partial<Filters>) {
    emit<FilterDetail>(this, FILTER_EVENT, { filters: { ...this.filters, ...next } });
  }

  private onStatus(event: Event) {
    const box = event.target as HTMLInputElement;
    const wanted = new Set(this.filters.status);
    if (box.checked) wanted.add(box.value as ExecutionStatus);
    else wanted.delete(box.value as ExecutionStatus);
    // In the table's order, so the same choice always reads (and links) the same.
    this.change({ status: STATUSES.filter((status) => wanted.has(status)) });
  }

  private onRange(event: Event) {
    const range = (event.target as HTMLSelectElement).value as RangePreset | 'custom' | '';
    this.change({ range, from: undefined, to: undefined });
  }

  private onCustom(end: 'from' | 'to', event: Event) {
    const value = (event.target as HTMLInputElement).value;
    const time = value ? new Date(value) : undefined;
    this.change({ [end]: time && !Number.isNaN(time.getTime()) ? time.toISOString() : undefined });
  }

  private onSearch(event: Event) {
    this.text = (event.target as HTMLInputElement).value;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => this.applySearch(), SEARCH_DEBOUNCE_MS);
  }

  /** Searches for the text typed, or for nothing while it is too short to look up. */
  private applySearch() {
    clearTimeout(this.debounce);
    const q = searchable(this.text) ? this.text : '';
    if (q !== this.filters.q) this.change({ q });
  }

  private reset() {
    clearTimeout(this.debounce);
    this.text = '';
    this.change(NO_FILTERS);
  }
}

/** An ISO time as a `datetime-local` input shows it: the reader's local time, to the minute. */
function localInput(iso: string | undefined): string {
  if (!iso) return '';
  const date = new Date(iso);
  const local = new Date(date.getTime() - date.getTimezoneOffset() * 60_000);
  return local.toISOString().slice(0, 16);
}

customElements.get('flowtrace-filter-bar') ?? customElements.define('flowtrace-filter-bar', FlowtraceFilterBar);

declare global {
  interface HTMLElementTagNameMap {
    'flowtrace-filter-bar': FlowtraceFilterBar;
  }
}
