import { css, html, nothing, type PropertyValues } from 'lit';
import { emit, FLOW_SELECT_EVENT, type FlowSelectDetail } from './events.js';
import { isolate } from './format.js';
import { SourcedElement } from './sourced-element.js';
import { STATUS } from './status.js';
import { theme } from './theme.js';
import type { FlowSummary } from './types.js';

/** Changes come in bursts (every step of a run): one re-read per burst is enough. */
const REFRESH_DEBOUNCE_MS = 250;

/**
 * The flows a collector has seen, each with its execution count, kept current from the live
 * stream (a change to any execution re-reads the counts). Deleted flows are listed apart behind
 * a toggle, their history still reachable; one that ran again after it was deleted says so.
 *
 * @element flowtrace-flow-list
 * @attr api-base, token - as on flowtrace-usage-tab
 * @attr selected - the flow shown as current
 * @attr show-deleted - also list deleted flows, in their own section
 * @attr auto-select - pick the first flow (firing flowtrace-flow-select) while none is selected
 * @prop source - a custom source with `listFlows` (and `subscribe` for live counts)
 * @fires flowtrace-flow-select - `{ flowId }` when the reader picks a flow
 * @csspart flows, flow, count, deleted, deleted-toggle, error
 */
export class FlowtraceFlowList extends SourcedElement {
  static override properties = {
    selected: { reflect: true },
    showDeleted: { type: Boolean, attribute: 'show-deleted', reflect: true },
    autoSelect: { type: Boolean, attribute: 'auto-select' },
    flows: { state: true },
    error: { state: true },
  };

  declare selected: string | undefined;
  declare showDeleted: boolean;
  declare autoSelect: boolean;
  declare flows: FlowSummary[] | undefined;
  declare error: string | undefined;
  private request: AbortController | undefined;
  private subscription: { close(): void } | undefined;
  private refresh: ReturnType<typeof setTimeout> | undefined;

  constructor() {
    super();
    this.selected = undefined;
    this.showDeleted = false;
    this.autoSelect = false;
    this.flows = undefined;
    this.error = undefined;
  }

  static override styles = [
    theme,
    css`
      :host {
        display: block;
      }
      ul {
        display: flex;
        flex-wrap: wrap;
        gap: 0.4em;
        list-style: none;
        margin: 0;
        padding: 0;
      }
      button.flow {
        padding: 0.35em 0.9em;
        border: 1px solid var(--_border);
        border-radius: 999px;
        background: var(--_bg);
      }
      button.flow[aria-pressed='true'] {
        background: var(--_accent);
        border-color: var(--_accent);
        color: #fff;
      }
      .deleted button.flow {
        border-style: dashed;
      }
      h3 {
        font-size: 0.85em;
        margin: 0.6em 0 0.3em;
        color: var(--_muted);
      }
      .bar {
        display: flex;
        gap: 1em;
        align-items: center;
        margin-top: 0.4em;
        font-size: 0.85em;
        color: var(--_muted);
      }
      .error {
        color: var(--_error-text);
      }
    `,
  ];

  override disconnectedCallback() {
    super.disconnectedCallback();
    this.stop();
  }

  protected override willUpdate(changed: PropertyValues<this>) {
    super.willUpdate(changed);
    if (!this.isConnected) return;
    if (!this.subscription || changed.has('apiBase') || changed.has('token') || changed.has('source')) this.start();
    else if (changed.has('showDeleted')) void this.load();
  }

  override render() {
    if (this.error) return html`<p part="error" class="error" role="alert">${this.error}</p>`;
    const flows = this.flows ?? [];
    const live = flows.filter((flow) => !flow.deleted);
    const deleted = flows.filter((flow) => flow.deleted);
    return html`<nav aria-label="Flows">
        <ul part="flows">${live.map((flow) => this.flow(flow))}</ul>
        ${this.showDeleted && deleted.length > 0
          ? html`<section part="deleted" class="deleted" aria-labelledby="deleted-title">
              <h3 id="deleted-title">Deleted flows</h3>
              <ul>${deleted.map((flow) => this.flow(flow))}</ul>
            </section>`
          : nothing}
        <div class="bar">
          <label part="deleted-toggle">
            <input type="checkbox" .checked=${this.showDeleted} @change=${(e: Event) => (this.showDeleted = (e.target as HTMLInputElement).checked)} />
            Show deleted flows
          </label>
          ${this.showDeleted && this.flows && deleted.length === 0 ? html`<span>No flow has been deleted.</span>` : nothing}
        </div>
      </nav>`;
  }

  private flow(flow: FlowSummary) {
    const last = flow.lastStatus ? STATUS[flow.lastStatus].label.toLowerCase() : undefined;
    // A deleted flow stays deleted when it runs again: say so rather than bring it back unasked.
    const ranSince = flow.deleted && flow.deletedAt && flow.lastStartedAt && flow.lastStartedAt > flow.deletedAt;
    // The visible text first (as a voice-control user would say it), then what it stands for.
    const label = `${isolate(flow.flowName)} (${flow.executionCount})${ranSince ? ' · ran again' : ''}: ${flow.executionCount} execution${flow.executionCount === 1 ? '' : 's'}${last ? `, last ${last}` : ''}${flow.deleted ? ', deleted' : ''}${ranSince ? ' since' : ''}`;
    return html`<li>
      <button
        part="flow"
        class="flow"
        data-flow=${flow.flowId}
        aria-pressed=${flow.flowId === this.selected ? 'true' : 'false'}
        aria-label=${label}
        @click=${() => this.pick(flow.flowId)}
      >
        ${isolate(flow.flowName)} <span part="count">(${flow.executionCount})</span>${ranSince ? html` · ran again` : nothing}
      </button>
    </li>`;
  }

  private pick(flowId: string) {
    this.selected = flowId;
    emit<FlowSelectDetail>(this, FLOW_SELECT_EVENT, { flowId });
  }

  private start() {
    this.stop();
    void this.load();
    this.subscription = this.data.subscribe?.('', {
      onChange: () => this.scheduleLoad(),
      // Back after a drop: counts may have moved meanwhile.
      onState: (state) => state === 'live' && this.scheduleLoad(),
      onReset: () => this.scheduleLoad(),
    }) ?? { close() {} };
  }

  private stop() {
    this.subscription?.close();
    this.subscription = undefined;
    this.request?.abort();
    clearTimeout(this.refresh);
  }

  private scheduleLoad() {
    clearTimeout(this.refresh);
    this.refresh = setTimeout(() => void this.load(), REFRESH_DEBOUNCE_MS);
  }

  private async load() {
    const source = this.data;
    if (!source.listFlows) {
      this.error = 'This source cannot list flows (it has no listFlows).';
      return;
    }
    this.request?.abort();
    const request = (this.request = new AbortController());
    try {
      this.flows = (await source.listFlows({ includeDeleted: this.showDeleted }, request.signal)).items;
      this.error = undefined;
      const first = this.flows.find((flow) => !flow.deleted);
      if (this.autoSelect && !this.selected && first) this.pick(first.flowId);
    } catch (error) {
      if (!request.signal.aborted) this.error = error instanceof Error ? error.message : 'The flows could not be loaded.';
    }
  }
}

customElements.get('flowtrace-flow-list') ?? customElements.define('flowtrace-flow-list', FlowtraceFlowList);

declare global {
  interface HTMLElementTagNameMap {
    'flowtrace-flow-list': FlowtraceFlowList;
  }
}
