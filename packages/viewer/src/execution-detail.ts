import { css, html, LitElement, nothing } from 'lit';
import { COMPARE_EVENT, emit, MORE_STEPS_EVENT, STEPS_VIEW_EVENT, type MoreStepsDetail, type SelectDetail, type StepSelectDetail, type StepsView, type StepsViewDetail } from './events.js';
import { LiveClock } from './clock.js';
import { elapsedSince, formatDuration, formatTime, isolate } from './format.js';
import './json-view.js';
import { describeNode, describeStatus, nodeDuration, runningStepOf, showsRunning, STATUS } from './status.js';
import './stack-trace.js';
import './status-dot.js';
import './execution-timeline.js';
import './execution-rerun.js';
import { depthFirst, stepTree, type StepEntry } from './step-tree.js';
import { theme } from './theme.js';
import type { ExecutionNode, ExecutionRecord } from './types.js';

/**
 * One execution in full: its parameters, its steps as a tree numbered by nesting (1, 1.1, 2) with
 * each step's input, output and the data after it, the failing step highlighted, opened and
 * scrolled into view (its stack with library frames folded), and the result. Steps still running
 * show for how long, ticking while the execution is pending. The steps can also be seen as a
 * timeline (flowtrace-execution-timeline), with the selected step's data under it; the step selected
 * there is the one opened in the tree, and the failing step is selected from the start.
 *
 * @element flowtrace-execution-detail
 * @prop record - the ExecutionRecord to show; nothing selected shows a placeholder
 * @attr loading, error
 * @attr trace-url - link template for the trace id, e.g. `http://localhost:16686/trace/{traceId}`
 * @attr steps-view - `tree` (default) or `timeline`; the reader switches with the Tree/Timeline buttons
 * @attr link - the address that opens this execution (the usage tab sets it with `url-state`); "Copy link" copies it
 * @fires flowtrace-more-steps - the reader asks for the next page of a large execution's steps
 * @fires flowtrace-compare - `{ flowId, executionId }` when the reader asks to compare this execution with another
 * @fires flowtrace-steps-view - `{ view }` when the reader switches between tree and timeline
 * @fires flowtrace-step-select - `{ executionId, nodeId }` from the timeline, when the reader selects a step
 * @fires flowtrace-rerun - from the "Re-run…" editor (flowtrace-execution-rerun): `{ flowId, executionId, params, respondWith(promise) }`, for the host app to run
 * @csspart placeholder, header, duration, summary, params, steps, node, failing, node-time, step-number, stack, toggle, folded, result, trace-link, more-steps
 * @csspart export - the "Download JSON", "Copy link", "Compare with…" and "Re-run…" buttons; copy-status - what copying did
 * @csspart rerun - the flowtrace-execution-rerun editor (its parts exported: editor, params-error, run, rerun-status)
 * @csspart steps-view - the Tree/Timeline switch
 * @csspart timeline - the flowtrace-execution-timeline (its parts exported: axis, tick, rows, row, selected, bar, bar-time)
 * @csspart selected-step - the selected step's data under the timeline
 */
export class FlowtraceExecutionDetail extends LitElement {
  static override properties = {
    record: { attribute: false },
    loading: { type: Boolean, reflect: true },
    error: {},
    traceUrl: { attribute: 'trace-url' },
    stepsView: { attribute: 'steps-view', reflect: true },
    link: {},
    copied: { state: true },
    opened: { state: true },
    selectedStep: { state: true },
    rerunOpen: { state: true },
  };

  declare record: ExecutionRecord | undefined;
  declare loading: boolean;
  declare error: string | undefined;
  declare traceUrl: string | undefined;
  /** Steps the reader opened; a closed step's body is not rendered, which keeps long executions fast. */
  declare opened: Set<string>;
  declare stepsView: StepsView;
  declare link: string | undefined;
  /** What the last "Copy link" did: copied, or the link to select by hand when the page may not write the clipboard. */
  declare copied: 'copied' | 'failed' | undefined;
  /** The step whose data the timeline shows: the failing one until the reader picks another. */
  declare selectedStep: string | undefined;
  /** The Re-run editor is open under the export bar. */
  declare rerunOpen: boolean;
  /** The record whose failing step was last scrolled to, so updates do not scroll again. */
  private scrolledFor: string | undefined;
  private readonly clock = new LiveClock(this, () => showsRunning(this.record));

