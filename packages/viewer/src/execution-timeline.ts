import { css, html, LitElement, nothing, type PropertyValues } from 'lit';
import { LiveClock } from './clock.js';
import { emit, STEP_SELECT_EVENT, type StepSelectDetail } from './events.js';
import { elapsedSince, formatDuration, isolate } from './format.js';
import { describeNode, nodeDuration, showsRunning, STATUS } from './status.js';
import './status-dot.js';
import { stepTree, type StepEntry } from './step-tree.js';
import { theme } from './theme.js';
import type { ExecutionNode, ExecutionRecord } from './types.js';

/** Every row is this tall, so which rows are on screen is arithmetic on the scroll position. */
const ROW_PX = 26;
/** Rows rendered above and below the visible ones, so a quick scroll does not show blanks. */
const OVERSCAN = 8;
/** Rows assumed visible before the viewport has been measured. */
const FIRST_SCREEN = 30;
/** Rows a Page Up / Page Down moves. */
const PAGE_ROWS = 10;

/** A step as the timeline draws it: its place in the tree and its times (ms since the epoch). */
export interface TimelineRow {
  node: ExecutionNode;
  number: string;
  level: number;
  /** How many siblings it has, and which of them it is (from 1), for assistive tech. */
  setSize: number;
  position: number;
  /** The row index of its parent, -1 at the top level. */
  parent: number;
  start: number;
  /** Undefined while the step runs: it ends at the clock's now. */
  end: number | undefined;
}

/** The steps depth first, each with its level, siblings and times. */
export function timelineRows(entries: readonly StepEntry[]): TimelineRow[] {
  const rows: TimelineRow[] = [];
  type Pending = { entry: StepEntry; level: number; parent: number; setSize: number; position: number };
  const visit = (children: readonly StepEntry[], level: number, parent: number): Pending[] =>
    children.map((entry, i) => ({ entry, level, parent, setSize: children.length, position: i + 1 })).reverse();
  // Iterative: an execution may nest thousands of steps deep.
  const stack = visit(entries, 1, -1);
  while (stack.length > 0) {
    const { entry, level, parent, setSize, position } = stack.pop()!;
    const { node } = entry;
    const start = Date.parse(node.startedAt);
    rows.push({ node, number: entry.number, level, setSize, position, parent, start, end: stepEnd(node, start) });
    stack.push(...visit(entry.children, level + 1, rows.length - 1));
  }
  return rows;
}

function stepEnd(node: ExecutionNode, start: number): number | undefined {
  if (node.status === 'running') return undefined;
  if (node.durationMs !== undefined) return start + node.durationMs;
  // An end never recorded (an old or interrupted record): a bar of no length at its start.
  return node.endedAt ? Date.parse(node.endedAt) : start;
}

/**
 * An execution's steps as a waterfall: one bar per step on a time axis from the execution's
 * start, each step under its parent (indented), so parallel steps overlap visibly. Status shows
 * as colour and symbol, each bar is labelled with its duration, running steps grow with the
 * page-wide clock, and the failing step is outlined. Only the rows on screen are rendered, so
 * an execution of 10,000 steps opens as fast as one of 30.
 *
 * A tree of rows for assistive tech: arrow keys move (and select), Left goes to the parent,
 * Right to the first child, Home/End/Page Up/Page Down jump; a click selects too.
 *
 * @element flowtrace-execution-timeline
 * @prop record - the ExecutionRecord whose steps to draw
 * @attr selected-id - the selected step's id
 * @fires flowtrace-step-select - `{ executionId, nodeId }` when the reader selects a step
 * @csspart axis, tick, rows, row, selected, failing, bar, bar-time, step-number
 * @cssprop --flowtrace-timeline-height - the rows' height before they scroll (default 22em)
 * @cssprop --flowtrace-timeline-label-width - the names' column (default 16em)
 */
export class FlowtraceExecutionTimeline extends LitElement {
  static override properties = {
    record: { attribute: false },
    selectedId: { attribute: 'selected-id', reflect: true },
    scrolled: { state: true },
    visibleRows: { state: true },
  };

