import { css, html, LitElement, nothing } from 'lit';
import { emit, PAGE_EVENT, type PageDetail } from './events.js';
import { theme } from './theme.js';

/**
 * Page numbers with previous and next.
 *
 * @element flowtrace-pagination
 * @attr page - the current page, from 1
 * @attr total-pages - how many pages there are
 * @fires flowtrace-page - `{ page }` when the reader picks a page
 * @csspart nav - the navigation landmark
 * @csspart button - every page button; the current one is also `current`
 */
export class FlowtracePagination extends LitElement {
  static override properties = {
    page: { type: Number },
    totalPages: { type: Number, attribute: 'total-pages' },
  };

  declare page: number;
  declare totalPages: number;

  constructor() {
    super();
    this.page = 1;
    this.totalPages = 0;
  }

  static override styles = [
    theme,
    css`
      nav {
        display: flex;
        flex-wrap: wrap;
        gap: 0.25em;
        align-items: center;
        justify-content: center;
      }
      button {
        min-width: 2.2em;
        padding: 0.25em 0.5em;
        border: 1px solid var(--_border);
        border-radius: var(--_radius);
        background: var(--_bg);
      }
      button[aria-current='page'] {
        background: var(--_accent);
        border-color: var(--_accent);
        color: #fff;
      }
      button:disabled {
        cursor: default;
        opacity: 0.45;
      }
      .gap {
        color: var(--_muted);
        padding: 0 0.2em;
      }
    `,
  ];

  override render() {
    if (this.totalPages <= 1) return nothing;
    return html`<nav part="nav" aria-label="Pages">
      <button part="button prev" ?disabled=${this.page <= 1} @click=${() => this.go(this.page - 1)} aria-label="Previous page">‹ Prev</button>
      ${pageWindow(this.page, this.totalPages).map((entry) =>
        entry === 'gap'
          ? html`<span class="gap" aria-hidden="true">…</span>`
          : html`<button
              part=${entry === this.page ? 'button current' : 'button'}
              aria-current=${entry === this.page ? 'page' : 'false'}
              aria-label="Page ${entry}"
              @click=${() => this.go(entry)}
            >${entry}</button>`,
      )}
      <button part="button next" ?disabled=${this.page >= this.totalPages} @click=${() => this.go(this.page + 1)} aria-label="Next page">Next ›</button>
    </nav>`;
  }

  private go(page: number) {
    if (page < 1 || page > this.totalPages || page === this.page) return;
    emit<PageDetail>(this, PAGE_EVENT, { page });
  }
}

/** 1 … 4 5 6 … 20: the first, the last, and the pages around the current one. */
export function pageWindow(page: number, total: number): Array<number | 'gap'> {
  const wanted = new Set([1, total, page - 1, page, page + 1].filter((p) => p >= 1 && p <= total));
  const sorted = [...wanted].sort((a, b) => a - b);
  const out: Array<number | 'gap'> = [];
  for (const p of sorted) {
    const last = out.at(-1);
    if (typeof last === 'number' && p - last > 1) out.push(p - last === 2 ? last + 1 : 'gap');
    out.push(p);
  }
  return out;
}

customElements.get('flowtrace-pagination') ?? customElements.define('flowtrace-pagination', FlowtracePagination);

declare global {
  interface HTMLElementTagNameMap {
    'flowtrace-pagination': FlowtracePagination;
  }
}