  constructor() {
    super();
    this.record = undefined;
    this.loading = false;
    this.error = undefined;
    this.traceUrl = undefined;
    this.opened = new Set();
    this.stepsView = 'tree';
    this.link = undefined;
    this.copied = undefined;
    this.selectedStep = undefined;
    this.rerunOpen = false;
  }

  static override styles = [
    theme,
    css`
      :host {
        display: block;
        overflow: auto;
        padding: 1em 1.25em;
      }
      .placeholder {
        color: var(--_muted);
        text-align: center;
        padding: 3em 1em;
      }
      header {
        display: flex;
        flex-direction: column;
        gap: 0.35em;
        margin-bottom: 1em;
      }
      h2 {
        margin: 0;
        font-size: 1.15em;
        display: flex;
        gap: 0.5em;
        align-items: center;
      }
      dl {
        display: grid;
        grid-template-columns: max-content 1fr;
        gap: 0.15em 1em;
        margin: 0;
        font-size: 0.9em;
      }
      dt {
        color: var(--_muted);
      }
      dd {
        margin: 0;
        overflow-wrap: anywhere;
      }
      .mono {
        font-family: var(--_mono);
      }
      section {
        margin: 1em 0;
      }
      h3 {
        font-size: 0.95em;
        margin: 0 0 0.4em;
      }
      .export {
        margin: -0.4em 0 1em;
        display: flex;
        flex-wrap: wrap;
        gap: 0.5em;
        align-items: center;
        font-size: 0.85em;
      }
      .export button {
        padding: 0.1em 0.7em;
        border: 1px solid var(--_border);
        border-radius: var(--_radius);
        background: var(--_bg);
      }
      flowtrace-execution-rerun {
        margin: -0.4em 0 1em;
      }
      .export input {
        font: inherit;
        flex: 1;
        min-width: 12em;
      }
      .steps-title {
        display: flex;
        align-items: center;
        gap: 0.75em;
        margin-bottom: 0.4em;
      }
      .steps-title h3 {
        margin: 0;
      }
      .switch {
        display: inline-flex;
        border: 1px solid var(--_border);
        border-radius: var(--_radius);
        overflow: hidden;
      }
      .switch button {
        border: none;
        background: var(--_bg);
        padding: 0.1em 0.7em;
        font-size: 0.85em;
      }
      .switch button[aria-pressed='true'] {
        background: var(--_selected);
        font-weight: 600;
      }
      .selected-step {
        margin-top: 0.6em;
        border: 1px solid var(--_border);
        border-radius: var(--_radius);
      }
      .selected-step h4 {
        margin: 0;
        padding: 0.45em 0.7em 0;
        font-size: 0.9em;
        display: flex;
        gap: 0.5em;
        align-items: center;
      }
      .summary {
        padding: 0.6em 0.8em;
        border-radius: var(--_radius);
        background: color-mix(in srgb, var(--flowtrace-color-error, #d64545) 10%, transparent);
        border: 1px solid var(--flowtrace-color-error, #d64545);
      }
      ol {
        list-style: none;
        margin: 0;
        padding: 0;
      }
      li {
        margin: 0 0 0.4em;
      }
      /* A step's own steps sit under it, indented. */
      li > ol {
        margin: 0.4em 0 0 1.25em;
      }
      .number {
        color: var(--_muted);
        font-variant-numeric: tabular-nums;
      }
      details.node {
        border: 1px solid var(--_border);
        border-radius: var(--_radius);
        background: var(--_bg);
      }
      details.node.running {
        border-color: var(--flowtrace-color-running, #2b6cb0);
      }
      details.node.failing {
        border-color: var(--flowtrace-color-error, #d64545);
        box-shadow: 0 0 0 2px color-mix(in srgb, var(--flowtrace-color-error, #d64545) 25%, transparent);
      }
      details.node > summary {
        display: grid;
        grid-template-columns: auto auto 1fr auto;
        gap: 0.6em;
        align-items: center;
        padding: 0.45em 0.7em;
        cursor: pointer;
      }
      .kind {
        font-size: 0.75em;
        text-transform: uppercase;
        letter-spacing: 0.04em;
        color: var(--_muted);
        border: 1px solid var(--_border);
        border-radius: 999px;
        padding: 0 0.5em;
      }
      .name {
        font-weight: 600;
        overflow-wrap: anywhere;
      }
      .took {
        color: var(--_muted);
        font-size: 0.85em;
      }
      .body {
        padding: 0.5em 0.8em 0.8em;
        border-top: 1px solid var(--_border);
        display: grid;
        gap: 0.6em;
      }
      .label {
        font-size: 0.8em;
        color: var(--_muted);
        margin-bottom: 0.15em;
      }
      .error-text {
        color: var(--_error-text);
        font-weight: 600;
      }
      .cut {
        color: var(--_muted);
        font-size: 0.8em;
      }
      a {
        color: var(--_accent);
      }
    `,
  ];