  declare record: ExecutionRecord | undefined;
  declare selectedId: string | undefined;
  /** The viewport's scroll position and how many rows fit in it. */
  declare scrolled: number;
  declare visibleRows: number;

  private rowsFor: { nodes: readonly ExecutionNode[]; rows: TimelineRow[]; index: Map<string, number> } | undefined;
  private resizer: ResizeObserver | undefined;
  /** Focus the selected row once rendered: the keyboard moved to it. */
  private focusPending = false;
  private readonly clock = new LiveClock(this, () => showsRunning(this.record));

  constructor() {
    super();
    this.record = undefined;
    this.selectedId = undefined;
    this.scrolled = 0;
    this.visibleRows = FIRST_SCREEN;
  }

  static override styles = [
    theme,
    css`
      :host {
        display: block;
        --_label: var(--flowtrace-timeline-label-width, 16em);
      }
      .axis,
      .row {
        display: grid;
        grid-template-columns: var(--_label) 1fr;
      }
      .axis {
        height: 1.1em;
        color: var(--_muted);
        border-bottom: 1px solid var(--_border);
      }
      .ticks,
      .track {
        position: relative;
        /* Room for a duration label past either end; the same for the axis and the bars. */
        margin: 0 48px 0 8px;
      }
      .tick {
        position: absolute;
        font-size: 0.75em;
        transform: translateX(-50%);
        white-space: nowrap;
      }
      .tick:first-child {
        transform: none;
      }
      .viewport {
        position: relative;
        overflow-y: auto;
        max-height: var(--flowtrace-timeline-height, 22em);
      }
      .row {
        position: absolute;
        left: 0;
        right: 0;
        height: ${ROW_PX}px;
        align-items: center;
        cursor: pointer;
        border-radius: var(--_radius);
      }
      .row:hover {
        background: var(--_surface);
      }
      .row[aria-selected='true'] {
        background: var(--_selected);
      }
      .row:focus-visible {
        outline-offset: -2px;
      }
      .label {
        display: flex;
        align-items: center;
        gap: 0.4em;
        min-width: 0;
        white-space: nowrap;
        overflow: hidden;
        text-overflow: ellipsis;
        font-size: 0.9em;
      }
      .label .name {
        overflow: hidden;
        text-overflow: ellipsis;
      }
      .spoken {
        position: absolute;
        width: 1px;
        height: 1px;
        overflow: hidden;
        clip-path: inset(50%);
        white-space: nowrap;
      }
      .number {
        color: var(--_muted);
        font-variant-numeric: tabular-nums;
      }
      .track {
        height: 100%;
        /* A faint line per quarter of the axis. */
        background: repeating-linear-gradient(to right, var(--_border) 0 1px, transparent 1px 25%);
      }
      .bar {
        position: absolute;
        top: 6px;
        bottom: 6px;
        min-width: 2px;
        border-radius: 3px;
      }
      .running .bar {
        /* Still growing: the open end fades. */
        mask-image: linear-gradient(to right, #000 70%, rgb(0 0 0 / 0.45));
      }
      .failing .bar {
        outline: 2px solid var(--flowtrace-color-error, #d64545);
        outline-offset: 1px;
      }
      .failing .name {
        color: var(--_error-text);
        font-weight: 600;
      }
      .time {
        position: absolute;
        top: 50%;
        transform: translateY(-50%);
        font-size: 0.75em;
        color: var(--_muted);
        white-space: nowrap;
        font-variant-numeric: tabular-nums;
      }
    `,
  ];

  /** The rows drawn: recomputed only when the record's steps change. */
  get rows(): TimelineRow[] {
    const nodes = this.record?.nodes ?? [];
    if (this.rowsFor?.nodes !== nodes) {
      const rows = timelineRows(stepTree(nodes));
      this.rowsFor = { nodes, rows, index: new Map(rows.map((row, i) => [row.node.id, i])) };
    }
    return this.rowsFor.rows;
  }

  private indexOf(id: string | undefined): number {
    if (id === undefined) return -1;
    void this.rows;
    return this.rowsFor!.index.get(id) ?? -1;
  }

