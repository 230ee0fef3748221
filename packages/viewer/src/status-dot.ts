import { css, html, LitElement } from 'lit';
import { STATUS, type AnyStatus } from './status.js';
import { theme } from './theme.js';

/**
 * A status shown three ways at once — colour, symbol and word — with a tooltip that explains it.
 *
 * @element flowtrace-status-dot
 * @attr status - `pending` · `fulfilled` · `error`, or a step's `running`
 * @attr description - the tooltip sentence ("Error — timed out after 5 min")
 * @attr open - shows the tooltip (set by a row under the pointer or with keyboard focus); hover shows it too
 * @attr tip - `below` the dot (default) or `beside` it, centred on it and at most two lines, so
 *   in a list it stays within its row instead of covering the rows below
 * @attr show-label - shows the status word next to the dot
 * @attr labelled - the container's label already says what the tooltip says (a list row): the
 *   tooltip is then for the eye only, not read twice
 * @csspart dot - the coloured circle with its symbol
 * @csspart label - the status word
 * @csspart tooltip - the explanation
 * @cssprop --flowtrace-color-pending / --flowtrace-color-running / --flowtrace-color-fulfilled / --flowtrace-color-error
 */
export class FlowtraceStatusDot extends LitElement {
  static override properties = {
    status: { reflect: true },
    description: {},
    open: { type: Boolean, reflect: true },
    tip: { reflect: true },
    labelled: { type: Boolean },
    showLabel: { type: Boolean, attribute: 'show-label' },
  };

  declare status: AnyStatus;
  declare description: string;
  declare open: boolean;
  declare tip: 'below' | 'beside';
  declare labelled: boolean;
  declare showLabel: boolean;

  constructor() {
    super();
    this.status = 'pending';
    this.description = '';
    this.open = false;
    this.tip = 'below';
    this.labelled = false;
    this.showLabel = false;
  }

  static override styles = [
    theme,
    css`
      :host {
        position: relative;
        display: inline-flex;
        align-items: center;
        gap: 0.4em;
      }
      .dot {
        display: inline-grid;
        place-items: center;
        width: 1.15em;
        height: 1.15em;
        border-radius: 50%;
        color: #fff;
        font-size: 0.8em;
        font-weight: 700;
        line-height: 1;
        flex: none;
      }
      .label {
        font-weight: 600;
      }
      .tooltip {
        position: absolute;
        left: 0;
        top: calc(100% + 6px);
        z-index: 10;
        width: max-content;
        max-width: 22em;
        padding: 0.4em 0.6em;
        border-radius: var(--_radius);
        background: var(--flowtrace-tooltip-bg, #1d2330);
        color: var(--flowtrace-tooltip-fg, #fff);
        font-size: 0.85em;
        font-weight: 400;
        white-space: normal;
        pointer-events: none;
        visibility: hidden;
      }
      :host([tip='beside']) .tooltip {
        top: 50%;
        left: calc(100% + 6px);
        transform: translateY(-50%);
        display: -webkit-box;
        -webkit-box-orient: vertical;
        -webkit-line-clamp: 2;
        overflow: hidden;
      }
      :host(:hover) .tooltip,
      :host([open]) .tooltip {
        visibility: visible;
      }
    `,
  ];

  override render() {
    const facts = STATUS[this.status] ?? STATUS.pending;
    return html`<span part="dot" class="dot" style="background:${facts.color}" aria-hidden="true">${facts.symbol}</span
      ><span part="label" class="label" ?hidden=${!this.showLabel}>${facts.label}</span
      ><span part="tooltip" class="tooltip" role="tooltip" aria-hidden=${this.labelled ? 'true' : 'false'}>${this.description || facts.label}</span>`;
  }
}

customElements.get('flowtrace-status-dot') ?? customElements.define('flowtrace-status-dot', FlowtraceStatusDot);

declare global {
  interface HTMLElementTagNameMap {
    'flowtrace-status-dot': FlowtraceStatusDot;
  }
}