  override render() {
    const record = this.record;
    if (this.error) return html`<div part="placeholder" class="placeholder" role="alert">${this.error}</div>`;
    if (!record) {
      return html`<div part="placeholder" class="placeholder" role="status">
        ${this.loading ? 'Loading the execution…' : 'Select an execution to see its parameters, steps and result.'}
      </div>`;
    }
    return html`
      ${this.header(record)}
      ${this.exportBar(record)}
      ${this.rerunOpen
        ? html`<flowtrace-execution-rerun id="rerun" part="rerun" exportparts="editor, params-error, run, rerun-status" .record=${record}></flowtrace-execution-rerun>`
        : nothing}
      ${record.errorInfo ? this.failure(record) : nothing}
      <section part="params" aria-labelledby="params-title">
        <h3 id="params-title">Initial parameters</h3>
        <flowtrace-json-view .value=${record.initialParams ?? null}></flowtrace-json-view>
      </section>
      <section part="steps" aria-labelledby="steps-title">
        <div class="steps-title">
          <h3 id="steps-title">Steps (${record.nodeCount})</h3>
          ${record.nodes.length === 0 ? nothing : this.viewSwitch()}
        </div>
        ${record.nodes.length === 0
          ? html`<p class="took">${record.status === 'pending' ? 'No step has started yet.' : 'No steps were recorded.'}</p>`
          : this.stepsView === 'timeline'
            ? this.timeline(record)
            : this.steps(record)}
        ${record.nodesNext ? this.moreSteps(record, record.nodesNext) : nothing}
      </section>
      ${record.status === 'fulfilled' || record.result !== undefined
        ? html`<section part="result" aria-labelledby="result-title">
            <h3 id="result-title">Result</h3>
            <flowtrace-json-view .value=${record.result ?? null}></flowtrace-json-view>
          </section>`
        : nothing}
    `;
  }