  override connectedCallback() {
    super.connectedCallback();
    this.resizer = new ResizeObserver(([entry]) => {
      this.visibleRows = Math.max(1, Math.ceil((entry?.contentRect.height ?? 0) / ROW_PX));
    });
    if (this.hasUpdated) this.observe();
  }

  override disconnectedCallback() {
    super.disconnectedCallback();
    this.resizer?.disconnect();
  }

  private observe() {
    const viewport = this.renderRoot.querySelector('.viewport');
    if (viewport) this.resizer?.observe(viewport);
  }

  override render() {
    const record = this.record;
    if (!record) return nothing;
    const rows = this.rows;
    const now = this.clock.now;
    const origin = Date.parse(record.startedAt);
    const span = Math.max(1, spanEnd(record, rows, now) - origin);
    const first = Math.max(0, Math.floor(this.scrolled / ROW_PX) - OVERSCAN);
    const last = Math.min(rows.length, Math.ceil(this.scrolled / ROW_PX) + this.visibleRows + OVERSCAN);
    const selected = this.indexOf(this.selectedId);
    // The row Tab lands on: the selected one when it is drawn, else the first drawn.
    const tabbable = selected >= first && selected < last ? selected : first;
    const failingId = record.errorInfo?.nodeId;
    const drawn = [];
    for (let i = first; i < last; i++) drawn.push(this.row(rows[i]!, i, { origin, span, now, tabbable, selected, failingId }));
    return html`
      <div part="axis" class="axis" aria-hidden="true">
        <span></span>
        <div class="ticks">${[0, 0.25, 0.5, 0.75, 1].map(
          (at) => html`<span part="tick" class="tick" style="left:${at * 100}%">${at === 0 ? '0' : formatDuration(span * at)}</span>`,
        )}</div>
      </div>
      <div
        part="rows"
        class="viewport"
        role="tree"
        aria-label="Steps on a time line"
        @scroll=${this.onScroll}
        @keydown=${this.onKey}
        @click=${this.onClick}
      >
        <div style="height:${rows.length * ROW_PX}px">${drawn}</div>
      </div>
    `;
  }

  private row(
    row: TimelineRow,
    i: number,
    at: { origin: number; span: number; now: number; tabbable: number; selected: number; failingId: string | undefined },
  ) {
    const { node } = row;
    const end = row.end ?? at.now;
    const left = (Math.max(0, row.start - at.origin) / at.span) * 100;
    const width = (Math.max(0, end - row.start) / at.span) * 100;
    const running = node.status === 'running';
    const time = running ? `running for ${elapsedSince(node.startedAt, at.now)}` : (nodeDuration(node) ?? '');
    const failing = node.id === at.failingId;
    const isSelected = i === at.selected;
    // Said, not shown: the dot and the outline show it.
    const status = `${STATUS[node.status]?.label ?? node.status}${failing ? ', failing step' : ''}`;
    // The time goes after the bar, or before it when the bar ends near the right edge.
    const timeStyle = left + width > 75 ? `right:calc(${100 - left}% + 4px)` : `left:calc(${left + width}% + 4px)`;
    return html`<div
      part=${['row', isSelected ? 'selected' : '', failing ? 'failing' : ''].filter(Boolean).join(' ')}
      class="row ${node.status} ${failing ? 'failing' : ''}"
      role="treeitem"
      style="top:${i * ROW_PX}px"
      tabindex=${i === at.tabbable ? '0' : '-1'}
      aria-level=${row.level}
      aria-setsize=${row.setSize}
      aria-posinset=${row.position}
      aria-selected=${isSelected ? 'true' : 'false'}
      data-index=${i}
      data-node-id=${node.id}
      data-status=${node.status}
    >
      <span class="label" style="padding-left:${(row.level - 1) * 0.9}em">
        <flowtrace-status-dot .status=${node.status} .description=${describeNode(node, at.now)} tip="beside" labelled></flowtrace-status-dot>
        <span part="step-number" class="number">${row.number}</span>
        <span class="name">${isolate(node.name)}</span>
        <span class="spoken">${status}</span>
      </span>
      <span class="track">
        <span part="bar" class="bar" style="left:${left}%;width:${width}%;background:${STATUS[node.status]?.color ?? STATUS.pending.color}"></span>
        <span part="bar-time" class="time" style=${timeStyle}>${time}</span>
      </span>
    </div>`;
  }

