import { css, html, LitElement, nothing } from 'lit';
import { LiveClock } from './clock.js';
import { elapsedSince, formatDuration, formatTime, isolate } from './format.js';
import { describeStatus, stepPhrase } from './status.js';
import './status-dot.js';
import { theme } from './theme.js';
import type { ExecutionListItem } from './types.js';

/**
 * One row of the list: status, start time, duration (running time while pending) and the
 * first parameter; while pending, the step it waits on and for how long. The list gives it the
 * `option` role and moves focus between rows. Running times tick while the row is pending.
 *
 * @element flowtrace-execution-item
 * @prop item - the ExecutionListItem
 * @attr selected - the row whose details are shown
 * @csspart row - the whole row
 * @csspart preview - the first-parameter preview
 * @csspart time - the start time
 * @csspart waiting - "waiting on step reserve for 12 s" while a step runs
 * @csspart duration - the duration or running time
 */
export class FlowtraceExecutionItem extends LitElement {
  static override properties = {
    item: { attribute: false },
    selected: { type: Boolean, reflect: true },
    showTip: { state: true },
  };

  declare item: ExecutionListItem | undefined;
  declare selected: boolean;
  declare showTip: boolean;
  private readonly clock = new LiveClock(this, () => this.item?.status === 'pending');

  constructor() {
    super();
    this.item = undefined;
    this.selected = false;
    this.showTip = false;
    // Open while the pointer is on the row or keyboard focus is; focus left by a click does not
    // count, or the tooltip of the row just opened would stay after the pointer moved on.
    const update = () => (this.showTip = this.matches(':hover') || this.matches(':focus-visible'));
    this.addEventListener('focus', update);
    this.addEventListener('mouseenter', () => (this.showTip = true));
    this.addEventListener('blur', () => (this.showTip = this.matches(':hover')));
    this.addEventListener('mouseleave', () => (this.showTip = this.matches(':focus-visible')));
    this.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') this.showTip = false;
    });
  }

  static override styles = [
    theme,
    css`
      :host {
        display: block;
        border-bottom: 1px solid var(--_border);
        cursor: pointer;
        outline: none;
      }
      :host(:hover) .row {
        background: var(--_surface);
      }
      :host([selected]) .row {
        background: var(--_selected);
        box-shadow: inset 3px 0 0 var(--_accent);
      }
      :host(:focus-visible) .row {
        outline: 2px solid var(--_accent);
        outline-offset: -2px;
      }
      .row {
        display: grid;
        grid-template-columns: auto 1fr auto;
        gap: 0.3em 0.75em;
        align-items: center;
        padding: 0.6em 0.75em;
      }
      .main {
        min-width: 0;
        display: flex;
        flex-direction: column;
      }
      .preview {
        overflow: hidden;
        white-space: nowrap;
        text-overflow: ellipsis;
        font-family: var(--_mono);
        font-size: 0.92em;
      }
      .time,
      .duration {
        color: var(--_muted);
        font-size: 0.85em;
        white-space: nowrap;
      }
      .running {
        color: var(--flowtrace-color-pending, #e8890c);
      }
      .waiting {
        color: var(--_muted);
        font-size: 0.85em;
        overflow: hidden;
        white-space: nowrap;
        text-overflow: ellipsis;
      }
    `,
  ];

  /**
   * The sentence assistive tech reads for the row. It leaves the running time out: a label that
   * changed every second would be read again and again.
   */
  get description(): string {
    return this.item ? describeStatus(this.item) : '';
  }

  override render() {
    const item = this.item;
    if (!item) return html``;
    const pending = item.status === 'pending';
    const now = this.clock.now;
    const duration = pending
      ? `running ${elapsedSince(item.startedAt, now)}`
      : item.durationMs === undefined
        ? ''
        : formatDuration(item.durationMs);
    const step = pending ? item.runningStep : undefined;
    return html`<div part="row" class="row">
      <flowtrace-status-dot tip="beside" labelled .status=${item.status} .description=${describeStatus(item, now)} ?open=${this.showTip}></flowtrace-status-dot>
      <div class="main">
        <span part="preview" class="preview" title=${isolate(item.preview)}>${isolate(item.preview) || '(no parameters)'}</span>
        ${step
          ? html`<span part="waiting" class="waiting" aria-hidden="true">waiting on ${stepPhrase(step.name)} for ${elapsedSince(step.startedAt, now)}</span>`
          : nothing}
        <span part="time" class="time">${formatTime(item.startedAt)}</span>
      </div>
      <span part="duration" class="duration ${pending ? 'running' : ''}" aria-hidden=${pending ? 'true' : 'false'}>${duration}</span>
    </div>`;
  }

  override updated() {
    const item = this.item;
    if (!item) return;
    // The visible text first (as a voice-control user would say it), then the status in words;
    // the running times are left out (they are aria-hidden) so the label does not change each second.
    const duration = item.status === 'pending' || item.durationMs === undefined ? '' : ` ${formatDuration(item.durationMs)}`;
    this.setAttribute('aria-label', `${isolate(item.preview) || '(no parameters)'} ${formatTime(item.startedAt)}${duration}. ${this.description}`);
    this.setAttribute('data-status', item.status);
    this.setAttribute('data-id', item.id);
  }
}

customElements.get('flowtrace-execution-item') ?? customElements.define('flowtrace-execution-item', FlowtraceExecutionItem);

declare global {
  interface HTMLElementTagNameMap {
    'flowtrace-execution-item': FlowtraceExecutionItem;
  }
}