  private header(record: ExecutionRecord) {
    const waitingOn = record.status === 'pending' ? runningStepOf(record.nodes) : undefined;
    const facts = { ...record, errorMessage: record.errorInfo?.message, runningStep: waitingOn };
    // The role=status line is read out when it changes: it leaves the ticking time to the tooltip and Duration.
    const description = describeStatus(facts);
    const duration =
      record.status === 'pending'
        ? `running for ${elapsedSince(record.startedAt, this.clock.now)}`
        : record.durationMs !== undefined
          ? formatDuration(record.durationMs)
          : undefined;
    const link = traceLink(this.traceUrl, record.traceId);
    return html`<header part="header">
      <h2>
        <flowtrace-status-dot .status=${record.status} .description=${describeStatus(facts, this.clock.now)} show-label></flowtrace-status-dot>
        <span>${record.toolName && record.toolName !== record.flowName ? `${isolate(record.toolName)} → ${isolate(record.flowName)}` : isolate(record.flowName)}</span>
      </h2>
      <div class="took" role="status">${description}</div>
      <dl>
        <dt>Started</dt><dd>${formatTime(record.startedAt)}</dd>
        ${record.endedAt ? html`<dt>Ended</dt><dd>${formatTime(record.endedAt)}</dd>` : nothing}
        ${duration === undefined ? nothing : html`<dt>Duration</dt><dd part="duration">${duration}</dd>`}
        <dt>Execution</dt><dd class="mono">${record.id}</dd>
        <dt>Trace</dt><dd class="mono">${link
          ? html`<a part="trace-link" href=${link} target="_blank" rel="noopener noreferrer">${record.traceId}</a>`
          : record.traceId}</dd>
        <dt>Service</dt><dd>${isolate(record.serviceName)}</dd>
        ${Object.keys(record.tags).length > 0
          ? html`<dt>Tags</dt><dd><flowtrace-json-view .value=${record.tags} expand-depth="1"></flowtrace-json-view></dd>`
          : nothing}
      </dl>
    </header>`;
  }

  private exportBar(record: ExecutionRecord) {
    const link = this.link;
    return html`<div part="export" class="export">
      <button type="button" @click=${() => download(record)}>Download JSON</button>
      ${link ? html`<button type="button" @click=${() => void this.copyLink(link)}>Copy link</button>` : nothing}
      <button type="button" @click=${() => emit<SelectDetail>(this, COMPARE_EVENT, { flowId: record.flowId, executionId: record.id })}>Compare with…</button>
      <button type="button" aria-expanded=${this.rerunOpen ? 'true' : 'false'} aria-controls="rerun" @click=${() => (this.rerunOpen = !this.rerunOpen)}>Re-run…</button>
      <span part="copy-status" role="status">${this.copied === 'copied' ? 'Link copied.' : this.copied === 'failed' ? 'Copy this link:' : ''}</span>
      ${link && this.copied === 'failed' ? html`<input readonly aria-label="Link to this execution" .value=${link} @focus=${(e: Event) => (e.target as HTMLInputElement).select()} />` : nothing}
    </div>`;
  }

  private async copyLink(link: string) {
    try {
      await navigator.clipboard.writeText(link);
      this.copied = 'copied';
    } catch {
      // Not allowed here (no clipboard permission, an insecure page): the reader copies it.
      this.copied = 'failed';
      await this.updateComplete;
      this.renderRoot.querySelector<HTMLInputElement>('[part=export] input')?.focus();
    }
  }

  private failure(record: ExecutionRecord) {
    const info = record.errorInfo!;
    return html`<div part="summary" class="summary" role="alert">
      <strong>Failed at ${isolate(info.nodeName)}</strong>: <span>${isolate(info.message)}</span>
      <span class="took">(${isolate(info.type)})</span>
    </div>`;
  }

  private viewSwitch() {
    const button = (view: StepsView, label: string) =>
      html`<button type="button" aria-pressed=${this.stepsView === view ? 'true' : 'false'} @click=${() => this.switchView(view)}>${label}</button>`;
    return html`<span part="steps-view" class="switch" role="group" aria-label="Show the steps as">${button('tree', 'Tree')}${button('timeline', 'Timeline')}</span>`;
  }

  private switchView(view: StepsView) {
    if (view === this.stepsView) return;
    this.stepsView = view;
    emit<StepsViewDetail>(this, STEPS_VIEW_EVENT, { view });
  }

  private steps(record: ExecutionRecord) {
    const tree = stepTree(record.nodes);
    const failingId = record.errorInfo?.nodeId;
    return this.stepList(tree, dataAfter(tree, (id) => id === failingId || this.opened.has(id)), failingId);
  }