  protected override willUpdate(changed: PropertyValues<this>) {
    const previous = changed.get('record') as ExecutionRecord | undefined;
    // Another execution: start at the top, or at its selected (failing) step.
    if (changed.has('record') && previous?.id !== this.record?.id) this.reveal(this.indexOf(this.selectedId), 'center');
  }

  protected override firstUpdated() {
    this.observe();
  }

  protected override updated() {
    const viewport = this.renderRoot.querySelector<HTMLElement>('.viewport');
    if (viewport && viewport.scrollTop !== this.scrolled) viewport.scrollTop = this.scrolled;
    if (this.focusPending) {
      this.focusPending = false;
      this.renderRoot.querySelector<HTMLElement>('[aria-selected=true]')?.focus({ preventScroll: true });
    }
  }

  /** Scrolls so row `index` is in view (`center` puts it mid-screen). */
  private reveal(index: number, where: 'nearest' | 'center' = 'nearest') {
    if (index < 0) {
      this.scrolled = 0;
      return;
    }
    const height = this.visibleRows * ROW_PX;
    const top = index * ROW_PX;
    if (where === 'center') this.scrolled = Math.max(0, top - height / 2);
    else if (top < this.scrolled) this.scrolled = top;
    else if (top + ROW_PX > this.scrolled + height) this.scrolled = top + ROW_PX - height;
  }

  private onScroll(event: Event) {
    this.scrolled = (event.target as HTMLElement).scrollTop;
  }

  private onClick(event: Event) {
    const row = (event.target as Element).closest<HTMLElement>('[role=treeitem]');
    if (row) this.select(Number(row.dataset.index), false);
  }

  private onKey(event: KeyboardEvent) {
    const rows = this.rows;
    if (rows.length === 0) return;
    // Nothing selected yet: the first key selects the first row.
    const current = this.indexOf(this.selectedId);
    const row = rows[Math.max(0, current)]!;
    const targets: Record<string, number> = {
      ArrowDown: current + 1,
      ArrowUp: current - 1,
      Home: 0,
      End: rows.length - 1,
      PageDown: current + PAGE_ROWS,
      PageUp: current - PAGE_ROWS,
      // Left: to the parent; Right: to the first child (it follows its parent), else nowhere.
      ArrowLeft: row.parent >= 0 ? row.parent : current,
      ArrowRight: rows[current + 1]?.parent === current ? current + 1 : current,
      Enter: Math.max(0, current),
      ' ': Math.max(0, current),
    };
    const target = targets[event.key];
    if (target === undefined) return;
    event.preventDefault();
    this.select(Math.max(0, Math.min(rows.length - 1, target)), true);
  }

  private select(index: number, fromKeyboard: boolean) {
    const node = this.rows[index]?.node;
    if (!node || !this.record) return;
    this.focusPending = fromKeyboard;
    this.reveal(index);
    if (node.id === this.selectedId) {
      this.requestUpdate();
      return;
    }
    this.selectedId = node.id;
    emit<StepSelectDetail>(this, STEP_SELECT_EVENT, { executionId: this.record.id, nodeId: node.id });
  }
}

/** Where the axis ends: the execution's end (now while it runs), or a later step's end. */
function spanEnd(record: ExecutionRecord, rows: readonly TimelineRow[], now: number): number {
  let end = record.status === 'pending' ? now : record.endedAt ? Date.parse(record.endedAt) : Date.parse(record.startedAt);
  for (const row of rows) end = Math.max(end, row.end ?? now);
  return end;
}

customElements.get('flowtrace-execution-timeline') ?? customElements.define('flowtrace-execution-timeline', FlowtraceExecutionTimeline);

declare global {
  interface HTMLElementTagNameMap {
    'flowtrace-execution-timeline': FlowtraceExecutionTimeline;
  }
}