  /** The timeline, and under it the selected step's data as the tree shows it when opened. */
  private timeline(record: ExecutionRecord) {
    const selected = this.selectedStep;
    const after = selected === undefined ? undefined : dataAfter(stepTree(record.nodes), (id) => id === selected);
    const node = selected === undefined ? undefined : record.nodes.find((each) => each.id === selected);
    const now = this.clock.now;
    return html`<flowtrace-execution-timeline
        part="timeline"
        exportparts="axis, tick, rows, row, selected, bar, bar-time, failing, step-number"
        .record=${record}
        .selectedId=${selected}
        @flowtrace-step-select=${this.onStepSelect}
      ></flowtrace-execution-timeline>
      ${node && after?.has(node.id)
        ? html`<div part="selected-step" class="selected-step" role="region" aria-label="Selected step">
            <h4>
              <flowtrace-status-dot .status=${node.status} .description=${describeNode(node, now)}></flowtrace-status-dot>
              <span>${isolate(node.name)}</span>
            </h4>
            <div class="body">${this.nodeBody(node, after.get(node.id)!, stepTime(node, now))}</div>
          </div>`
        : html`<p class="took">Select a step to see its data.</p>`}`;
  }

  /** A step picked on the timeline is also the one opened in the tree. */
  private onStepSelect = (event: CustomEvent<StepSelectDetail>) => {
    this.selectedStep = event.detail.nodeId;
    if (!this.opened.has(event.detail.nodeId)) this.opened = new Set(this.opened).add(event.detail.nodeId);
  };

  /** One level of the tree: a nested list, so assistive tech tells its depth too. */
  private stepList(entries: readonly StepEntry[], after: Map<string, Record<string, unknown>>, failingId: string | undefined): unknown {
    const now = this.clock.now;
    return html`<ol>${entries.map(({ node, number, children }) => {
      const failing = node.id === failingId;
      const open = after.has(node.id);
      const took = nodeDuration(node);
      const label = STATUS[node.status]?.label ?? node.status;
      return html`<li>
        <details
          class="node ${node.status} ${failing ? 'failing' : ''}"
          part=${failing ? 'node failing' : 'node'}
          ?open=${open}
          data-node-id=${node.id}
          data-status=${node.status}
          @toggle=${(event: Event) => this.toggle(node.id, (event.target as HTMLDetailsElement).open)}
        >
          <summary>
            <flowtrace-status-dot .status=${node.status} .description=${describeNode(node, now)}></flowtrace-status-dot>
            <span class="kind">${node.kind}</span>
            <span class="name"><span part="step-number" class="number">${number}</span> ${isolate(node.name)}</span>
            <span class="took" part="node-time">${node.status === 'running' ? `${label} for ${elapsedSince(node.startedAt, now)}` : took ? `${label} · ${took}` : label}</span>
          </summary>
          ${open ? html`<div class="body">${this.nodeBody(node, after.get(node.id)!, stepTime(node, now))}</div>` : nothing}
        </details>
        ${children.length > 0 ? this.stepList(children, after, failingId) : nothing}
      </li>`;
    })}</ol>`;
  }

  /** A large execution comes a page of steps at a time: the reader asks for the next. */
  private moreSteps(record: ExecutionRecord, cursor: string) {
    return html`<p part="more-steps" class="took">
      Showing ${record.nodes.length} of ${record.nodeCount} steps.
      <button type="button" ?disabled=${this.loading} @click=${() => emit<MoreStepsDetail>(this, MORE_STEPS_EVENT, { executionId: record.id, cursor })}>
        Load ${Math.min(1000, record.nodeCount - record.nodes.length)} more steps
      </button>
    </p>`;
  }

  private toggle(id: string, open: boolean) {
    // The step last opened in the tree is the one the timeline selects.
    if (open) this.selectedStep = id;
    if (open === this.opened.has(id)) return;
    const next = new Set(this.opened);
    if (open) next.add(id);
    else next.delete(id);
    this.opened = next;
  }

  private nodeBody(node: ExecutionNode, after: Record<string, unknown>, time: string | undefined) {
    // time: "running for 12 s" or "took 40 ms"; nothing when the end is unknown.
    return html`
      ${node.error
        ? html`<div>
            <div class="label">Error</div>
            <div class="error-text">${isolate(node.error.type)}: ${isolate(node.error.message)}</div>
            ${node.error.stack ? html`<flowtrace-stack-trace exportparts="stack, toggle, folded" .stack=${node.error.stack}></flowtrace-stack-trace>` : nothing}
          </div>`
        : nothing}
      ${node.input !== undefined ? this.value('Input', node.input, node.inputTruncated) : nothing}
      ${node.output !== undefined ? this.value('Output', node.output, node.outputTruncated) : nothing}
      <div>
        <div class="label">${node.status === 'running' ? 'Data so far' : 'Data after this step'}</div>
        <flowtrace-json-view .value=${after} expand-depth="1"></flowtrace-json-view>
      </div>
      <div class="took">Started ${formatTime(node.startedAt)}${time ? `, ${time}` : ''}</div>
    `;
  }

  private value(label: string, value: unknown, truncated: true | undefined) {
    return html`<div>
      <div class="label">${label}${truncated ? html` <span class="cut">(cut to the tracer's size limit)</span>` : nothing}</div>
      <flowtrace-json-view .value=${value}></flowtrace-json-view>
    </div>`;
  }

  override willUpdate(changed: Map<string, unknown>) {
    const previous = changed.get('record') as ExecutionRecord | undefined;
    if (changed.has('record') && previous?.id !== this.record?.id) {
      this.opened = new Set();
      this.copied = undefined;
      this.rerunOpen = false;
      this.selectedStep = this.record?.errorInfo?.nodeId;
    }
  }

  override updated() {
    const record = this.record;
    const failingId = record?.errorInfo?.nodeId;
    if (!record || !failingId || this.scrolledFor === record.id) return;
    const node = this.renderRoot.querySelector(`[data-node-id="${CSS.escape(failingId)}"]`);
    if (!node) return;
    this.scrolledFor = record.id;
    node.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  }
}

customElements.get('flowtrace-execution-detail') ?? customElements.define('flowtrace-execution-detail', FlowtraceExecutionDetail);

declare global {
  interface HTMLElementTagNameMap {
    'flowtrace-execution-detail': FlowtraceExecutionDetail;
  }
}

/**
 * Saves the record as `execution-<id>.json`: the record as the source returned it (with the steps
 * of any further pages the reader loaded), as JSON.
 */
function download(record: ExecutionRecord) {
  const url = URL.createObjectURL(new Blob([JSON.stringify(record, null, 2)], { type: 'application/json' }));
  const anchor = document.createElement('a');
  anchor.href = url;
  anchor.download = `execution-${record.id}.json`;
  anchor.click();
  // Some browsers read the blob after click() returns: free it once the download surely has it.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** "running for 12 s" or "took 40 ms"; undefined when the end is unknown. */
function stepTime(node: ExecutionNode, now: number): string | undefined {
  if (node.status === 'running') return `running for ${elapsedSince(node.startedAt, now)}`;
  const took = nodeDuration(node);
  return took && `took ${took}`;
}

/**
 * The data after each wanted step, in the order the steps ran: the steps before it fill the
 * data's keys with their outputs (a running step has produced nothing yet).
 */
function dataAfter(tree: readonly StepEntry[], wanted: (id: string) => boolean): Map<string, Record<string, unknown>> {
  const data: Record<string, unknown> = {};
  const after = new Map<string, Record<string, unknown>>();
  for (const { node } of depthFirst(tree)) {
    if (node.dataKey !== null && node.status !== 'running') data[node.dataKey] = node.output;
    if (wanted(node.id)) after.set(node.id, { ...data });
  }
  return after;
}

/** The trace link of a template such as `http://localhost:16686/trace/{traceId}`; only web addresses become links. */
function traceLink(template: string | undefined, traceId: string): string | undefined {
  if (!template) return undefined;
  try {
    const url = new URL(template.replace('{traceId}', encodeURIComponent(traceId)), location.href);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : undefined;
  } catch {
    return undefined;
  }
}
